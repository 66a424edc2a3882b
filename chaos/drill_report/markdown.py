"""drill.md: the drill report as Markdown (a ticket, a chat message, a pull request).

Cells and sentences go through the game-day report's escaping (one line, pipes, backticks, brackets and
anything that could open an HTML tag neutralised). The histogram and the suggested commands sit in
fenced blocks: they hold only numbers, fixed characters and ids with the API's id syntax.
"""

from __future__ import annotations

from chaos.drill_report import cells
from chaos.drill_report.summary import Bin, Summary
from chaos.gameday.report import _md, _md_table

MAX_ROWS = 200
BAR = 40
MARK = {"pass": "✅", "warn": "⚠️", "fail": "❌"}


def text_histogram(bins: list[Bin], objective: int, width: int = BAR) -> list[str]:
    """One line per bin: ``█`` meets the objective, ``▒`` misses it; a rule where the objective falls."""
    if not bins:
        return []
    most = max(b.within + b.over for b in bins) or 1
    span = len(str(bins[-1].high))
    lines = []
    for b in bins:
        n = b.within + b.over
        cells_n = 0 if n == 0 else max(1, round(n / most * width))
        over = 0 if b.over == 0 else max(1, round(b.over / n * cells_n))
        bar = "█" * (cells_n - over) + "▒" * over
        lines.append(f"{b.low:>{span}}-{b.high:<{span}} s |{bar} {n}")
        if b.low < objective <= b.high:
            lines.append(f"{'':>{2 * span + 3}} +{'-' * 6} objective {objective} s (above this line: missed)")
    return lines


def render_markdown(s: Summary, *, max_rows: int = MAX_ROWS) -> str:
    r = s.report
    title = "Drill cleanup" if r.action == "drill-cleanup" else "Drill"
    out = [f"# {title} {_md(r.primary_region)} → {_md(r.dr_region)}: {MARK[s.verdict]} {s.label}", ""]
    out += _md_table(["Item", "Value"], cells.headline_rows(s) + cells.origin_rows(s))

    out += ["", "## What to do next", ""]
    for n, step in enumerate(s.steps, 1):
        if n > 1:
            out.append("")
        out.append(f"{n}. {MARK[step.severity]} {_md(step.text)}")
        if step.command:
            out += ["", "   ```bash", f"   {step.command}", "   ```"]

    if r.action == "drill":
        out += ["", f"## RPO against the objective ({s.objective} s)", ""]
        if s.distribution.count:
            out += _md_table(cells.STATS_HEADER, [cells.stats_row(s)])
            out += ["", "```text", *text_histogram(s.bins, s.objective), "```",
                    "", "`█` within the objective, `▒` over it; RPO = drill start - recovery point."]  # fmt: skip
        else:
            out.append("_No RPO was measured (no drill executed with a recovery point)._")

        out += ["", "## Targets missing the objective", ""]
        if s.misses:
            out += _md_table(cells.MISS_HEADER, [cells.miss_row(t, s.objective) for t in s.misses[:max_rows]])
            if len(s.misses) > max_rows:
                out += ["", f"_Showing the worst {max_rows} of {len(s.misses)}; drill.json has all of them._"]
        else:
            out.append("_None._" if s.distribution.count else "_Unknown: nothing was measured._")

        out += ["", "## Targets", ""]
        if s.rows:
            shown = s.rows[:max_rows]
            out += _md_table(cells.TARGET_HEADER, [cells.target_row(t, p) for t, p in shown])
            if len(s.rows) > len(shown):
                out += ["", f"_Showing {len(shown)} of {len(s.rows)} targets, problem targets first; "
                            "drill.json has all of them._"]  # fmt: skip
        else:
            out.append("_No target was drilled._")

    out += ["", "## Leftovers cleared from an earlier run", ""]
    if r.leftovers:
        out += _md_table(cells.LEFTOVER_HEADER, [cells.leftover_row(lo) for lo in r.leftovers[:max_rows]])
    else:
        out.append("_None found._")
    if s.uncleared or r.not_detached:
        out += ["", "## Still present", ""]
        out += _md_table(["What", "Ids"], [["Drills not cleared", ", ".join(s.uncleared) or "—"],
                                          ["Drill disks not detached", ", ".join(r.not_detached) or "—"]])  # fmt: skip

    out += ["", "## Timings", ""]
    out += _md_table(cells.TIMING_HEADER, cells.timing_rows(s))
    return "\n".join(out) + "\n"
