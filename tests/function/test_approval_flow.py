"""FAILOVER_MODE=approve end to end: a confirmed incident is held with its plan digest, `replica-failover
approve` signs exactly that plan, and the function runs exactly the approved targets. Forged, expired,
tampered, replayed or foreign approvals are rejected with zero writes."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from replica_failover.approval import Approval, ApprovedTarget, plan_digest, sign
from typer.testing import CliRunner

from chaos.cli import app
from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import PairRecord
from chaos.invoke import EXIT_CODES, EXIT_HELD
from tests.conftest import DR, PRIMARY
from tests.function.confirm_world import (
    ALARM,
    MANUAL,
    TARGETS,
    confirm_env,
    effects,
    notifications,
    primary_down,
    writes,
)
from tests.function.conftest import Invoke

SECRET = "approval-secret-for-tests-0123456789"


def approve_env(endpoint: str) -> dict[str, str]:
    return confirm_env(endpoint, FAILOVER_MODE="approve", FAILOVER_APPROVAL_SECRET=SECRET)


def held_for_approval(world: Emulator, endpoint: str, invoke: Invoke) -> dict[str, Any]:
    """A region-level alarm, the primary down: confirmed, so held for an approval. Returns the hold message."""
    primary_down(world)
    result = invoke(ALARM, env=approve_env(endpoint))
    assert (result["status"], result["writeCalls"], EXIT_CODES[result["status"]]) == ("held", 0, EXIT_HELD)
    assert result["confirmation"]["decision"]["act"] is True and result["approval"]["required"] is True
    assert writes(world) == []
    hooks = [n for n in notifications(endpoint) if n["kind"] == "webhook"]
    message = hooks[-1]["body"]["failover"]
    assert message["kind"] == "hold" and message["approvalDigest"] == result["approval"]["digest"]
    return dict(message)


def cli_approve(message: dict[str, Any], approver: str = "alice") -> dict[str, Any]:
    res = CliRunner().invoke(
        app,
        [
            "approve",
            "--incident-key",
            message["incidentKey"],
            "--digest",
            message["approvalDigest"],
            "--approver",
            approver,
            "--targets",
            ",".join(message["targets"]),
            "--primary-region",
            message["primaryRegion"],
        ],
        env={"FAILOVER_APPROVAL_SECRET": SECRET},
    )
    assert res.exit_code == 0, res.output
    event = json.loads(res.stdout)
    assert SECRET not in res.stdout
    return dict(event)


def test_approve_mode_holds_then_runs_exactly_the_approved_plan(world: Emulator, endpoint: str, invoke: Invoke) -> None:
    message = held_for_approval(world, endpoint, invoke)
    assert {t.split(":")[1] for t in message["targets"]} == TARGETS
    event = cli_approve(message)
    # a pair that appears after the approval was signed is not in it
    world.backend.seed_pairs([PairRecord(ReplicaPairId="pair-new", SourceRegion=PRIMARY, DestinationRegion=DR)])

    result = invoke(event, env=approve_env(endpoint))
    assert result["status"] == "completed", result["reason"]
    assert effects(world) == Counter(dict.fromkeys(TARGETS, 1))  # exactly the approved ones, once each
    approval = result["approval"]
    assert approval["verified"] is True and approval["approver"] == "alice"
    assert {t.split(":")[1] for t in approval["run"]} == TARGETS and approval["held"] == ["pair:pair-new"]
    new = next(t for t in result["targets"] if t["id"] == "pair-new")
    assert new["outcome"] == "skipped" and "new approval" in new["reason"]
    kinds = [(n["channel"], n["kind"]) for n in result["notifications"] if n["ok"]]
    # the new target is announced for its own approval, then the act and the result
    assert kinds[:2] == [("dingtalk", "hold"), ("webhook", "hold")] and ("dingtalk", "act") in kinds

    # the same approval again: everything it names is done, the new pair still needs its own -> 0 writes
    before = len(writes(world))
    replay = invoke(event, env=approve_env(endpoint))
    assert replay["status"] == "held" and len(writes(world)) == before
    assert {t.split(":")[1] for t in replay["approval"]["vanished"]} == TARGETS
    assert replay["approval"]["run"] == []


def test_approve_mode_never_acts_on_a_manual_request_without_an_approval(
    world: Emulator, endpoint: str, invoke: Invoke
) -> None:
    result = invoke(MANUAL, env=approve_env(endpoint))
    assert result["status"] == "held" and result["writeCalls"] == 0 and writes(world) == []
    assert result["approval"]["digest"]


def _targets(message: dict[str, Any]) -> list[ApprovedTarget]:
    out = []
    for t in message["targets"]:
        kind, ident, token = t.split(":")
        out.append(ApprovedTarget(kind=kind, id=ident, client_token=token))
    return out


def _signed(message: dict[str, Any], **overrides: Any) -> Approval:
    targets = overrides.pop("targets", _targets(message))
    key = overrides.pop("incident_key", message["incidentKey"])
    return sign(
        overrides.pop("secret", SECRET),
        incident_key=key,
        digest=plan_digest(key, targets),
        approver="mallory",
        targets=targets,
        now=overrides.pop("now", time.time()),
        ttl_seconds=overrides.pop("ttl", 900),
    )


def _forged(m: dict[str, Any]) -> dict[str, Any]:
    return _signed(m, secret="not-the-approval-secret-at-all").model_dump(mode="json")


def _expired(m: dict[str, Any]) -> dict[str, Any]:
    return _signed(m, now=time.time() - 3600, ttl=60).model_dump(mode="json")


def _tampered(m: dict[str, Any]) -> dict[str, Any]:
    return {**_signed(m).model_dump(mode="json"), "approver": "alice"}


def _other_incident(m: dict[str, Any]) -> dict[str, Any]:
    return _signed(m, incident_key="thr-another-incident").model_dump(mode="json")


def _widened(m: dict[str, Any]) -> dict[str, Any]:
    # a valid approval of one target, with a second target added afterwards: the digest no longer matches
    approval = _signed(m, targets=_targets(m)[:1]).model_dump(mode="json")
    approval["targets"] = [t.model_dump(mode="json") for t in _targets(m)[:2]]
    return approval


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_forged, "bad-signature"),
        (_expired, "expired"),
        (_tampered, "bad-signature"),
        (_other_incident, "other-incident"),
        (_widened, "bad-signature"),
    ],
    ids=["forged", "expired", "tampered", "other-incident", "widened"],
)
def test_a_bad_approval_is_rejected_with_zero_writes(
    world: Emulator,
    endpoint: str,
    invoke: Invoke,
    make: Callable[[dict[str, Any]], dict[str, Any]],
    reason: str,
) -> None:
    message = held_for_approval(world, endpoint, invoke)
    event = {
        "action": "failover",
        "primaryRegion": PRIMARY,
        "incidentId": message["incidentKey"],
        "reason": "approved",
        "approval": make(message),
    }
    result = invoke(event, env=approve_env(endpoint))
    assert (result["status"], result["writeCalls"]) == ("rejected", 0), result["reason"]
    assert result["failure"]["cause"] == "approval" and result["approval"]["rejection"] == reason
    assert writes(world) == [] and not effects(world)
    assert [(n["kind"], n["ok"]) for n in result["notifications"]] == [("failure", True), ("failure", True)]
    assert SECRET not in json.dumps(result)


def test_a_malformed_approval_is_rejected_at_intake(world: Emulator, endpoint: str, invoke: Invoke) -> None:
    event = {**MANUAL, "approval": {"incident_key": "x", "digest": "nope"}}
    result = invoke(event, env=approve_env(endpoint))
    assert result["status"] == "rejected" and result["failure"]["cause"] == "event"
    assert "approval" in result["reason"] and result["apiCalls"] == 0 and writes(world) == []
