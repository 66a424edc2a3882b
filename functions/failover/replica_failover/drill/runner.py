"""Run a drill of one route and always clear it; find and clear what a crashed run left behind.

Order: select the targets (DR site's view, route, ids, tags; refuse above the blast-radius cap before
any write) -> clear leftovers (every drill Describe*Drills still lists on a selected target) ->
start one drill per target (one ClientToken per run and target, so a retried Start is one drill) ->
wait until each is ``executed`` or failed, or the deadline -> measure RPO (``StartAt`` -
``RecoverPoint``) and drill time -> **clear**, in a ``finally``: on success, failure, deadline,
``KeyboardInterrupt`` and :class:`Terminated` (SIGTERM) alike. A drill never calls a failover.

Time comes from ``now``/``sleep`` (wall clock by default; tests pass the emulator's clock).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from replica_failover.drill.client import DrillApi, DrillApiError, Kind, Target
from replica_failover.drill.models import (
    DrillReport,
    DrillRequest,
    LeftoverDrill,
    ProbeResult,
    TargetResult,
    summarise,
)
from replica_failover.drill.probe import DiskApi, Prober

CLEARABLE = frozenset({"executed", "execute_failed", "clear_failed"})
SETTLED = frozenset({"executed", "execute_failed"})
START_ATTEMPTS = 3  # a transient failure is retried with the same ClientToken
MAX_ROUNDS = 100_000  # polling rounds, on top of the deadlines (a clock that never moves)
Stage = Callable[[str], None]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process was, so the ``finally`` that clears drills runs."""


class DrillRefused(ValueError):
    """The request cannot be drilled as asked (unknown ids, above the cap); nothing was written."""


@dataclass
class Clock:
    now: Callable[[], float] = time.time
    sleep: Callable[[float], object] = time.sleep  # what it returns is ignored


@dataclass
class _Drill:
    kind: Kind
    target_id: str
    drill_id: str
    result: TargetResult | LeftoverDrill
    requested_at: float = 0.0
    doc: dict[str, Any] = field(default_factory=dict)


def _noop(_stage: str) -> None:
    return None


def _earliest(deadline: float, bound: float | None) -> float:
    return deadline if bound is None else min(deadline, bound)


