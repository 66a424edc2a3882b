"""The confirmation stage: between the plan and the first write, decide act, hold or reject.

* An incident carrying an approval: the approval is verified against the current plan (a human
  saw and signed exactly these targets, so no evidence is gathered). Forged, tampered, expired or
  for another incident or plan: ``rejected``, zero writes. Valid: only the approved targets run;
  a target new since is held for a new approval, one gone or already done is reported.
* Otherwise the confirmation policy (FAILOVER_CONFIRM) decides from the signal and, only when the
  signal alone leaves it open, from evidence gathered now: not confirmed -> ``held``.
* FAILOVER_MODE=approve: a confirmed incident without an approval is ``held`` with its plan digest
  and the approve command; nothing runs without a verified approval.

The kill switch and the blast-radius cap are applied before this stage (the handler never calls it
for a dry run or a refused plan). Notifications go out on hold, on act, with the result and on a
permanent failure; each is recorded, none can block or fail the invocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

from replica_failover.approval import ApprovalCheck, ApprovalError, ApprovedTarget, plan_digest, plan_targets
from replica_failover.approval import target_arg as approve_arg
from replica_failover.approval import verify as verify_approval
from replica_failover.config import Secrets, Settings
from replica_failover.confirm.decide import Confirmation, classify, confirm
from replica_failover.confirm.evidence import Source
from replica_failover.confirm.policy import Policy
from replica_failover.incident import Incident
from replica_failover.log import JsonLogger
from replica_failover.notify import messages
from replica_failover.notify.outbox import Outbox
from replica_failover.plan import Plan, PlanItem
from replica_failover.redact import register
from replica_failover.result import Failure, FailureCause, TargetResult, summarize

GateStatus = Literal["act", "held", "rejected"]
HELD_FOR_APPROVAL: Final = "held: not in the approval (new since it was signed); needs a new approval"
# a rejected event is announced only when it is an approval: junk sent to a public trigger must not
# use up the robot's 20 messages a minute
ANNOUNCED_REJECTIONS: Final[frozenset[FailureCause]] = frozenset({"approval"})


@lru_cache(maxsize=8)
def policy_for(text: str) -> Policy:
    return Policy(text)


@dataclass(frozen=True)
class Gate:
    status: GateStatus
    reason: str
    plan: Plan
    """The plan to execute: the computed one, or narrowed to the approved targets."""
    cause: FailureCause | None = None


class ConfirmStage:
    """One invocation's stage: :meth:`gate` before execution, :meth:`report` for every result."""

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        outbox: Outbox,
        log: JsonLogger,
        *,
        incident_key: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        register(secrets.approval_secret, secrets.dingtalk_url, secrets.dingtalk_secret, secrets.webhook_url)
        self.settings = settings
        self.secrets = secrets
        self.outbox = outbox
        self.log = log
        self.clock = clock
        self.confirmation: dict[str, Any] | None = None
        self.approval: dict[str, Any] | None = None
        self.acted = False
        self.incident_key = incident_key

    # ------------------------------------------------------------------------------ gate
    def gate(self, incident: Incident, plan: Plan, sources: Callable[[], Mapping[str, Source]]) -> Gate:
        """Act, hold or reject ``plan`` for ``incident``; zero writes happen here."""
        if incident.approval is not None:
            return self._approved(incident, plan)
        policy = policy_for(self.settings.confirm)
        signal = classify(incident)
        confirmation = confirm(policy, signal, sources, timeout=self.settings.evidence_timeout_seconds)
        self.confirmation = _confirmation_dump(confirmation)
        self.log.info("confirmation", **self.confirmation)
        seen = _seen(confirmation)
        if not confirmation.decision.act:
            reason = f"not confirmed: {confirmation.decision.reason} (policy {confirmation.decision.policy})"
            self._hold(incident, confirmation.decision.policy, reason, seen)
            return Gate("held", reason, plan)
        targets = plan_targets(plan.items)
        if self.settings.mode == "approve" and targets:
            digest = plan_digest(incident.incident_key, targets)
            self.approval = {"required": True, "digest": digest, "targets": len(targets)}
            reason = f"FAILOVER_MODE=approve: {len(targets)} target(s) wait for an approval of plan {digest}"
            self._hold(incident, confirmation.decision.policy, reason, seen, targets=targets)
            return Gate("held", reason, plan)
        self._act(incident, plan, seen, approver=None)
        return Gate("act", confirmation.decision.reason, plan)

    def _approved(self, incident: Incident, plan: Plan) -> Gate:
        approval = incident.approval
        assert approval is not None
        self.confirmation = {"signal": "manual", "decidedBy": "approval", "gatheringMs": 0.0}
        current = plan_targets(plan.items)
        try:
            check = verify_approval(
                self.secrets.approval_secret,
                approval,
                incident_key=incident.incident_key,
                plan_targets=current,
                now=self.clock(),
            )
        except ApprovalError as err:
            self.approval = {"verified": False, "rejection": err.reason, "claimedApprover": approval.approver}
            self.log.warning("approval", **self.approval)
            return Gate("rejected", f"approval rejected: {err}", plan, cause="approval")
        self.approval = _check_dump(check, approval.digest)
        self.log.info("approval", **self.approval)
        seen = {"approval": f"verified, by {check.approver}"}
        if check.held:
            why = f"{len(check.held)} target(s) not in the approval need a new one"
            self._hold(incident, "approval", why, seen, targets=check.held)
        if not check.run and check.held:
            return Gate("held", f"approval by {check.approver} covers none of the current targets", plan)
        narrowed = _narrow(plan, {t.key() for t in check.run})
        self._act(incident, narrowed, seen, approver=check.approver)
        return Gate("act", f"approved by {check.approver}", narrowed)

    def _hold(
        self,
        incident: Incident,
        policy: str,
        reason: str,
        seen: Mapping[str, str],
        *,
        targets: tuple[ApprovedTarget, ...] = (),
    ) -> None:
        digest = plan_digest(incident.incident_key, targets) if targets else None
        listed = approve_arg(targets).split(",") if targets else []
        self.outbox.send(
            messages.hold(
                incident_key=incident.incident_key,
                primary_region=incident.primary_region,
                policy=policy,
                reason=reason,
                terms=seen,
                approval_digest=digest,
                targets=listed,
            )
        )

    def _act(self, incident: Incident, plan: Plan, seen: Mapping[str, str], *, approver: str | None) -> None:
        # nothing left to fail over (a re-notification after the failover, a replayed approval): a
        # message each time CloudMonitor re-notifies would only be noise
        if not plan.to_failover:
            return
        self.acted = True
        self.outbox.send(
            messages.act(
                incident_key=incident.incident_key,
                primary_region=plan.primary_region,
                dr_region=plan.dr_region,
                targets=len(plan.to_failover),
                terms=seen,
                approver=approver,
            )
        )

    # ---------------------------------------------------------------------------- report
    def report(self, status: str, failure: Failure | None, targets: list[TargetResult]) -> dict[str, Any]:
        """The result's confirmation fields; sends the result and permanent-failure notifications."""
        key = self.incident_key
        if self.acted:
            failed = [(t.id, t.reason) for t in targets if t.outcome == "failed"]
            self.outbox.send(
                messages.result(incident_key=key, status=status, counts=summarize(targets), failures=failed)
            )
        if failure is not None and (failure.kind != "rejected" or failure.cause in ANNOUNCED_REJECTIONS):
            self.outbox.send(
                messages.failure(incident_key=key, kind=failure.kind, cause=failure.cause, reason=failure.reason)
            )
        return {"confirmation": self.confirmation, "approval": self.approval, "notifications": self.outbox.dump()}


