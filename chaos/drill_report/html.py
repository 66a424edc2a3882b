"""drill.html: one self-contained page (inline CSS and SVG, no script, no fetch) in the game days' style.

A Content-Security-Policy meta tag allows no script and no network at all, so the page opens from a CI
artifact store or an air-gapped laptop, and a string that slipped through escaping still could not run.
Everything from the report (ids, API codes, messages) is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html

from chaos.drill_report import cells
from chaos.drill_report.summary import Bin, Distribution, Summary

MAX_ROWS = 2000  # the page stays light; drill.json has every target
COLOURS = {"pass": "#15803d", "warn": "#b45309", "fail": "#b91c1c"}
WITHIN, OVER = "#16a34a", "#dc2626"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
SVG_W, SVG_H, LEFT, RIGHT, TOP, BOTTOM = 760, 260, 48, 20, 30, 54

_CSS = """
:root{--fg:#111827;--mut:#6b7280;--line:#e5e7eb}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0;background:#f9fafb}
main{max-width:1360px;margin:0 auto;padding:16px 20px 40px}
.verdict{color:#fff;padding:18px 24px;border-radius:10px;display:flex;gap:24px;align-items:center}
.verdict .big{font-size:40px;font-weight:800;letter-spacing:.04em;white-space:nowrap}
.verdict h1{font-size:22px;margin:0}.verdict .meta{opacity:.92;font-size:13px}
.pass{background:#15803d}.warn{background:#b45309}.fail{background:#b91c1c}
h2{font-size:17px;margin:26px 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 12px;min-width:130px}
.card .k{color:var(--mut);font-size:12px}.card .v{font-size:20px;font-weight:600}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);width:100%}
th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top;font-size:13px}
th{background:#f3f4f6;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.problem td{background:#fef2f2}
.steps li{margin:6px 0}.steps .fail{color:#991b1b;background:none}.steps .warn{color:#92400e;background:none}
.steps .pass{color:#166534;background:none}
pre{background:#111827;color:#f9fafb;padding:8px 12px;border-radius:6px;overflow-x:auto;margin:4px 0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.note{color:var(--mut);font-size:13px}
.chart{background:#fff;border:1px solid var(--line);border-radius:8px;padding:6px;display:inline-block;max-width:100%}
.chart svg{max-width:100%;height:auto}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:11px;fill:#374151}
svg .axis{stroke:#9ca3af}svg .objective{stroke:#111827;stroke-width:2;stroke-dasharray:6 4}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: list[list[str]], num: frozenset[int] = frozenset(),
           problem: list[bool] | None = None) -> str:  # fmt: skip
    """Plain-text cells, escaped here."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for n, row in enumerate(rows):
        cls = ' class="problem"' if problem and problem[n] else ""
        tds = "".join(f'<td class="num">{_e(c)}</td>' if i in num else f"<td>{_e(c)}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def histogram_svg(bins: list[Bin], objective: int, dist: Distribution) -> str:
    """Stacked bars (green within the objective, red over it), a dashed objective line, p50/p90/p99 ticks."""
    plot_w, plot_h = SVG_W - LEFT - RIGHT, SVG_H - TOP - BOTTOM
    top_x = bins[-1].high
    most = max(b.within + b.over for b in bins) or 1

    def x(v: float) -> float:
        return round(LEFT + max(0.0, min(v, top_x)) / top_x * plot_w, 1)

    def y(n: int) -> float:
        return round(TOP + plot_h - n / most * plot_h, 1)

    out = [f'<svg id="rpo-histogram" width="{SVG_W}" height="{SVG_H}" viewBox="0 0 {SVG_W} {SVG_H}" role="img" '
           f'aria-label="RPO histogram against the {objective} s objective">',
           f'<line class="axis" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>',
           f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>',
           f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{most}</text>',
           f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>',
           f'<text x="{LEFT + plot_w / 2}" y="{SVG_H - 6}" text-anchor="middle">RPO (s): drill start - recovery point'
           "</text>"]  # fmt: skip
    every = max(1, -(-len(bins) // 8))
    for k, b in enumerate(bins):
        x1, x2 = x(b.low) + 1, x(b.high) - 1
        n = b.within + b.over
        title = f"<title>{b.low}-{b.high} s: {n} target(s), {b.over} over the objective</title>"
        w = round(x2 - x1, 1)
        if b.within:
            out.append(f'<rect class="within" data-bin="{k}" x="{x1}" y="{y(b.within)}" width="{w}" '
                       f'height="{round(y(0) - y(b.within), 1)}" fill="{WITHIN}">{title}</rect>')  # fmt: skip
        if b.over:
            out.append(f'<rect class="over" data-bin="{k}" x="{x1}" y="{y(n)}" width="{w}" '
                       f'height="{round(y(b.within) - y(n), 1)}" fill="{OVER}">{title}</rect>')  # fmt: skip
        if n:
            out.append(f'<text x="{(x1 + x2) / 2}" y="{y(n) - 3}" text-anchor="middle">{n}</text>')
        if k % every == 0:
            out.append(f'<text x="{x(b.low)}" y="{TOP + plot_h + 14}" text-anchor="middle">{b.low}</text>')
    out.append(f'<text x="{x(top_x)}" y="{TOP + plot_h + 14}" text-anchor="middle">{top_x}</text>')
    marks: dict[int, list[str]] = {}  # equal percentiles share one tick ("p90, p99")
    for name, value in (("p50", dist.p50), ("p90", dist.p90), ("p99", dist.p99)):
        if value is not None:
            marks.setdefault(value, []).append(name)
    last_x, low = -100.0, False
    for value, names in sorted(marks.items()):
        px = x(value)
        low = (px - last_x < 40) and not low  # close ticks: alternate the label's height so they stay readable
        last_x, label = px, ", ".join(names)
        ly = TOP + plot_h + (38 if low else 28)
        out.append(f'<g class="pct"><title>{label}: {value} s</title><line class="axis" x1="{px}" x2="{px}" '
                   f'y1="{TOP + plot_h}" y2="{ly - 8}"/><text x="{px + 2}" y="{ly}">{label}</text></g>')  # fmt: skip
    ox = x(objective)
    out.append(f'<line class="objective" data-objective="{objective}" x1="{ox}" x2="{ox}" y1="{TOP - 12}" '
               f'y2="{TOP + plot_h}"/><text x="{ox + 4}" y="{TOP - 4}">objective {objective} s</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)


def _cards(tiles: list[tuple[str, str]]) -> str:
    inner = "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>'
                    for k, v in tiles)  # fmt: skip
    return f'<div class="cards">{inner}</div>'


def _rpo_section(s: Summary) -> list[str]:
    parts = [f"<h2>RPO against the objective ({s.objective} s)</h2>"]
    if not s.distribution.count:
        return [*parts, '<p class="note">No RPO was measured (no drill executed with a recovery point).</p>']
    head, row = cells.STATS_HEADER, cells.stats_row(s)
    parts.append(_cards(list(zip(head, row, strict=True))))
    parts.append(f'<div class="chart">{histogram_svg(s.bins, s.objective, s.distribution)}</div>')
    parts.append("<h2>Targets missing the objective (worst first)</h2>")
    if s.misses:
        parts.append(_table(cells.MISS_HEADER, [cells.miss_row(t, s.objective) for t in s.misses[:MAX_ROWS]],
                            num=frozenset({2, 3})))  # fmt: skip
    else:
        parts.append('<p class="note">None: every measured RPO is within the objective.</p>')
    return parts


def render_html(s: Summary) -> str:
    r = s.report
    title = "Drill cleanup" if r.action == "drill-cleanup" else "Drill"
    verdict = s.verdict if s.verdict in COLOURS else "fail"
    headline = dict(cells.headline_rows(s))
    meta = " · ".join(f"{_e(k)}: <b>{_e(v)}</b>" for k, v in headline.items() if k not in ("Route",))
    parts = [f'<header class="verdict {verdict}" id="verdict"><div class="big">{_e(s.label)}</div>'
             f"<div><h1>{_e(title)} {_e(r.primary_region)} → {_e(r.dr_region)}</h1>"
             f'<div class="meta">{meta}</div></div></header>']  # fmt: skip
    origin = cells.origin_rows(s)
    if origin:
        parts.append(_table(["Item", "Value"], origin))

    parts.append('<h2>What to do next</h2><ol class="steps">')
    for step in s.steps:
        command = f"<pre><code>{_e(step.command)}</code></pre>" if step.command else ""
        parts.append(f'<li class="{step.severity}">{_e(step.text)}{command}</li>')
    parts.append("</ol>")

    if r.action == "drill":
        parts += _rpo_section(s)
        parts.append("<h2>Targets</h2>")
        if s.rows:
            shown = s.rows[:MAX_ROWS]
            parts.append(_table(cells.TARGET_HEADER, [cells.target_row(t, p) for t, p in shown],
                                num=frozenset({3, 4}), problem=[bool(p) for _, p in shown]))  # fmt: skip
            if len(s.rows) > len(shown):
                parts.append(f'<p class="note">Showing {len(shown)} of {len(s.rows)} targets, problem targets '
                             "first; drill.json has all of them.</p>")  # fmt: skip
        else:
            parts.append('<p class="note">No target was drilled.</p>')

    parts.append("<h2>Leftovers cleared from an earlier run</h2>")
    if r.leftovers:
        parts.append(_table(cells.LEFTOVER_HEADER, [cells.leftover_row(lo) for lo in r.leftovers[:MAX_ROWS]],
                            problem=[not lo.cleared for lo in r.leftovers[:MAX_ROWS]]))  # fmt: skip
    else:
        parts.append('<p class="note">None found.</p>')
    if s.uncleared or r.not_detached:
        parts.append("<h2>Still present</h2>")
        parts.append(_table(["What", "Ids"], [["Drills not cleared", ", ".join(s.uncleared) or "—"],
                                              ["Drill disks not detached", ", ".join(r.not_detached) or "—"]],
                            problem=[bool(s.uncleared), bool(r.not_detached)]))  # fmt: skip

    parts.append("<h2>Timings</h2>")
    parts.append(_table(cells.TIMING_HEADER, cells.timing_rows(s)))
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)} {_e(r.primary_region)} → {_e(r.dr_region)}: {_e(s.label)}</title>"
            f"<style>{_CSS}</style></head>\n"
            f"<body><main>\n{body}\n</main></body></html>\n")  # fmt: skip
