"""Operator actions that are not incidents: ``drill``, ``undo``, ``reprotect``, ``failback``.

An event ``{"action": "<one of these>", ...}`` is routed here before the incident intake: these
actions never fail a region over on a signal, so they skip triage, confirmation and the failover
plan. Each action lives in the module :data:`ACTIONS` names, which exposes
``run(payload, call) -> dict`` returning one machine-readable result (``ok``, ``status``, ``reason``,
``summary`` ...). A result with ``status: "pending"`` makes the handler raise, so FC retries it.
A permanent bad outcome gets the same ``failure: {kind, cause, reason, errorCodes, targetIds}`` as a
failover result (:func:`with_failure`), so ``cause == "permission"`` tells a missing RAM action apart.

Nothing here imports an action's module until an event asks for it (cold start).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from replica_failover.config import OPERATIONS, Settings
from replica_failover.errors import OPERATION_DISABLED, UNKNOWN_SHAPE, EventError
from replica_failover.log import JsonLogger

# action -> module holding ``run(payload: dict[str, Any], call: OperationCall) -> dict[str, Any]``
ACTIONS: Final[dict[str, str]] = {
    "drill": "replica_failover.drill.event",
    "undo": "replica_failover.reverse.event",
    "reprotect": "replica_failover.reverse.event",
    "failback": "replica_failover.reverse.event",
}

NAMES: Final = OPERATIONS
# The deployed function that has FAILOVER_OPERATIONS set and the role these actions need (template.yml).
OPERATIONS_FUNCTION: Final = "replica-failover-ops"
# `"action"` followed by one of the operations' names: a cheap pre-check on the raw bytes, so an alarm
# never pays for more than one regular-expression search. The decoded payload decides.
_CANDIDATE: Final = re.compile(rb'"action"\s*:\s*"(drill|undo|reprotect|failback)"')
# an API error code as the actions report it ("Forbidden.Action", "OperationDenied.InvalidStatus", "Forbidden")
_CODE: Final = re.compile(r"\b(?:[A-Z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)+|Forbidden|NoPermission)\b")
_CODE_KEYS: Final = ("code", "error")


@dataclass(frozen=True)
class OperationCall:
    """What an action needs from the invocation, beside its payload."""

    context: Any
    env: Mapping[str, str]
    settings: Settings
    log: JsonLogger
    request_id: str | None
    deadline_at: float  # time.monotonic() by which the action must have returned
    started: float  # time.time() when the invocation started


def carries_operation(raw: bytes | str) -> bool:
    blob = raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw)
    return _CANDIDATE.search(blob) is not None


def operation_payload(raw: bytes | str, settings: Settings) -> dict[str, Any] | None:
    """The decoded payload when it is an operation this build knows; None when it is another event.

    Raises EventError for a payload that is not a JSON object, names an action not built in, or an
    action this function's FAILOVER_OPERATIONS does not enable (nothing is called then).
    """
    from replica_failover.intake.decode import load

    payload = load(raw, settings.max_event_bytes)
    action = payload.get("action")
    if action not in NAMES:  # e.g. an alarm whose text merely mentions such an action
        return None
    if action not in ACTIONS:
        raise EventError(UNKNOWN_SHAPE, f"action {action!r} is not available in this deployment")
    if action not in settings.operations:
        raise EventError(
            OPERATION_DISABLED,
            f"action {action!r} is not enabled on this function (FAILOVER_OPERATIONS); operator actions run "
            f"on the operations function ({OPERATIONS_FUNCTION}), whose role grants them",
        )
    return payload


def run_operation(payload: dict[str, Any], call: OperationCall) -> dict[str, Any]:
    """Run the action. It raises EventError only before its first write (the handler rejects then)."""
    module = importlib.import_module(ACTIONS[str(payload["action"])])
    result: dict[str, Any] = module.run(payload, call)
    return with_failure(result)


def with_failure(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with ``failure`` set (None unless its status is a permanent failure), from the API
    codes its fields name: the actions' ``code``/``error`` fields at any depth, and its reason."""
    if "failure" in result:
        return result
    from replica_failover.result import failure_for

    codes: set[str] = set(_CODE.findall(str(result.get("reason") or "")))
    failed: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _CODE_KEYS and isinstance(value, str):
                    codes.update(_CODE.findall(value))
                else:
                    walk(value)
            bad = node.get("outcome") in ("failed", "blocked") or node.get("error")
            if node.get("kind") in ("pair", "group") and bad:  # a target of the action that did not make it
                failed.append(str(node.get("id")))
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in result.items() if k != "reason"})
    failure = failure_for(str(result.get("status")), str(result.get("reason") or ""), codes=sorted(codes))
    if failure is not None:
        failure.target_ids = sorted(set(failed))
    result["failure"] = failure.model_dump(mode="json", by_alias=True) if failure else None
    return result
