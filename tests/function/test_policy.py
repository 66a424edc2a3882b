"""The error policy on its own: (answer, status read after it) -> retry, next round, or a final outcome.

policy.py calls nothing and reads no clock, so every row here is one call of a pure function.
"""

from __future__ import annotations

from typing import Any

import pytest
from replica_failover.ebs import ApiFailure
from replica_failover.policy import (
    NOT_READ,
    Done,
    NextRound,
    Retry,
    Verdict,
    after_accepted,
    after_failure,
    is_ambiguous,
    is_lost_answer,
    is_throttled,
    is_transient,
    must_look,
)

REGION = "cn-shanghai"

# (code, HTTP status) -> (throttled, transient, must look first)
CLASSES: list[tuple[str, int | None, bool, bool, bool]] = [
    ("Throttling", 400, True, True, False),
    ("Throttling.User", 400, True, True, False),
    ("SomethingElse", 429, True, True, False),
    ("RequestTimeout", 504, False, True, True),
    ("InternalError", 500, False, True, True),
    ("ServiceUnavailable", 503, False, True, True),
    ("SDK.HttpError", None, False, True, True),
    ("SDK.ServerUnreachable", None, False, True, True),
    ("SDK.UnknownServerError", None, False, True, True),
    ("LastTokenProcessing", 400, False, True, True),
    ("Unknown", 502, False, True, True),
    ("OperationDenied.InvalidStatus", 400, False, False, True),
    ("NoSuchResource", 404, False, False, False),
    ("Forbidden.RAM", 403, False, False, False),
    ("OperationDenied.OperateNotAllowedForPrimary", 400, False, False, False),
    ("InvalidParameter", 400, False, False, False),
]


@pytest.mark.parametrize(("code", "http", "throttled", "transient", "look"), CLASSES)
def test_classification(code: str, http: int | None, throttled: bool, transient: bool, look: bool) -> None:
    f = ApiFailure(code, "msg", http)
    assert is_throttled(code, http) is throttled and f.throttled is throttled
    assert is_transient(code, http) is transient and f.transient is transient
    assert is_ambiguous(f) is (transient and not throttled)
    assert must_look(f) is look


@pytest.mark.parametrize(
    ("code", "http", "lost"),
    [
        ("RequestTimeout", 504, True),
        ("RequestTimeout", 408, True),
        ("GatewayTimeout", 504, True),
        # overload signals keep their backoff
        ("ServiceUnavailable", 503, False),
        ("InternalError", 500, False),
        ("Unknown", 502, False),
        ("Throttling.User", 400, False),
        ("Throttling", 504, False),
        ("SomethingElse", 429, False),
        # our own token still in flight, a transport failure: not the gateway's lost answer
        ("LastTokenProcessing", 400, False),
        ("SDK.HttpError", None, False),
        ("OperationDenied.InvalidStatus", 400, False),
    ],
)
def test_a_lost_answer_is_a_504_and_never_an_overload_signal(code: str, http: int | None, lost: bool) -> None:
    assert is_lost_answer(ApiFailure(code, "msg", http)) is lost


def _done(outcome: str, status_after: str | None = None) -> tuple[str, str, str | None]:
    return ("done", outcome, status_after)


def _shape(v: Verdict) -> tuple[Any, ...]:
    """A verdict without its human reason (checked separately where the reason matters)."""
    if isinstance(v, Done):
        return ("done", v.outcome, v.status_after)
    if isinstance(v, NextRound):
        return ("next", v.status)
    return ("retry", v.failure.code)