# ------------------------------------------------------------------------------ helpers
def _narrow(plan: Plan, approved: set[tuple[str, str, str]]) -> Plan:
    """``plan`` with every failover target the approval lacks turned into a skipped one."""

    def keep(item: PlanItem) -> PlanItem:
        key = (item.kind, item.id, item.client_token or "")
        if item.decision != "failover" or key in approved:
            return item
        return item.model_copy(update={"decision": "skipped", "reason": HELD_FOR_APPROVAL})

    return plan.model_copy(update={"items": tuple(keep(i) for i in plan.items)})


def _seen(confirmation: Confirmation) -> dict[str, str]:
    """What the decision saw, for humans: each policy term, then each source's value or why it had none."""
    seen: dict[str, str] = {f"policy:{k}": v for k, v in confirmation.decision.terms.items()}
    seen["signal"] = confirmation.signal
    if confirmation.evidence is not None:
        for name, src in confirmation.evidence.sources.items():
            seen[name] = str(src.value) if src.available else f"unavailable ({src.reason})"
        seen["gathered in"] = f"{confirmation.evidence.elapsed_ms:g} ms"
    return seen


def _confirmation_dump(confirmation: Confirmation) -> dict[str, Any]:
    evidence = confirmation.evidence
    return {
        "signal": confirmation.signal,
        "decidedBy": "policy",
        "decision": confirmation.decision.model_dump(mode="json"),
        "evidence": None if evidence is None else evidence.model_dump(mode="json", by_alias=True),
        "gatheringMs": 0.0 if evidence is None else evidence.elapsed_ms,
    }


def _check_dump(check: ApprovalCheck, digest: str) -> dict[str, Any]:
    def ids(targets: tuple[ApprovedTarget, ...]) -> list[str]:
        return [f"{t.kind}:{t.id}" for t in targets]

    return {
        "verified": True,
        "approver": check.approver,
        "digest": digest,
        "run": ids(check.run),
        "held": ids(check.held),
        "vanished": ids(check.vanished),
    }
