"""What one game-day run measured: final state, ledger, results, FC records. The checks only read it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chaos.emulator.ebs.urls import WRITE_ACTIONS
from chaos.gameday.eligibility import TargetKey
from chaos.gameday.recovery_checks import RecoveryView


@dataclass
class Observations:
    """Everything measured in one run; :mod:`chaos.gameday.expectations` judges it."""

    primary: str
    eligible: set[TargetKey]
    initial: dict[TargetKey, str]
    final: dict[TargetKey, str]
    ledger: dict[str, list[dict[str, Any]]]
    ledger_available: bool
    # (label, status, allowed statuses of that event or None for expect.resultStatus) per delivered copy
    invocation_status: list[tuple[str, str, list[str] | None]]
    final_results: list[dict[str, Any]]  # the last result of each invocation that produced one
    attempt_results: list[dict[str, Any]]  # every attempt's result, FC re-runs included
    fault_rules: list[dict[str, Any]]
    fc_records: list[dict[str, Any]] = field(default_factory=list)
    async_failures: list[dict[str, Any]] = field(default_factory=list)
    trigger_seconds: float = 0.0
    notifications: list[dict[str, Any]] = field(default_factory=list)  # what the endpoints received
    notify_channels: list[str] = field(default_factory=list)  # the endpoints configured: robot, webhook
    # (label, writes made while the step ran, allowed) for events with maxWriteCalls
    step_writes: list[tuple[str, int, int]] = field(default_factory=list)
    # (label, result, required fields) of each delivery whose event has resultFields
    event_results: list[tuple[str, dict[str, Any] | None, dict[str, list[Any]]]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # what must appear nowhere; never written to the journal
    logs: str = ""  # the function's log lines (in-process invocations)
    recovery: RecoveryView | None = None  # the scenario declares a recovery world

    def effects(self) -> Counter[TargetKey]:
        """Replication effects per pair/group (ebs's; ECS and alidns effects are the recovery's)."""
        return Counter(
            (str(e["targetType"]), str(e["targetId"]))
            for e in self.ledger.get("effects", [])
            if e.get("service", "ebs") == "ebs"
        )

    def ebs_requests(self) -> list[dict[str, Any]]:
        """The ledger's ebs requests (CloudMonitor's carry ``service: cms``)."""
        return [r for r in self.ledger.get("requests", []) if r.get("service", "ebs") == "ebs"]

    def cms_calls(self) -> int:
        return sum(1 for r in self.ledger.get("requests", []) if r.get("service") == "cms")

    def api_calls(self) -> int:
        if self.ledger_available:
            return len(self.ebs_requests())
        return sum(int(r.get("apiCalls") or 0) for r in self.attempt_results)

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.ebs_requests() if r.get("action") in WRITE_ACTIONS]

    def write_calls(self) -> int:
        if self.ledger_available:
            return len(self.writes())
        return sum(int(r.get("writeCalls") or 0) for r in self.attempt_results)

    def retries(self) -> int:
        """The retries the function reports spending; without results, ledger calls repeating a token."""
        if self.attempt_results:
            return sum(int(r.get("retries") or 0) for r in self.attempt_results)
        seen: set[tuple[Any, ...]] = set()
        repeats = 0
        for r in self.writes():
            key = (r.get("action"), r.get("target"), r.get("clientToken"))
            repeats += key in seen
            seen.add(key)
        return repeats

    def faults_fired(self) -> int:
        return sum(int(r.get("fired") or 0) for r in self.fault_rules)

    def fc_attempts(self) -> int:
        return max((len(r.get("attempts") or []) for r in self.fc_records), default=0)

    def last_outcomes(self) -> dict[str, dict[str, Any]]:
        """Target id -> its entry in the last final result that names it."""
        out: dict[str, dict[str, Any]] = {}
        for res in self.final_results:
            for t in res.get("targets") or []:
                out[str(t.get("id"))] = t
        return out
