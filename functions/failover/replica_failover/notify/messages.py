"""What is said, and when: on hold (the policy did not confirm, or an approval is needed), on act,
on the result, and on a permanent failure. Each message has a title, a markdown text and the same
facts as a structured object. Everything passes through the redactor: no secret is ever sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from replica_failover.redact import redact, redact_text

Kind = Literal["hold", "act", "result", "failure"]
MAX_NAMED = 20  # failures named one by one; the rest are counted


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Kind
    title: str
    text: str
    data: dict[str, Any]


def _make(kind: Kind, title: str, lines: Sequence[str], data: dict[str, Any]) -> Message:
    return Message(
        kind=kind,
        title=redact_text(title),
        text=redact_text("\n\n".join(lines)),
        data=redact({"kind": kind, **data}),
    )


def _evidence_lines(terms: Mapping[str, str]) -> list[str]:
    if not terms:
        return []
    return ["Evidence: " + ", ".join(f"`{k}`={v}" for k, v in terms.items())]


def hold(
    *,
    incident_key: str,
    primary_region: str | None,
    policy: str,
    reason: str,
    terms: Mapping[str, str],
    approval_digest: str | None = None,
    targets: Sequence[str] = (),
) -> Message:
    """Nothing was failed over: the policy did not confirm, or (``approval_digest``) a human must approve
    ``targets`` (``kind:id:client_token`` each, as the approve command takes them)."""
    region = primary_region or "unknown region"
    lines = [f"### Failover held: {region}", f"Incident `{incident_key}`", f"Policy `{policy}`: {reason}"]
    lines += _evidence_lines(terms)
    if approval_digest:
        lines.append(f"Approval needed for {len(targets)} target(s), plan digest `{approval_digest}`:")
        listed = ",".join(targets) if targets else "<kind:id:token,...>"
        lines.append(
            f"`replica-failover approve --incident-key {incident_key} --digest {approval_digest} "
            f"--primary-region {region} --approver <you> --targets {listed}`"
        )
    data = {
        "incidentKey": incident_key,
        "primaryRegion": primary_region,
        "policy": policy,
        "reason": reason,
        "evidence": dict(terms),
        "approvalDigest": approval_digest,
        "targets": list(targets),
    }
    return _make("hold", f"Failover held: {region}", lines, data)


def act(
    *,
    incident_key: str,
    primary_region: str,
    dr_region: str,
    targets: int,
    terms: Mapping[str, str],
    approver: str | None = None,
) -> Message:
    lines = [
        f"### Failing over {primary_region} -> {dr_region}",
        f"Incident `{incident_key}`: {targets} target(s)" + (f", approved by {approver}" if approver else ""),
    ]
    lines += _evidence_lines(terms)
    data = {
        "incidentKey": incident_key,
        "primaryRegion": primary_region,
        "drRegion": dr_region,
        "targets": targets,
        "evidence": dict(terms),
        "approver": approver,
    }
    return _make("act", f"Failing over {primary_region}", lines, data)


def result(
    *,
    incident_key: str,
    status: str,
    counts: Mapping[str, int],
    failures: Sequence[tuple[str, str]] = (),
) -> Message:
    """``counts``: targets per outcome; ``failures``: (target id, why) of those that failed."""
    shown = ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "no targets"
    lines = [f"### Failover {status}", f"Incident `{incident_key}`: {shown}"]
    named = list(failures[:MAX_NAMED])
    lines += [f"- `{tid}`: {why}" for tid, why in named]
    if len(failures) > MAX_NAMED:
        lines.append(f"- and {len(failures) - MAX_NAMED} more")
    data = {
        "incidentKey": incident_key,
        "status": status,
        "counts": dict(counts),
        "failures": [{"id": tid, "reason": why} for tid, why in named],
        "failuresNotNamed": max(0, len(failures) - MAX_NAMED),
    }
    return _make("result", f"Failover {status}", lines, data)


def failure(*, incident_key: str, kind: str, cause: str, reason: str) -> Message:
    """A permanent failure: FC will not retry, a human has to look."""
    lines = [f"### Failover {kind}: {cause}", f"Incident `{incident_key}`", reason]
    data = {"incidentKey": incident_key, "failure": kind, "cause": cause, "reason": reason}
    return _make("failure", f"Failover {kind}: {cause}", lines, data)
