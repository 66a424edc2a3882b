"""What a drill report says, worked out once for both renderers: verdict, RPO distribution, misses, next steps.

Everything here is plain text and numbers; the Markdown and HTML renderers escape it where it lands.
Target ids and region ids go into suggested commands only when they have the API's id syntax, so a
command is always safe to copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from replica_failover.config import is_group_id, is_pair_id, is_region_id
from replica_failover.drill.models import RPO_OBJECTIVE_SECONDS, DrillReport, TargetResult, percentile

from chaos.drill_report.source import DrillDocument

Verdict = Literal["pass", "warn", "fail"]
HISTOGRAM_BINS = 12
MAX_IDS_IN_COMMAND = 20


@dataclass(frozen=True)
class Distribution:
    count: int
    min: int | None = None
    p50: int | None = None
    p90: int | None = None
    p99: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class Bin:
    """RPOs in ``(low, high]`` (the first bin also holds 0 and below): how many meet the objective, how many miss."""

    low: int
    high: int
    within: int
    over: int


@dataclass(frozen=True)
class Step:
    severity: Verdict
    text: str
    command: str | None = None


@dataclass
class Summary:
    doc: DrillDocument
    objective: int
    distribution: Distribution
    bins: list[Bin]
    misses: list[TargetResult]  # worst first
    failed: list[TargetResult]  # refused, failed, deadline, gone
    uncleared: list[str]  # drill ids still present
    unmeasured: list[TargetResult]  # executed, but no recovery point reported
    probe_failed: list[TargetResult]
    rows: list[tuple[TargetResult, list[str]]]  # problem targets first
    verdict: Verdict
    label: str
    steps: list[Step] = field(default_factory=list)

    @property
    def report(self) -> DrillReport:
        return self.doc.report

    @property
    def all_executed(self) -> bool:
        r = self.report
        return bool(r.targets) and not self.failed and not r.error and not r.interrupted

    @property
    def all_cleared(self) -> bool:
        return not self.uncleared and not self.report.not_detached

    @property
    def rpo_met(self) -> bool | None:
        """None when nothing was measured."""
        if self.distribution.count == 0:
            return None
        return not self.misses

    @property
    def duration_s(self) -> float | None:
        r = self.report
        return None if r.finished_at is None else round(r.finished_at - r.started_at, 3)


def distribution(values: list[int]) -> Distribution:
    if not values:
        return Distribution(0)
    v = sorted(values)
    return Distribution(len(v), v[0], percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99), v[-1])


def nice_step(raw: float) -> int:
    """The smallest 1/2/2.5/5 x 10^k (at least 1 s) not below ``raw``."""
    if raw <= 1:
        return 1
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return max(1, math.ceil(m * mag))
    return math.ceil(10 * mag)


def histogram(values: list[int], objective: int, bins: int = HISTOGRAM_BINS) -> list[Bin]:
    """Equal bins from 0 past both the largest RPO and the objective, each split into within / over."""
    if not values:
        return []
    top = max(*values, objective)
    raw = top * 1.05 / bins
    k = round(objective / raw)
    # a step that divides the objective puts it on a bin edge, so no bin mixes met and missed
    step = objective // k if k >= 1 and objective % k == 0 else nice_step(raw)
    n = max(math.ceil(max(values) / step), math.ceil(objective / step) + 1, 1)
    within, over = [0] * n, [0] * n
    for value in values:
        k = min(max(math.ceil(value / step) - 1, 0), n - 1)
        (over if value > objective else within)[k] += 1
    return [Bin(k * step, (k + 1) * step, within[k], over[k]) for k in range(n)]


def _uncleared(t: TargetResult, report: DrillReport) -> bool:
    return t.drill_id is not None and (not t.cleared or t.drill_id in report.not_cleared)


def problems(t: TargetResult, report: DrillReport, objective: int) -> list[str]:
    """Why a target needs a look, most severe first; empty when it went as planned."""
    out: list[str] = []
    if t.error:
        out.append(f"failed: {t.error}")
    elif t.status != "executed":
        out.append(f"not executed ({t.status or 'not started'})")
    if _uncleared(t, report):
        out.append("not cleared")
    out += [f"probe failed on {p.disk_id}: {p.detail}" for p in t.probes or [] if not p.passed]
    if t.rpo_seconds is not None and t.rpo_seconds > objective:
        out.append(f"RPO {t.rpo_seconds} s over {objective} s")
    elif t.rpo_seconds is None and t.status == "executed":
        out.append("no RPO measured")
    return out


def _severity(found: list[str]) -> int:
    weights = {"failed": 100, "not executed": 90, "not cleared": 95, "probe failed": 70, "RPO": 50, "no RPO": 30}
    return sum(next((w for k, w in weights.items() if p.startswith(k)), 10) for p in found)


def _ids_option(targets: list[TargetResult]) -> str:
    """``--pair x --group y`` for ids with the API's syntax (others are left out, never quoted into a command)."""
    parts: list[str] = []
    for t in targets[:MAX_IDS_IN_COMMAND]:
        if t.kind == "pair" and is_pair_id(t.id):
            parts.append(f"--pair {t.id}")
        elif t.kind == "group" and is_group_id(t.id):
            parts.append(f"--group {t.id}")
    return " ".join(parts)


