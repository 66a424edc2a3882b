"""The report's tables as plain-text rows; the Markdown and HTML renderers escape every cell."""

from __future__ import annotations

from datetime import datetime, timezone

from replica_failover.drill.models import LeftoverDrill, TargetResult

from chaos.drill_report.summary import Summary

TARGET_HEADER = ["Kind", "Target", "Drill id", "RPO (s)", "Drill time (s)", "State", "Cleared", "Probe", "Problems"]
MISS_HEADER = ["Target", "Kind", "RPO (s)", "Over by (s)", "Recovery point", "Drill id"]
LEFTOVER_HEADER = ["Kind", "Target", "Drill id", "Status found", "Cleared"]
STATS_HEADER = ["Measured", "Within objective", "Min", "Median", "p90", "p99", "Max"]
TIMING_HEADER = ["Item", "Value"]


def when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(epoch)


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def probe_text(t: TargetResult) -> str:
    if t.probes is None:
        return "—"
    if not t.probes:
        return "no drill disk"
    failed = [p for p in t.probes if not p.passed]
    if not failed:
        return f"passed ({len(t.probes)})" if len(t.probes) > 1 else f"passed: {t.probes[0].detail}"
    return "; ".join(f"{p.disk_id}: {p.detail}" for p in failed)


def target_row(t: TargetResult, problems: list[str]) -> list[str]:
    return [
        t.kind,
        t.id,
        t.drill_id or "—",
        seconds(t.rpo_seconds),
        seconds(t.drill_seconds),
        t.status or "not started",
        yes_no(t.cleared) if t.drill_id else "nothing to clear",
        probe_text(t),
        "; ".join(problems) or "—",
    ]


def miss_row(t: TargetResult, objective: int) -> list[str]:
    over = None if t.rpo_seconds is None else t.rpo_seconds - objective
    return [t.id, t.kind, seconds(t.rpo_seconds), seconds(over), when(t.recover_point), t.drill_id or "—"]


def leftover_row(lo: LeftoverDrill) -> list[str]:
    return [lo.kind, lo.id, lo.drill_id, lo.status, yes_no(lo.cleared)]


def stats_row(s: Summary) -> list[str]:
    d = s.distribution
    within = d.count - len(s.misses)
    return [str(d.count), f"{within} of {d.count}", *(seconds(v) for v in (d.min, d.p50, d.p90, d.p99, d.max))]


def timing_rows(s: Summary) -> list[list[str]]:
    r = s.report
    drill_times = sorted(t.drill_seconds for t in r.targets if t.drill_seconds is not None)
    rows = [
        ["Started", when(r.started_at)],
        ["Finished", when(r.finished_at)],
        ["Duration (s)", seconds(s.duration_s)],
        ["Drills started", str(sum(1 for t in r.targets if t.drill_id))],
    ]
    if drill_times:
        mid = drill_times[(len(drill_times) - 1) // 2]
        rows.append(["Drill time min / median / max (s)",
                     " / ".join(seconds(v) for v in (drill_times[0], mid, drill_times[-1]))])  # fmt: skip
    return rows


def headline_rows(s: Summary) -> list[list[str]]:
    r = s.report
    met = s.rpo_met
    rpo = "not measured" if met is None else ("yes" if met else f"no: {len(s.misses)} of {s.distribution.count} miss")
    drill = r.action == "drill"  # a cleanup starts and measures nothing
    return [
        ["Route", f"{r.primary_region} → {r.dr_region}"],
        ["Action", r.action],
        *([["Targets", str(len(r.targets))], ["All drills executed", yes_no(s.all_executed)]] if drill else []),
        ["All drills cleared", yes_no(s.all_cleared)],
        *([[f"RPO objective ({s.objective} s) met", rpo]] if drill else []),
        ["Leftovers from an earlier run", str(len(r.leftovers))],
        ["Run id", r.run_id],
    ]


def origin_rows(s: Summary) -> list[list[str]]:
    """What the function's drill event said around the report (empty for a CLI report)."""
    d, r = s.doc, s.report
    rows: list[list[str]] = []
    if d.origin == "event":
        rows.append(["Source", "the function's manual drill event"])
        rows += [[k, v] for k, v in (("Status", d.status), ("Reason", d.reason), ("Request id", d.request_id)) if v]
    if r.error:
        rows.append(["Error", r.error])
    if r.interrupted:
        rows.append(["Interrupted", r.interrupted])
    return rows
