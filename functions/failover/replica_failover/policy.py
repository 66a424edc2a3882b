"""The error policy: what an API answer means for one target, as pure functions.

Where it sits: event -> incident -> decision -> plan -> **execution** -> result. The executor sends a
failover call; this module says which failures a retry can cure (:func:`is_transient`,
:func:`is_throttled`, read by :class:`~replica_failover.ebs.ApiFailure`), which need a look at the
target first (:func:`must_look`), and what to do once the answer, and the status read after it, are
known: retry the call, send the next round's ClientToken, or stop with a final outcome and its reason.
Nothing here calls the API, sleeps or reads a clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Union

from replica_failover.plan import ALREADY, TargetKind, can_fail_over

if TYPE_CHECKING:
    from replica_failover.ebs import ApiFailure
    from replica_failover.result import Outcome

# codes a retry can cure (with the same ClientToken)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "SDK.HttpError",
        "SDK.ServerUnreachable",
        "SDK.UnknownServerError",
        "LastTokenProcessing",
    }
)
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
RAM_ACTION = {"pair": "ebs:FailoverDiskReplicaPair", "group": "ebs:FailoverDiskReplicaGroup"}
PERMISSION_CODES = frozenset(
    {"Forbidden", "Forbidden.Action", "Forbidden.RAM", "NoPermission", "Forbidden.NoPermission"}
)
CONFIG_CODES = frozenset({"OperationDenied.OperateNotAllowedForPrimary", "OperationDenied.OperateNotAllowedForStandby"})
GONE = frozenset({"invalid", "deleted", "deleting"})


def is_throttled(code: str, status: int | None) -> bool:
    return code.startswith("Throttling") or status == 429


def is_transient(code: str, status: int | None) -> bool:
    return is_throttled(code, status) or code in TRANSIENT_CODES or status in TRANSIENT_STATUS


def is_ambiguous(failure: ApiFailure) -> bool:
    """The write may have been applied without us hearing so (500, 504, reset, read timeout)."""
    return failure.transient and not failure.throttled


def is_lost_answer(failure: ApiFailure) -> bool:
    """The gateway gave up waiting for the backend's answer (504, ``RequestTimeout``): the call may or
    may not have been applied, and nothing in the answer says the API is overloaded. Under this
    round's ClientToken a re-send is at worst a replay, so it needs no backoff of its own; 500, 502,
    503 and throttling are overload signals and keep theirs."""
    return not failure.throttled and (failure.status == 504 or failure.code == "RequestTimeout")


def must_look(failure: ApiFailure) -> bool:
    """Read the target's status before deciding: an ambiguous answer may hide an applied write,
    LastTokenProcessing means our token is still in flight, InvalidStatus means the state moved. An
    applied write needs no retry at all, which halves the writes of a 504 storm."""
    return is_ambiguous(failure) or failure.code == "OperationDenied.InvalidStatus"


class _NotRead(enum.Enum):
    NOT_READ = "not read"


NOT_READ: Final = _NotRead.NOT_READ
# the status read after an answer: a status, None (the target no longer exists), or NOT_READ
Read = Union[str, None, _NotRead]  # noqa: UP007 - a runtime alias on Python 3.10


@dataclass(frozen=True)
class Retry:
    """Send the same call again (same token), after the backoff, if the retry policy allows."""

    failure: ApiFailure


@dataclass(frozen=True)
class NextRound:
    """A 200 left the target not failed over: send the next round's token (no backoff, no budget)."""

    status: str


@dataclass(frozen=True)
class Done:
    """The target's final outcome for this invocation."""

    outcome: Outcome
    reason: str
    status_after: str | None = None


Verdict = Union[Retry, NextRound, Done]  # noqa: UP007 - a runtime alias on Python 3.10


def _action(kind: TargetKind) -> str:
    return "FailoverDisk" + ("ReplicaPair" if kind == "pair" else "ReplicaGroup")


def after_accepted(kind: TargetKind, status: str | None) -> Done | NextRound:
    """A 200, and the status read after it. Only a target that reads failing over (or failed over) is done.

    The look is what tells a 200 that did the failover from one that replayed an earlier round: a
    replayed token answers "done" and changes nothing. Assumed of the API ([INF] in
    docs/idempotency.md): a 200 means applied, and visible to the next describe in the DR region.
    """
    action = _action(kind)
    if status is None:
        return Done("skipped", f"{action} answered 200, then the target no longer exists")
    if status in ALREADY:
        return Done("failedOver", f"{action} accepted; target is {status}", status)
    if status in GONE:
        return Done("skipped", f"{action} answered 200, then the target read {status}", status)
    if status == "failover_failed" or can_fail_over(kind, status):
        # a replay (an earlier incident's round, before a failback) or a round that failed: next token
        return NextRound(status)
    return Done("skipped", f"{action} answered 200 but the target reads {status}, which is not failed over", status)


def after_failure(
    kind: TargetKind, region: str, failure: ApiFailure, status: Read, *, ambiguous_before: bool
) -> Verdict:
    """A failed call, and the status read after it (NOT_READ when :func:`must_look` said no look was needed).

    ``ambiguous_before``: an earlier attempt of this round may have been applied without us hearing so;
    a target found failed over is then ours ("failedOver"), not another invocation's.
    """
    code = failure.code
    if must_look(failure):
        if status is NOT_READ:
            raise ValueError(f"{code} needs the target's status read before deciding")
        if status is None:
            return Done("skipped", "the target no longer exists")
        if status in ALREADY:
            # our own (ambiguous or in-flight) call did it, or a concurrent invocation did
            mine = ambiguous_before or is_ambiguous(failure)
            return Done("failedOver" if mine else "alreadyFailedOver", f"{code}; target is now {status}", status)
        if status in GONE:
            return Done("skipped", f"{code}; target is {status}", status)
        return Retry(failure)
    if failure.transient:
        return Retry(failure)
    if code == "NoSuchResource":
        return Done("skipped", "the target no longer exists (NoSuchResource)")
    if code in CONFIG_CODES:
        return Done(
            "failed",
            f"configuration error: {code} calling region {region}; the DR region "
            f"(FAILOVER_DR_REGION) must be the target's secondary region. {failure.message}",
        )
    if code in PERMISSION_CODES:
        return Done(
            "failed",
            f"permission denied ({code}): the function's RAM role needs {RAM_ACTION[kind]}"
            f" on this resource. {failure.message}",
        )
    return Done("failed", f"{code}: {failure.message}")