def command(report: DrillReport, sub: str, targets: list[TargetResult] | None = None) -> str:
    primary = report.primary_region if is_region_id(report.primary_region) else "<primary-region>"
    dr = report.dr_region if is_region_id(report.dr_region) else "<dr-region>"
    targets = targets or []
    # a cleanup of more targets than a command should name clears the whole route (only leftovers go)
    ids = "" if sub == "cleanup" and len(targets) > MAX_IDS_IN_COMMAND else _ids_option(targets)
    return " ".join(p for p in ("replica-failover drill", sub, "--primary", primary, "--dr", dr, ids) if p)


def _first(targets: list[TargetResult]) -> str:
    """What a ``drill run`` step's command leaves out when there are many targets."""
    if len(targets) <= MAX_IDS_IN_COMMAND:
        return ""
    return f" The command names the first {MAX_IDS_IN_COMMAND}; drill.json lists them all."


def _names(targets: list[TargetResult], limit: int = 10) -> str:
    shown = ", ".join(t.id for t in targets[:limit])
    return shown + (f" and {len(targets) - limit} more" if len(targets) > limit else "")


def next_steps(s: Summary) -> list[Step]:
    r, steps = s.report, []
    if r.error:
        wrote = "nothing was written" if not r.targets else "drills it started were cleared unless listed below"
        steps.append(Step("fail", f"The run stopped: {r.error}. {wrote.capitalize()}. Fix the selection "
                                  "(ids, tags, --max-targets) or the credentials and run the drill again.",
                          command(r, "run")))  # fmt: skip
    if r.interrupted:
        steps.append(Step("fail", f"The run was interrupted ({r.interrupted}). Its drills were cleared on the "
                                  "way out unless listed below; run the cleanup to be sure none is left.",
                          command(r, "cleanup")))  # fmt: skip
    if r.not_detached:
        steps.append(Step("fail", f"{len(r.not_detached)} drill disk(s) are still attached to the test instance "
                                  f"({', '.join(r.not_detached[:10])}): detach them (ECS DetachDisk) before the "
                                  "cleanup can clear their drills."))  # fmt: skip
    if s.uncleared:
        targets = [t for t in r.targets if _uncleared(t, r)]
        steps.append(Step("fail", f"{len(s.uncleared)} drill(s) are still present and cost money (pay-as-you-go "
                                  "disks). Run the cleanup; it should exit 0 with notCleared empty. A clear refused "
                                  "with Forbidden.Action means the key lacks ebs:ClearPairDrill / "
                                  "ebs:ClearReplicaGroupDrill.", command(r, "cleanup", targets)))  # fmt: skip
    by_error: dict[str, list[TargetResult]] = {}
    for t in s.failed:
        by_error.setdefault(t.error or f"status {t.status or 'not started'}", []).append(t)
    for error, targets in sorted(by_error.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        why = ("did not reach executed before --timeout: check the target's replication status, or raise --timeout"
               if error == "DeadlineExceeded" else f"failed with {error}: look the code up in the EBS API errors, "
               "fix the cause (a target not replicating, a missing permission), then drill it again")  # fmt: skip
        steps.append(Step("fail", f"{len(targets)} target(s) ({_names(targets)}) {why}.{_first(targets)}",
                          command(r, "run", targets)))  # fmt: skip
    if s.probe_failed:
        steps.append(Step("fail", f"The probe failed on {len(s.probe_failed)} target(s) ({_names(s.probe_failed)}): "
                                  "the drill disk attached but its data did not pass your check. Look at the "
                                  "application's consistency on that disk before trusting a failover."
                                  + _first(s.probe_failed),
                          command(r, "run", s.probe_failed)))  # fmt: skip
    if s.misses:
        worst = s.misses[0]
        steps.append(Step("warn", f"{len(s.misses)} target(s) miss the {s.objective} s RPO objective (worst: "
                                  f"{worst.id}, {worst.rpo_seconds} s): a failover now would lose up to that much "
                                  "data. Check their replication (status, bandwidth, LastRecoverPoint) with the "
                                  f"storage owner, then drill them again: {_names(s.misses)}.{_first(s.misses)}",
                          command(r, "run", s.misses)))  # fmt: skip
    if s.unmeasured:
        steps.append(Step("warn", f"{len(s.unmeasured)} drill(s) executed without a recovery point "
                                  f"({_names(s.unmeasured)}): their RPO is unknown; drill them again."
                                  + _first(s.unmeasured),
                          command(r, "run", s.unmeasured)))  # fmt: skip
    if not steps:
        what = "Every leftover drill was cleared." if r.action == "drill-cleanup" else (
            "Every drill executed, met the RPO objective and was cleared.")  # fmt: skip
        steps.append(Step("pass", f"{what} Nothing to do: keep drill.json as evidence and the drill on its schedule."))
    return steps


def summarise(doc: DrillDocument) -> Summary:
    r = doc.report
    objective = r.rpo.objective_seconds if r.rpo is not None else RPO_OBJECTIVE_SECONDS
    values = [t.rpo_seconds for t in r.targets if t.rpo_seconds is not None]
    misses = sorted((t for t in r.targets if t.rpo_seconds is not None and t.rpo_seconds > objective),
                    key=lambda t: (-(t.rpo_seconds or 0), t.kind, t.id))  # fmt: skip
    failed = [t for t in r.targets if t.error or t.status != "executed"]
    uncleared = sorted({*r.not_cleared, *(t.drill_id for t in r.targets if _uncleared(t, r) and t.drill_id)})
    unmeasured = [t for t in r.targets if t.status == "executed" and not t.error and t.rpo_seconds is None]
    probe_failed = [t for t in r.targets if any(not p.passed for p in t.probes or [])]
    rows = [(t, problems(t, r, objective)) for t in r.targets]
    rows.sort(key=lambda row: (-_severity(row[1]), row[0].kind, row[0].id))
    broken = bool(r.error or r.interrupted or failed or uncleared or r.not_detached or probe_failed)
    if r.action == "drill-cleanup":
        broken = bool(r.error or r.interrupted or uncleared)
    verdict: Verdict = "fail" if broken else ("warn" if misses or unmeasured else "pass")
    label = {"fail": "FAIL", "warn": "RPO MISSED" if misses else "RPO UNKNOWN", "pass": "PASS"}[verdict]
    s = Summary(doc, objective, distribution(values), histogram(values, objective), misses, failed, uncleared,
                unmeasured, probe_failed, rows, verdict, label)  # fmt: skip
    s.steps = next_steps(s)
    return s
