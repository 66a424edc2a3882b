"""Human approval of exactly one plan (FAILOVER_MODE=approve).

The plan digest is SHA-256 over the incident key and the sorted (kind, id, client token) of the
targets to fail over. An approval is an HMAC-SHA256 (key FAILOVER_APPROVAL_SECRET) over the incident
key, that digest, the approver, the expiry (epoch seconds, at most an hour ahead) and the target list.
It carries the targets it approves, so the executor runs exactly those: a target the current plan has
and the approval lacks is held for a new approval; one the approval names and the plan no longer
offers (gone, or already failed over) is reported, not run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from replica_failover.redact import register

MAX_TTL_SECONDS: Final = 3600
MAX_TARGETS: Final = 10_000
_ID: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class ApprovalError(ValueError):
    """An approval that must not be honoured; ``reason`` is a stable code for logs and alerts."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}")


class ApprovedTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["pair", "group"]
    id: str = Field(pattern=_ID)
    client_token: str = Field(pattern=_ID)

    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.id, self.client_token)


class Approval(BaseModel):
    """A signed approval, as the approve command prints it and the manual event carries it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    incident_key: str = Field(min_length=1, max_length=128)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    approver: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
    expires_at: int = Field(ge=0)
    targets: tuple[ApprovedTarget, ...] = Field(min_length=1, max_length=MAX_TARGETS)
    signature: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApprovalCheck(BaseModel):
    """What a valid approval lets the executor do against the current plan."""

    model_config = ConfigDict(frozen=True)
    approver: str
    run: tuple[ApprovedTarget, ...]
    """Approved and still in the plan, with the approved client token: run these."""
    held: tuple[ApprovedTarget, ...]
    """In the plan but not approved (new, or a changed token): wait for a new approval."""
    vanished: tuple[ApprovedTarget, ...]
    """Approved but no longer in the plan (gone, or already failed over): report them."""


class _PlanItem(Protocol):
    @property
    def kind(self) -> Literal["pair", "group"]: ...
    @property
    def id(self) -> str: ...
    @property
    def client_token(self) -> str | None: ...
    @property
    def decision(self) -> str: ...


def plan_targets(items: Iterable[_PlanItem]) -> tuple[ApprovedTarget, ...]:
    """The targets a plan would fail over (``decision == "failover"``), as approvals name them."""
    return tuple(
        ApprovedTarget(kind=i.kind, id=i.id, client_token=i.client_token)
        for i in items
        if i.decision == "failover" and i.client_token
    )


def target_arg(targets: Iterable[ApprovedTarget]) -> str:
    """``kind:id:client_token,...``: the approve command's ``--targets`` value."""
    return ",".join(":".join(k) for k in _sorted(targets))


def _sorted(targets: Iterable[ApprovedTarget]) -> list[tuple[str, str, str]]:
    return sorted({t.key() for t in targets})


def plan_digest(incident_key: str, targets: Iterable[ApprovedTarget]) -> str:
    """64 hex chars; independent of target order and duplicates."""
    blob = json.dumps([incident_key, _sorted(targets)], separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


def _mac(
    secret: str, incident_key: str, digest: str, approver: str, expires_at: int, targets: Iterable[ApprovedTarget]
) -> str:
    blob = json.dumps(
        [incident_key, digest, approver, expires_at, _sorted(targets)], separators=(",", ":"), ensure_ascii=True
    )
    return hmac.new(secret.encode("utf-8"), blob.encode("ascii"), hashlib.sha256).hexdigest()


def _check_secret(secret: str | None) -> str:
    if not secret or len(secret) < 16:
        raise ApprovalError("no-secret", "FAILOVER_APPROVAL_SECRET is unset or shorter than 16 characters")
    register(secret)
    return secret


def sign(
    secret: str,
    *,
    incident_key: str,
    digest: str,
    approver: str,
    targets: Iterable[ApprovedTarget],
    now: float,
    ttl_seconds: int = 900,
) -> Approval:
    """Approve ``targets`` for ``incident_key``; ``digest`` must be the plan digest of exactly them."""
    key = _check_secret(secret)
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ApprovalError("bad-ttl", f"the approval lifetime must be 1..{MAX_TTL_SECONDS} seconds")
    chosen = tuple(ApprovedTarget(kind=k, id=i, client_token=c) for k, i, c in _sorted(targets))
    if not chosen:
        raise ApprovalError("no-targets", "an approval names at least one target")
    if not hmac.compare_digest(plan_digest(incident_key, chosen), digest):
        raise ApprovalError("digest-mismatch", "the digest is not the plan digest of these targets for this incident")
    expires_at = int(now) + ttl_seconds
    return Approval(
        incident_key=incident_key,
        digest=digest,
        approver=approver,
        expires_at=expires_at,
        targets=chosen,
        signature=_mac(key, incident_key, digest, approver, expires_at, chosen),
    )


def verify(
    secret: str | None,
    approval: Approval,
    *,
    incident_key: str,
    plan_targets: Iterable[ApprovedTarget],
    now: float,
) -> ApprovalCheck:
    """Check ``approval`` for this incident against the current plan; raises :class:`ApprovalError`."""
    key = _check_secret(secret)
    expected = _mac(
        key, approval.incident_key, approval.digest, approval.approver, approval.expires_at, approval.targets
    )
    if not hmac.compare_digest(expected, approval.signature):
        raise ApprovalError("bad-signature", "the approval's signature does not match its content")
    if not hmac.compare_digest(approval.incident_key.encode(), incident_key.encode()):
        raise ApprovalError("other-incident", "the approval is for another incident")
    if not hmac.compare_digest(plan_digest(approval.incident_key, approval.targets), approval.digest):
        raise ApprovalError("digest-mismatch", "the approval's targets do not match its plan digest")
    if approval.expires_at <= now:
        raise ApprovalError("expired", f"the approval expired {int(now - approval.expires_at)} s ago")
    if approval.expires_at > now + MAX_TTL_SECONDS:
        raise ApprovalError("bad-ttl", f"the approval claims to last more than {MAX_TTL_SECONDS} s")
    approved = {t.key(): t for t in approval.targets}
    current = {t.key(): t for t in plan_targets}
    return ApprovalCheck(
        approver=approval.approver,
        run=tuple(approved[k] for k in sorted(approved.keys() & current.keys())),
        held=tuple(current[k] for k in sorted(current.keys() - approved.keys())),
        vanished=tuple(approved[k] for k in sorted(approved.keys() - current.keys())),
    )
