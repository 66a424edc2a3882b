"""Property: whatever the signal, the evidence, the policy, the mode and the approval, the confirmation
stage (the decision the handler takes before its first write, confirm/stage.py) only lets a plan run
when the policy holds on the evidence and, in approve mode, a valid approval names it; a forged,
expired, tampered or foreign approval is always rejected. Runs the stage itself with generated
evidence sources (no network); the handler around it is covered against the emulator elsewhere."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from replica_failover.approval import ApprovedTarget, plan_digest, plan_targets, sign
from replica_failover.config import Secrets, load_settings
from replica_failover.confirm.evidence import Unavailable
from replica_failover.confirm.policy import DEFAULT_POLICY, Facts, Policy
from replica_failover.confirm.stage import ConfirmStage
from replica_failover.incident import Incident
from replica_failover.log import JsonLogger
from replica_failover.notify.outbox import Outbox
from replica_failover.plan import Plan, PlanItem

from tests.conftest import DR, PRIMARY

SECRET = "property-approval-secret-0123456789"
KEY = "thr-0123456789abcdef0123456789abcdef"
POLICIES = [
    DEFAULT_POLICY,
    "alarm",
    "alarm or resource or manual",
    "alarm and probe",
    "manual or probe",
    "resource and probe and events>=5",
    "alarm and not metric",
    "(alarm or resource) and (probe or events>=2) and not manual",
]
APPROVALS = [None, "valid", "forged", "expired", "tampered", "other-incident", "partial"]
SIGNAL_INCIDENT = {
    "alarm": {"source": "threshold", "kind": "threshold", "region_origin": "alarm-map"},
    "resource": {"source": "system-event", "kind": "system-event", "region_origin": "arn"},
    "manual": {"source": "manual", "kind": "manual", "region_origin": "manual"},
}


def _plan(n: int) -> Plan:
    items = tuple(
        PlanItem(
            kind="pair",
            id=f"pair-{i}",
            region=DR,
            source_region=PRIMARY,
            status="normal",
            decision="failover",
            reason="replicates from the unhealthy region",
            client_token=f"tok-{i}",
            token_base=f"base-{i}",
        )
        for i in range(n)
    )
    return Plan(primary_region=PRIMARY, dr_region=DR, items=items)


def _approval(kind: str, targets: tuple[ApprovedTarget, ...]) -> dict[str, Any]:
    chosen = targets[:1] if kind == "partial" else targets
    key = "thr-someone-else" if kind == "other-incident" else KEY
    signed = sign(
        "a-different-secret-0123456789" if kind == "forged" else SECRET,
        incident_key=key,
        digest=plan_digest(key, chosen),
        approver="alice",
        targets=chosen,
        now=time.time() - (7200 if kind == "expired" else 0),
        ttl_seconds=60 if kind == "expired" else 900,
    ).model_dump(mode="json")
    if kind == "tampered":
        signed["approver"] = "mallory"
    return signed


def _source(value: int | bool | None, calls: list[str], name: str) -> Callable[[], int | bool]:
    def read() -> int | bool:
        calls.append(name)
        if value is None:
            raise Unavailable("throttled")
        return value

    return read


@settings(max_examples=300, deadline=None)
@given(
    signal=st.sampled_from(["alarm", "resource", "manual"]),
    probe=st.none() | st.booleans(),
    metric=st.none() | st.booleans(),
    events=st.none() | st.integers(0, 12),
    policy=st.sampled_from(POLICIES),
    mode=st.sampled_from(["auto", "approve"]),
    approval=st.sampled_from(APPROVALS),
    n_targets=st.integers(1, 4),
)
def test_the_stage_never_lets_a_plan_run_that_the_policy_or_the_approval_refuses(
    signal: str,
    probe: bool | None,
    metric: bool | None,
    events: int | None,
    policy: str,
    mode: str,
    approval: str | None,
    n_targets: int,
) -> None:
    env = {
        "FAILOVER_PRIMARY_REGIONS": PRIMARY,
        "FAILOVER_DR_REGION": DR,
        "FAILOVER_CONFIRM": policy,
        "FAILOVER_MODE": mode,
        "FAILOVER_APPROVAL_SECRET": SECRET,
    }
    cfg = load_settings(env)
    plan = _plan(n_targets)
    targets = plan_targets(plan.items)
    shape = SIGNAL_INCIDENT["manual" if approval else signal]
    incident = Incident.model_validate(
        {
            **shape,
            "disposition": "act",
            "reason": "test",
            "primary_region": PRIMARY,
            "dr_region": DR,
            "firing": True,
            "incident_key": KEY,
            "approval": _approval(approval, targets) if approval else None,
        }
    )
    calls: list[str] = []
    sources = {
        "probe": _source(probe, calls, "probe"),
        "metric": _source(metric, calls, "metric"),
        "cms_events": _source(events, calls, "cms_events"),
    }
    stage = ConfirmStage(
        cfg,
        Secrets(approval_secret=SECRET),
        Outbox(Secrets(), time.monotonic() + 30),
        JsonLogger("ERROR", io.StringIO()),
        incident_key=KEY,
    )
    gate = stage.gate(incident, plan, lambda: sources)
    runs = {i.id for i in gate.plan.to_failover} if gate.status == "act" else set()

    if approval is None:
        kind = signal
        facts = Facts(
            alarm=kind == "alarm", resource=kind == "resource", manual=kind == "manual", probe=probe, metric=metric
        ).model_copy(update={"events": events})
        confirmed = Policy(policy).decide(facts).act
        # acts exactly when the policy holds on the evidence and (approve mode) nothing waits for a human
        assert (gate.status == "act") == (confirmed and mode == "auto"), (gate, facts)
        if gate.status == "act":
            assert runs == {t.id for t in targets}
        bare = Facts(alarm=kind == "alarm", resource=kind == "resource", manual=kind == "manual")
        if Policy(policy).decide(bare).value != "unknown":
            assert calls == [], "evidence gathered although the signal alone decided"
    elif approval in ("valid", "partial"):
        assert gate.status == "act"
        assert runs == ({"pair-0"} if approval == "partial" else {t.id for t in targets})
    else:
        assert gate.status == "rejected" and gate.cause == "approval" and runs == set()
        assert calls == [], "a rejected approval gathered evidence"
