"""Approvals: one human approves exactly one plan, for at most an hour."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from replica_failover import redact
from replica_failover.approval import (
    MAX_TTL_SECONDS,
    Approval,
    ApprovalError,
    ApprovedTarget,
    plan_digest,
    sign,
    verify,
)

SECRET = "appr-secret-0123456789abcdef"
NOW = 1_800_000_000.0
KEY = "thr-0123456789abcdef0123456789abcdef"
A = ApprovedTarget(kind="pair", id="pair-a", client_token="tok-a0")
B = ApprovedTarget(kind="group", id="pg-b", client_token="tok-b0")
C = ApprovedTarget(kind="pair", id="pair-c", client_token="tok-c0")


def _approve(targets: tuple[ApprovedTarget, ...] = (A, B), ttl: int = 600, key: str = KEY) -> Approval:
    return sign(
        SECRET,
        incident_key=key,
        digest=plan_digest(key, targets),
        approver="alice",
        targets=targets,
        now=NOW,
        ttl_seconds=ttl,
    )


def test_digest_is_order_and_duplicate_independent_and_binds_everything() -> None:
    d = plan_digest(KEY, [A, B])
    assert d == plan_digest(KEY, [B, A, B])
    assert len(d) == 64
    assert d != plan_digest(KEY, [A])
    assert d != plan_digest("other", [A, B])
    assert d != plan_digest(KEY, [A, B.model_copy(update={"client_token": "tok-b1"})])


def test_valid_approval_runs_exactly_the_approved_targets() -> None:
    approval = _approve()
    check = verify(SECRET, approval, incident_key=KEY, plan_targets=[B, A], now=NOW + 10)
    assert sorted(t.id for t in check.run) == ["pair-a", "pg-b"]
    assert (check.held, check.vanished, check.approver) == ((), (), "alice")


def test_new_targets_are_held_and_vanished_ones_reported() -> None:
    approval = _approve()
    check = verify(SECRET, approval, incident_key=KEY, plan_targets=[A, C], now=NOW)
    assert check.run == (A,)
    assert check.held == (C,)
    assert check.vanished == (B,)
    # a target whose client token changed is a different plan item: held, and the old one vanished
    b2 = B.model_copy(update={"client_token": "tok-b1"})
    check = verify(SECRET, approval, incident_key=KEY, plan_targets=[A, b2], now=NOW)
    assert (check.run, check.held, check.vanished) == ((A,), (b2,), (B,))


def test_survives_a_json_round_trip_as_the_manual_event_carries_it() -> None:
    approval = _approve()
    again = Approval.model_validate(json.loads(approval.model_dump_json()))
    assert verify(SECRET, again, incident_key=KEY, plan_targets=[A, B], now=NOW).run


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"approver": "mallory"}, "bad-signature"),
        ({"expires_at": int(NOW) + 1200}, "bad-signature"),
        ({"targets": (A, B, C)}, "bad-signature"),
        ({"incident_key": "thr-other"}, "bad-signature"),
        ({"signature": "0" * 64}, "bad-signature"),
    ],
)
def test_tampered_approvals_are_rejected(change: dict[str, object], reason: str) -> None:
    tampered = _approve().model_copy(update=change)
    with pytest.raises(ApprovalError) as info:
        verify(SECRET, tampered, incident_key=KEY, plan_targets=[A, B, C], now=NOW)
    assert info.value.reason == reason


def test_forged_with_another_secret_is_rejected() -> None:
    forged = sign(
        "some-other-secret-9876543210",
        incident_key=KEY,
        digest=plan_digest(KEY, [A]),
        approver="alice",
        targets=[A],
        now=NOW,
    )
    with pytest.raises(ApprovalError, match="bad-signature"):
        verify(SECRET, forged, incident_key=KEY, plan_targets=[A], now=NOW)


def test_expired_is_rejected_at_the_second() -> None:
    approval = _approve(ttl=60)
    assert verify(SECRET, approval, incident_key=KEY, plan_targets=[A, B], now=NOW + 59).run
    with pytest.raises(ApprovalError, match="expired"):
        verify(SECRET, approval, incident_key=KEY, plan_targets=[A, B], now=NOW + 60)


def test_reuse_for_another_incident_is_rejected() -> None:
    approval = _approve()
    with pytest.raises(ApprovalError) as info:
        verify(SECRET, approval, incident_key="thr-another-incident", plan_targets=[A, B], now=NOW)
    assert info.value.reason == "other-incident"


def test_lifetime_is_capped_at_an_hour() -> None:
    with pytest.raises(ApprovalError, match="bad-ttl"):
        _approve(ttl=MAX_TTL_SECONDS + 1)
    approval = _approve(ttl=MAX_TTL_SECONDS)
    # validated against the clock too: an approval signed "in the future" cannot stretch the hour
    with pytest.raises(ApprovalError, match="bad-ttl"):
        verify(SECRET, approval, incident_key=KEY, plan_targets=[A, B], now=NOW - 10)


def test_sign_refuses_a_digest_of_other_targets() -> None:
    with pytest.raises(ApprovalError, match="digest-mismatch"):
        sign(SECRET, incident_key=KEY, digest=plan_digest(KEY, [A]), approver="x", targets=[A, B], now=NOW)


def test_digest_inconsistent_with_targets_is_rejected_even_if_signed() -> None:
    # a holder of the secret who signs a digest of another plan still cannot get it run
    from replica_failover.approval import _mac

    digest = plan_digest(KEY, [A])
    sig = _mac(SECRET, KEY, digest, "alice", int(NOW) + 60, [A, B])
    bad = Approval(
        incident_key=KEY, digest=digest, approver="alice", expires_at=int(NOW) + 60, targets=(A, B), signature=sig
    )
    with pytest.raises(ApprovalError, match="digest-mismatch"):
        verify(SECRET, bad, incident_key=KEY, plan_targets=[A, B], now=NOW)


def test_missing_or_short_secret_refuses() -> None:
    with pytest.raises(ApprovalError, match="no-secret"):
        verify(None, _approve(), incident_key=KEY, plan_targets=[A], now=NOW)
    with pytest.raises(ApprovalError, match="no-secret"):
        sign("short", incident_key=KEY, digest=plan_digest(KEY, [A]), approver="x", targets=[A], now=NOW)


def test_bad_shapes_are_rejected_by_the_model() -> None:
    good = json.loads(_approve().model_dump_json())
    for field, value in [("digest", "xyz"), ("targets", []), ("approver", "a\nb"), ("signature", "A" * 64)]:
        with pytest.raises(ValidationError):
            Approval.model_validate({**good, field: value})
    with pytest.raises(ValidationError):
        Approval.model_validate({**good, "extra": 1})


def test_the_secret_is_registered_with_the_redactor() -> None:
    _approve()
    assert SECRET not in redact.redact_text(f"oops {SECRET} leaked")
    assert SECRET not in _approve().model_dump_json()


# ---------------------------------------------------------------------- the approve command
def _cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from chaos.cli import app

    result = CliRunner().invoke(app, ["approve", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def _args(digest: str, targets: str = "pair:pair-a:tok-a0,group:pg-b:tok-b0") -> list[str]:
    return [
        "--incident-key", KEY, "--digest", digest, "--approver", "alice",
        "--targets", targets, "--primary-region", "cn-hangzhou", "--ttl", "300",
    ]  # fmt: skip


def test_approve_command_prints_a_verifiable_manual_event() -> None:
    import time

    code, out, err = _cli(_args(plan_digest(KEY, [A, B])), {"FAILOVER_APPROVAL_SECRET": SECRET})
    assert code == 0, err
    event = json.loads(out)
    assert (event["action"], event["primaryRegion"], event["incidentId"]) == ("failover", "cn-hangzhou", KEY)
    approval = Approval.model_validate(event["approval"])
    assert 290 <= approval.expires_at - time.time() <= 300
    check = verify(SECRET, approval, incident_key=KEY, plan_targets=[A, B], now=time.time())
    assert set(check.run) == {A, B}
    assert SECRET not in out


def test_approve_command_refuses_bad_input() -> None:
    env = {"FAILOVER_APPROVAL_SECRET": SECRET}
    code, out, err = _cli(_args(plan_digest(KEY, [A])), env)
    assert code == 2 and out == "" and "digest-mismatch" in err
    code, out, err = _cli(_args(plan_digest(KEY, [A]), "pair:pair-a"), env)
    assert code == 2 and out == "" and "KIND:ID:CLIENT_TOKEN" in err
    code, out, err = _cli(_args(plan_digest(KEY, [A, B])), {"FAILOVER_APPROVAL_SECRET": ""})
    assert code == 2 and "FAILOVER_APPROVAL_SECRET is not set" in err
    code, out, err = _cli([*_args(plan_digest(KEY, [A, B]))[:-1], "7200"], env)
    assert code == 2 and out == ""


def test_plan_targets_and_the_command_argument_round_trip() -> None:
    from replica_failover.approval import plan_targets, target_arg
    from replica_failover.plan import PlanItem

    def item(kind: str, ident: str, decision: str, token: str | None) -> PlanItem:
        return PlanItem.model_validate(
            {"kind": kind, "id": ident, "region": "cn-shanghai", "source_region": "cn-hangzhou",
             "status": "normal", "decision": decision, "reason": "r", "client_token": token}
        )  # fmt: skip

    items = [
        item("pair", "pair-a", "failover", "tok-a0"),
        item("group", "pg-b", "failover", "tok-b0"),
        item("pair", "pair-z", "alreadyFailedOver", None),
        item("pair", "pair-s", "skipped", None),
    ]
    targets = plan_targets(items)
    assert targets == (A, B)
    arg = target_arg(targets)
    assert arg == "group:pg-b:tok-b0,pair:pair-a:tok-a0"
    code, out, err = _cli(_args(plan_digest(KEY, targets), arg), {"FAILOVER_APPROVAL_SECRET": SECRET})
    assert code == 0, err
    assert set(Approval.model_validate(json.loads(out)["approval"]).targets) == {A, B}