# codes that need a look, crossed with what the look read; ambiguous_before=False
LOOKED = ["RequestTimeout", "LastTokenProcessing", "OperationDenied.InvalidStatus"]
READS: list[tuple[str | None, dict[str, tuple[Any, ...]]]] = [
    (None, {c: _done("skipped") for c in LOOKED}),
    (
        "failovered",
        {
            # an ambiguous answer may be our own applied write; InvalidStatus alone is someone else's
            "RequestTimeout": _done("failedOver", "failovered"),
            "LastTokenProcessing": _done("failedOver", "failovered"),
            "OperationDenied.InvalidStatus": _done("alreadyFailedOver", "failovered"),
        },
    ),
    (
        "failovering",
        {
            "RequestTimeout": _done("failedOver", "failovering"),
            "LastTokenProcessing": _done("failedOver", "failovering"),
            "OperationDenied.InvalidStatus": _done("alreadyFailedOver", "failovering"),
        },
    ),
    ("deleted", {c: _done("skipped", "deleted") for c in LOOKED}),
    ("invalid", {c: _done("skipped", "invalid") for c in LOOKED}),
    ("syncing", {c: ("retry", c) for c in LOOKED}),
    ("failover_failed", {c: ("retry", c) for c in LOOKED}),
]
HTTP = {"RequestTimeout": 504, "LastTokenProcessing": 400, "OperationDenied.InvalidStatus": 400}


@pytest.mark.parametrize("kind", ["pair", "group"])
@pytest.mark.parametrize("code", LOOKED)
@pytest.mark.parametrize(("status", "expected"), READS)
def test_failure_after_a_look(kind: Any, code: str, status: str | None, expected: dict[str, Any]) -> None:
    verdict = after_failure(kind, REGION, ApiFailure(code, "m", HTTP[code]), status, ambiguous_before=False)
    assert _shape(verdict) == expected[code]


def test_an_earlier_ambiguous_attempt_makes_the_failover_ours() -> None:
    f = ApiFailure("OperationDenied.InvalidStatus", "m", 400)
    verdict = after_failure("pair", REGION, f, "failovered", ambiguous_before=True)
    assert _shape(verdict) == _done("failedOver", "failovered")


def test_a_look_is_required_where_the_policy_needs_one() -> None:
    with pytest.raises(ValueError, match="RequestTimeout"):
        after_failure("pair", REGION, ApiFailure("RequestTimeout", "m", 504), NOT_READ, ambiguous_before=False)


@pytest.mark.parametrize(
    ("code", "http", "outcome", "in_reason"),
    [
        ("Throttling.User", 400, None, ""),
        ("NoSuchResource", 404, "skipped", "no longer exists"),
        ("Forbidden.RAM", 403, "failed", "ebs:FailoverDiskReplicaPair"),
        ("NoPermission", 403, "failed", "permission denied"),
        ("OperationDenied.OperateNotAllowedForStandby", 400, "failed", f"calling region {REGION}"),
        ("InvalidParameter", 400, "failed", "InvalidParameter: detail"),
    ],
)
def test_failure_without_a_look(code: str, http: int, outcome: str | None, in_reason: str) -> None:
    verdict = after_failure("pair", REGION, ApiFailure(code, "detail", http), NOT_READ, ambiguous_before=False)
    if outcome is None:
        assert isinstance(verdict, Retry) and verdict.failure.code == code
    else:
        assert isinstance(verdict, Done) and verdict.outcome == outcome and in_reason in verdict.reason
        assert verdict.status_after is None


def test_permission_reason_names_the_group_action_for_a_group() -> None:
    verdict = after_failure("group", REGION, ApiFailure("Forbidden", "x", 403), NOT_READ, ambiguous_before=False)
    assert isinstance(verdict, Done) and "ebs:FailoverDiskReplicaGroup" in verdict.reason


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("pair", None, _done("skipped")),
        ("pair", "failovering", _done("failedOver", "failovering")),
        ("group", "failovered", _done("failedOver", "failovered")),
        ("pair", "deleting", _done("skipped", "deleting")),
        # still failable: the 200 replayed an earlier round's token, or that round failed
        ("pair", "syncing", ("next", "syncing")),
        ("group", "normal", ("next", "normal")),
        ("pair", "failover_failed", ("next", "failover_failed")),
        ("group", "failover_failed", ("next", "failover_failed")),
        # neither failed over nor failable (a group in a state the plan would not send a call for)
        ("group", "reprotecting", _done("skipped", "reprotecting")),
    ],
)
def test_after_a_200(kind: Any, status: str | None, expected: tuple[Any, ...]) -> None:
    assert _shape(after_accepted(kind, status)) == expected