class DrillRunner:
    def __init__(
        self, api: DrillApi, request: DrillRequest, *, clock: Clock | None = None, stage: Stage | None = None,
        run_id: str | None = None, disks: DiskApi | None = None, execute_until: float | None = None,
        clear_until: float | None = None,
    ) -> None:  # fmt: skip
        self.api = api
        # clock times an invocation's deadline sets: stop starting and waiting at ``execute_until`` so the
        # clear can finish by ``clear_until`` (both on top of the request's own timeouts)
        self.execute_until = execute_until
        self.clear_until = clear_until
        self.req = request
        self.clock = clock or Clock()
        self.stage = stage or _noop
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self.prober: Prober | None = None
        self.clear_refused: dict[str, str] = {}  # drill id -> code, for clears refused for good
        if request.attach_instance_id is not None:
            if disks is None:
                raise ValueError("attaching to a test instance needs an ECS client")
            self.prober = Prober(
                disks, request.dr_region, request.attach_instance_id, list(request.probe_command or []),
                now=self.clock.now, sleep=self.clock.sleep, poll_seconds=request.poll_seconds,
                timeout_seconds=request.probe_timeout_seconds, stage=self.stage,
            )  # fmt: skip

    # ------------------------------------------------------------ selection
    def select(self) -> list[Target]:
        """The route's pairs and groups the request names (all of them when it names none)."""
        r = self.req
        want_pairs = r.pair_ids is not None or r.group_ids is None
        want_groups = r.group_ids is not None or r.pair_ids is None
        found: list[Target] = []
        if want_groups:
            found += self.api.targets(r.dr_region, "group", r.group_ids, r.tags)
        if want_pairs:
            pairs = self.api.targets(r.dr_region, "pair", r.pair_ids, r.tags)
            # a grouped pair is drilled with its group unless named on its own
            found += [p for p in pairs if r.pair_ids is not None or not p.group_id]
        on_route = [t for t in found if (t.source_region, t.destination_region) == (r.primary_region, r.dr_region)]
        named = set(r.pair_ids or []) | set(r.group_ids or [])
        missing = sorted(named - {t.id for t in on_route})
        if missing:
            raise DrillRefused(f"not on route {r.primary_region}->{r.dr_region}: {', '.join(missing[:10])}")
        if not on_route:
            raise DrillRefused(f"no replica pair or group on route {r.primary_region}->{r.dr_region} matches")
        if len(on_route) > r.max_targets:
            raise DrillRefused(
                f"{len(on_route)} targets exceed the blast-radius cap of {r.max_targets}: name pairs, groups or "
                "tags, or raise the cap"
            )
        return sorted(on_route, key=lambda t: (t.kind, t.id))

    # ------------------------------------------------------------ the run
    def run(self) -> DrillReport:
        report = DrillReport(
            run_id=self.run_id, primary_region=self.req.primary_region, dr_region=self.req.dr_region,
            started_at=self.clock.now(),
        )  # fmt: skip
        mine: list[_Drill] = []
        try:
            targets = self.select()
            self.stage("selected")
            report.leftovers = self._clear_leftovers(targets, report)
            self.stage("leftovers")
            for target in targets:
                result = TargetResult(kind=target.kind, id=target.id)
                report.targets.append(result)
                self._start(target, result, mine)
            self._wait(mine)
            self._measure(mine)
            self.stage("measured")
            self._probe(mine)
        except DrillRefused as exc:
            report.error = str(exc)
        except DrillApiError as exc:
            report.error = f"ebs answered {exc}"
        except KeyboardInterrupt as exc:
            report.interrupted = type(exc).__name__
        finally:
            # a second interrupt here leaves drills behind: the next run's leftover pass clears them
            if self.prober is not None:
                report.not_detached = self.prober.detach_all()
            report.not_cleared += self._clear(mine)
            report.clear_refused = dict(self.clear_refused)
            report.rpo = summarise(report.targets, self.req.objective_seconds)
            report.finished_at = self.clock.now()
        return report

    def cleanup(self) -> DrillReport:
        """Clear every drill still listed on the selected targets (``drill cleanup``)."""
        report = DrillReport(
            run_id=self.run_id, action="drill-cleanup", primary_region=self.req.primary_region,
            dr_region=self.req.dr_region, started_at=self.clock.now(),
        )  # fmt: skip
        try:
            report.leftovers = self._clear_leftovers(self.select(), report)
        except DrillRefused as exc:
            report.error = str(exc)
        except DrillApiError as exc:
            report.error = f"ebs answered {exc}"
        except KeyboardInterrupt as exc:
            report.interrupted = type(exc).__name__
        report.finished_at = self.clock.now()
        return report

    # ------------------------------------------------------------ steps
    def _clear_leftovers(self, targets: list[Target], report: DrillReport) -> list[LeftoverDrill]:
        found: list[_Drill] = []
        for t in targets:
            for doc in self.api.drills(self.req.dr_region, t.kind, t.id):
                left = LeftoverDrill(kind=t.kind, id=t.id, drill_id=str(doc["DrillId"]), status=str(doc["Status"]))
                found.append(_Drill(t.kind, t.id, left.drill_id, left, doc=doc))
        report.leftovers = [d.result for d in found if isinstance(d.result, LeftoverDrill)]
        report.not_cleared = self._clear(found)
        report.clear_refused = dict(self.clear_refused)
        return report.leftovers

    def _start(self, target: Target, result: TargetResult, mine: list[_Drill]) -> None:
        token = f"rf-drill-{self.run_id}-{target.id}"[:64]
        if self.execute_until is not None and self.clock.now() >= self.execute_until:
            result.error = "DeadlineExceeded"  # not started: no time left to wait for it and clear it
            return
        for attempt in range(1, START_ATTEMPTS + 1):
            requested = self.clock.now()
            try:
                drill_id = self.api.start(self.req.dr_region, target.kind, target.id, token)
            except DrillApiError as exc:
                if exc.transient and attempt < START_ATTEMPTS:
                    self.clock.sleep(self.req.poll_seconds)
                    continue
                result.error = exc.code
                return
            result.drill_id = drill_id
            result.status = "executing"
            mine.append(_Drill(target.kind, target.id, drill_id, result, requested_at=requested))
            self.stage("started")
            if self.req.start_interval_seconds:
                self.clock.sleep(self.req.start_interval_seconds)
            return

    def _wait(self, mine: list[_Drill]) -> None:
        deadline = _earliest(self.clock.now() + self.req.execute_timeout_seconds, self.execute_until)
        pending = list(mine)
        for _round in range(MAX_ROUNDS):
            if not pending:
                return
            for d in list(pending):
                try:
                    doc = self._find(d)
                except DrillApiError as exc:
                    if not exc.transient:
                        raise
                    continue  # a throttled or failed poll: ask again next round
                if doc is None:
                    d.result.status = "gone"
                    pending.remove(d)
                    continue
                d.doc = doc
                d.result.status = str(doc["Status"])
                if d.result.status in SETTLED:
                    assert isinstance(d.result, TargetResult)
                    if d.result.status == "executed":
                        d.result.drill_seconds = round(self.clock.now() - d.requested_at, 3)
                    else:
                        d.result.error = str(doc.get("StatusMessage") or "execute_failed")
                    pending.remove(d)
            self.stage("waiting")
            if not pending:
                return
            if self.clock.now() >= deadline:
                for d in pending:
                    assert isinstance(d.result, TargetResult)
                    d.result.error = "DeadlineExceeded"
                return
            self.clock.sleep(self.req.poll_seconds)

    def _measure(self, mine: list[_Drill]) -> None:
        for d in mine:
            result = d.result
            assert isinstance(result, TargetResult)
            start_at, point = d.doc.get("StartAt"), d.doc.get("RecoverPoint")
            if isinstance(start_at, int) and isinstance(point, int) and point > 0:
                result.start_at, result.recover_point = start_at, point
                result.rpo_seconds = start_at - point
                result.meets_objective = result.rpo_seconds <= self.req.objective_seconds

    def _probe(self, mine: list[_Drill]) -> None:
        if self.prober is None:
            return
        for d in mine:
            result = d.result
            assert isinstance(result, TargetResult)
            if result.status != "executed":
                continue
            if d.kind == "pair":
                disks = [str(d.doc.get("DrillDiskId") or "")]
            else:
                disks = [str(p.get("DrillDiskId") or "") for p in d.doc.get("PairsInfo") or []]
            result.probes = []
            for disk_id in disks:
                outcome = self.prober.probe(d.target_id, disk_id)
                result.probes.append(ProbeResult(disk_id=disk_id, passed=outcome.passed, detail=outcome.detail))

    def _find(self, d: _Drill) -> dict[str, Any] | None:
        for doc in self.api.drills(self.req.dr_region, d.kind, d.target_id):
            if doc.get("DrillId") == d.drill_id:
                return doc
        return None

    def _clear(self, drills: list[_Drill]) -> list[str]:
        """Clear each drill and wait until Describe*Drills no longer lists it; the ids still listed at the
        deadline or refused for good (e.g. ``Forbidden.Action``).

        Clear is retried while the drill is ``executing``/``clearing`` or the API answers
        ``InvalidStatus`` or a transient error; ``clear_failed`` is cleared again.
        """
        if not drills:
            return []
        self.stage("clearing")
        deadline = _earliest(self.clock.now() + self.req.clear_timeout_seconds, self.clear_until)
        pending = list(drills)
        refused: list[_Drill] = []  # a final answer (e.g. Forbidden): no point asking again
        for _round in range(MAX_ROUNDS):
            if not pending:
                break
            acted = False  # a Clear just went through: look again before waiting
            for d in list(pending):
                try:
                    doc = self._find(d)
                    status = None if doc is None else str(doc["Status"])
                    if status in CLEARABLE:
                        self.api.clear(self.req.dr_region, d.kind, d.target_id, d.drill_id)
                        acted = True
                except DrillApiError as exc:
                    if exc.code == "NoSuchResource":
                        status = None
                    elif exc.code == "OperationDenied.InvalidStatus" or exc.transient:
                        continue
                    else:
                        self.clear_refused[d.drill_id] = exc.code
                        refused.append(d)
                        pending.remove(d)
                        continue
                if status is None:
                    d.result.cleared = True
                    pending.remove(d)
            if not pending or self.clock.now() >= deadline:
                break
            if not acted:
                self.clock.sleep(self.req.poll_seconds)
        self.stage("cleared")
        return [d.drill_id for d in pending + refused]
