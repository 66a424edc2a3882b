"""Reports of one game-day run: report.json (the journal), report.md (tables), report.html (one file, swimlanes).

The HTML is a single self-contained file: inline CSS, server-rendered SVG, and one small inline script
for the lane filter. It loads nothing: a Content-Security-Policy meta tag allows only that script (by
its sha256) and no network fetches at all, so the report can be opened from a CI artifact store or an
air-gapped laptop, and a string that slipped through escaping still could not run or phone home.

Everything taken from the journal (scenario text, target ids, error codes and messages, measured
values) is untrusted: it is escaped with :func:`html.escape` where it lands in HTML/SVG, and never
placed inside the script; the script reads lanes from ``data-*`` attributes.

Large fleets: the swimlane shows at most ``max_lanes`` lanes, problem targets first (failed, pending,
more than one effect, an ineligible target touched, …), then the rest by id; the page says how many
were left out, and report.json has all of them. The filter box (and a ``#filter=…&problems=1`` URL
fragment, for links from chat or CI) narrows the lanes shown.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chaos.gameday.drill_checks import CLEAR, DRILL_HEADER, START, drill_rows
from chaos.gameday.journal import RunJournal, TargetTimeline, TimelineEvent
from chaos.gameday.report_confirm import (
    DECISION_HEADER,
    NOTIFICATION_HEADER,
    decision_rows,
    has_decisions,
    notification_rows,
)

MAX_LANES = 400  # SVG stays light (a few thousand elements) and the browser stays responsive
MAX_MD_ROWS = 50

# kinds of events that are API calls on the target
CALL_KINDS = frozenset({"call", "replay"})
_OUTCOME_COLOURS = {
    "failedOver": "#15803d",
    "alreadyFailedOver": "#0f766e",
    "skipped": "#6b7280",
    "failed": "#b91c1c",
    "pending": "#b45309",
}
VERDICT_COLOURS = {"pass": "#15803d", "fail": "#b91c1c"}  # the tests look for these in the screenshot

# journal keys -> what a reader sees on the tiles and in the tables, in display order
FIGURE_LABELS = {
    "eligible": "Eligible",
    "failedOver": "Failed over",
    "effects": "Effects",
    "apiCalls": "API calls",
    "writeCalls": "Write calls",
    "retries": "Retries",
    "replays": "Token replays",
    "throttled": "Throttled",
    "faultsFired": "Faults fired",
    "invocations": "Invocations",
    "fcAttempts": "FC attempts",
    "fcReinvocations": "FC re-invocations",
    "cmsCalls": "CloudMonitor calls",
    "notifications": "Notifications received",
    "recoveryAttaches": "Disks attached",
    "recoveryStarts": "Instances started",
    "recoverySwitches": "Records switched",
    "rtoS": "RTO (s)",
    "reportedRtoS": "RTO reported by the function (s)",
    "drillsStarted": "Drills started",
    "drillsCleared": "Drills cleared",
    "drillsLeft": "Drills left (not cleared)",
    "drillRuns": "Drill runs",
    "drillRpoMissed": "Targets over the RPO objective",
}
FLEET_LABELS = {
    "pairs": "Pairs",
    "groups": "Groups",
    "eligible": "Eligible targets",
    "withGroup": "Pairs with their group",
    "ineligible": "Ineligible",
    "primaryRegion": "Primary region",
    "drRegion": "DR region",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def label(key: str, labels: dict[str, str] = FIGURE_LABELS) -> str:
    """A figure's human label; a key without one is un-camelCased ("timeToFailoverS" -> "Time to failover (s)")."""
    if key in labels:
        return labels[key]
    unit = ""
    for suffix, shown in (("Ms", " (ms)"), ("S", " (s)")):
        if key.endswith(suffix) and len(key) > len(suffix) and key[-len(suffix) - 1].islower():
            key, unit = key[: -len(suffix)], shown
            break
    words = _CAMEL.sub(" ", key).split()
    if not words:
        return key + unit
    return " ".join([words[0].capitalize(), *(w if w.isupper() else w.lower() for w in words[1:])]) + unit


def _ordered(items: dict[str, Any], labels: dict[str, str]) -> list[tuple[str, Any]]:
    """Known keys in the labels' order, then any others by name; each under its label."""
    known = [(labels[k], items[k]) for k in labels if k in items]
    return known + [(label(k, labels), v) for k, v in sorted(items.items()) if k not in labels]


def duration_text(journal: RunJournal) -> str:
    return f"{journal.duration_s:.2f} s"


def with_group(tl: TargetTimeline, eligible_groups: dict[str, str | None]) -> str | None:
    """The eligible group a member pair failed over with (``eligible_groups``: group id -> its outcome)."""
    if tl.kind == "pair" and tl.group is not None and tl.group in eligible_groups:
        return tl.group
    return None


def eligible_groups(timelines: Iterable[TargetTimeline]) -> dict[str, str | None]:
    return {tl.id: tl.outcome for tl in timelines if tl.kind == "group" and tl.eligible}


def shown_outcome(tl: TargetTimeline, groups: dict[str, str | None]) -> str:
    """What the lane's badge says: the target's own outcome, or its group's for a member pair."""
    if tl.outcome is not None:
        return tl.outcome
    gid = with_group(tl, groups)
    if gid is not None:
        return f"{groups[gid] or 'no outcome'} with group"
    return "no outcome"


# --------------------------------------------------------------------------- shared analysis
def lane_problems(tl: TargetTimeline) -> list[str]:
    """Why a lane deserves attention, most severe first; empty for a target that went as planned."""
    problems: list[str] = []
    if tl.outcome == "failed":
        problems.append("failed")
    elif tl.outcome == "pending":
        problems.append("pending")
    # a drill (Start/Clear*Drill, its effects) leaves replication alone: the drill checks judge it
    events = [e for e in tl.events if str(e.detail.get("action", "")) not in START | CLEAR]
    effects = sum(1 for e in events if e.kind == "effect")  # its own and its group's
    if effects > 1:
        problems.append(f"{effects} effects")
    writes = sum(
        1 for e in events if e.kind in CALL_KINDS and not str(e.detail.get("action", "")).startswith("Describe")
    )
    # its own effects and calls only: a member pair moved by its group is the group's doing (and lane)
    direct = sum(1 for e in events if e.kind == "effect" and "via" not in e.detail)
    if not tl.eligible and (direct or writes):
        problems.append("ineligible touched")
    if tl.eligible and tl.outcome is None and effects == 0:
        problems.append("no outcome")
    return problems


def _severity(problems: list[str]) -> int:
    weights = {"failed": 100, "ineligible touched": 90, "pending": 60, "no outcome": 40}
    return sum(weights.get(p, 80 if p.endswith("effects") else 10) for p in problems)


def order_lanes(timelines: Iterable[TargetTimeline]) -> list[tuple[TargetTimeline, list[str]]]:
    """Problem lanes first (most severe first), then the rest; ties by kind and id. One pass plus one sort."""
    rows = [(tl, lane_problems(tl)) for tl in timelines]
    rows.sort(key=lambda row: (-_severity(row[1]), row[0].kind, row[0].id))
    return rows


def _counts(tl: TargetTimeline) -> Counter[str]:
    return Counter(e.kind for e in tl.events)


def _fmt_value(value: Any, limit: int = 160) -> str:
    """A measured/figure value as short text: numbers trimmed, structures as compact JSON, long text cut."""
    if value is None:
        return "—"
    if isinstance(value, dict | list) and not value:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        text = f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    elif isinstance(value, int | str):
        text = str(value)
    else:
        text = json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fault_row(rule: dict[str, Any]) -> dict[str, str]:
    """A fault rule (the emulator's ``rules()`` shape, or anything like it) as table cells."""
    match = ", ".join(f"{k}={rule[k]}" for k in ("action", "target", "region", "site", "accessKeyId") if rule.get(k))
    what: list[str] = []
    err = rule.get("error")
    if isinstance(err, dict):
        what.append(f"{err.get('status', '')} {err.get('code', '')}".strip())
    for key, unit in (("latencyMs", "ms latency"), ("hangMs", "ms hang")):
        if rule.get(key):
            what.append(f"{rule[key]} {unit}")
    if rule.get("reset"):
        what.append("connection reset")
    when = [f"phase {rule.get('phase', 'before')}"]
    defaults: dict[str, Any] = {"after": 0, "probability": 1.0, "startAfterSeconds": 0.0}  # not worth a word
    for key in ("count", "after", "probability", "startAfterSeconds", "durationSeconds"):
        if rule.get(key) is not None and rule.get(key) != defaults.get(key):
            when.append(f"{key}={rule[key]}")
    return {
        "id": str(rule.get("id") or "?"),
        "match": match or "any call",
        "what": "; ".join(what) or "—",
        "when": ", ".join(when),
        "matched": _fmt_value(rule.get("matched")),
        "fired": _fmt_value(rule.get("fired")),
    }


# ----------------------------------------------------------------------------------- JSON
def render_json(journal: RunJournal) -> str:
    return journal.model_dump_json(by_alias=True, indent=2)


# ------------------------------------------------------------------------------- Markdown
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def _md(value: Any) -> str:
    """A table cell: one line, pipes escaped, and no raw HTML (Markdown renderers pass HTML through)."""
    text = value if isinstance(value, str) else _fmt_value(value)
    text = " ".join(text.split())
    for ch in "\\|`[]":  # backslash first; brackets so no string becomes a [link](javascript:...)
        text = text.replace(ch, "\\" + ch)
    # only a "<" that could open a tag/comment, and only an "&" that could form an entity, are neutralised:
    # "<= 6 s" stays readable in the raw file
    return _MD_TAG.sub("&lt;", _MD_ENTITY.sub("&amp;", text))


def _md_table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(_md(c) for c in row) + " |" for row in rows)
    return lines


def render_markdown(journal: RunJournal, *, max_rows: int = MAX_MD_ROWS) -> str:
    j = journal
    verdict = j.verdict.upper()
    out = [f"# Game day: {_md(j.title)} — {verdict}", ""]
    out += _md_table(
        ["Verdict", "Scenario", "Seed", "Duration (s)", "Negative", "Targets"],
        [[verdict, j.scenario, j.seed, round(j.duration_s, 3), j.negative, len(j.timelines)]],
    )
    if j.description:
        out += ["", _md(j.description)]

    out += ["", "## Expectations", ""]
    if j.expectations:
        out += _md_table(
            ["OK", "Expectation", "Expected", "Measured", "Message"],
            [["✅" if e.ok else "❌", e.name, e.expected, e.measured, e.message] for e in j.expectations],
        )
    else:
        out.append("_No expectations._")

    out += ["", "## Figures", ""]
    out += _md_table(["Figure", "Value"], _ordered(j.figures, FIGURE_LABELS)) if j.figures else ["_None._"]
    if j.fleet:
        out += ["", "## Fleet", ""]
        out += _md_table(["Item", "Value"], _ordered(j.fleet, FLEET_LABELS))

    out += ["", "## Invocations", ""]
    if j.invocations:
        out += _md_table(
            ["#", "Channel", "Event", "Started (s)", "Duration (ms)", "Status", "Raised", "Error"],
            [
                [
                    i.index,
                    i.channel,
                    i.event_name,
                    round(i.started_at, 3),
                    _ms(i.duration_ms),
                    i.status,
                    i.raised,
                    i.error,
                ]
                for i in j.invocations
            ],
        )
    else:
        out.append("_No invocations._")

    if has_decisions(j):
        out += ["", "## Decisions and evidence", ""]
        out += _md_table(DECISION_HEADER, decision_rows(j))
    if j.notifications:
        out += ["", "## Notifications received", ""]
        out += _md_table(NOTIFICATION_HEADER, notification_rows(j))

    drills = drill_rows(j.ledger)
    if drills:
        out += ["", "## Drills", ""]
        out += _md_table(DRILL_HEADER, drills)

    out += ["", "## Faults fired", ""]
    if j.faults:
        rows = [_fault_row(f) for f in j.faults]
        out += _md_table(
            ["Rule", "Matches", "Does", "When", "Matched", "Fired"],
            [[r["id"], r["match"], r["what"], r["when"], r["matched"], r["fired"]] for r in rows],
        )
    else:
        out.append("_No fault rules._")

    out += ["", "## Targets", ""]
    groups = eligible_groups(j.timelines)
    outcomes = Counter(shown_outcome(tl, groups) for tl in j.timelines)
    if outcomes:
        out += [", ".join(f"{_md(k)}: {v}" for k, v in sorted(outcomes.items())), ""]
    ordered = order_lanes(j.timelines)
    shown = ordered[:max_rows]
    if shown:
        rows_t: list[list[Any]] = []
        for tl, problems in shown:
            c = _counts(tl)
            rows_t.append(
                [
                    tl.id,
                    tl.kind,
                    f"with group {with_group(tl, groups)}" if with_group(tl, groups) else tl.eligible,
                    shown_outcome(tl, groups),
                    tl.final_status,
                    c["call"] + c["replay"],
                    c["fault"],
                    c["replay"],
                    tl.effects,
                    ", ".join(problems) or "—",
                ]
            )
        out += _md_table(
            [
                "Target",
                "Kind",
                "Eligible",
                "Outcome",
                "Final status",
                "Calls",
                "Faults",
                "Replays",
                "Effects",
                "Problems",
            ],
            rows_t,
        )
        if len(ordered) > len(shown):
            out += [
                "",
                f"_Showing {len(shown)} of {len(ordered)} targets (problem targets first); "
                "the full list is in report.json._",
            ]
    else:
        out.append("_No targets._")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------- HTML
def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else _fmt_value(value), quote=True)


LABEL_W, PLOT_W, OUTCOME_W = 210, 850, 260
LANE_H, AXIS_H, PAD_B = 30, 58, 10
BADGE_W = 150
SVG_W = LABEL_W + PLOT_W + OUTCOME_W

_CSS = """
:root{--fg:#111827;--mut:#6b7280;--line:#e5e7eb}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0;background:#f9fafb}
main{max-width:1360px;margin:0 auto;padding:16px 20px 40px}
.verdict{color:#fff;padding:18px 24px;border-radius:10px;display:flex;gap:24px;align-items:center}
.verdict .big{font-size:44px;font-weight:800;letter-spacing:.05em}
.verdict h1{font-size:22px;margin:0}
.verdict .meta{opacity:.9;font-size:13px}
.pass{background:#15803d}.fail{background:#b91c1c}
h2{font-size:17px;margin:26px 0 8px}
.desc{white-space:pre-wrap;color:#374151}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 12px;min-width:130px}
.card .k{color:var(--mut);font-size:12px}.card .v{font-size:20px;font-weight:600}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);width:100%}
th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top;font-size:13px}
th{background:#f3f4f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#15803d;font-weight:700}.bad{color:#b91c1c;font-weight:700}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.measured{max-width:380px;overflow-wrap:anywhere}
.controls{display:flex;gap:16px;align-items:center;margin:6px 0 8px;flex-wrap:wrap}
.controls input[type=search]{padding:5px 8px;width:280px;border:1px solid #d1d5db;border-radius:6px}
.note{color:var(--mut);font-size:13px}
.lanes{overflow-x:auto;background:#fff;border:1px solid var(--line);border-radius:8px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.lane .bg{fill:#fff}.lane.alt .bg{fill:#f8fafc}.lane.problem .bg{fill:#fef2f2}
.lane:hover .bg{fill:#eef2ff}
.lane .id{font-size:12px;fill:#111827}.lane.problem .id{font-weight:700;fill:#991b1b}
.lane .st{font-size:10px;fill:#6b7280}
.lane .track{stroke:#cbd5e1;stroke-width:2}
.grid line{stroke:#eef0f3}.axis text{font-size:11px;fill:#6b7280}.axis line{stroke:#9ca3af}
.inv rect{fill:#dbeafe;stroke:#3b82f6}.inv text{font-size:10px;fill:#1e3a8a}
.s2{fill:#16a34a}.s4{fill:#f59e0b}.s5{fill:#dc2626}.s0{fill:#111827}
.m-replay{stroke:#2563eb;stroke-width:2.5}
.m-fault{fill:#c026d3}
.m-effect{fill:#7c3aed;stroke:#4c1d95;stroke-width:1}.m-effect.via{fill:#fff;stroke:#7c3aed;stroke-width:1.6}
.m-transition{fill:#94a3b8}
.m-flip{stroke:#ea580c;stroke-width:2;stroke-dasharray:3 2}.m-flip-head{fill:#ea580c}
.m-invocation{stroke:#3b82f6;stroke-width:1;stroke-dasharray:2 3}
.m-outcome{stroke:#374151;stroke-width:1.2}
.badge text{font-size:11px;fill:#fff;font-weight:600}.badge .why{fill:#991b1b;font-weight:600}
.legend{font-size:12px}.legend text{fill:#374151}
"""

_JS = """(function(){
var svg=document.getElementById('swimlane');if(!svg)return;
var lanes=Array.prototype.slice.call(svg.querySelectorAll('g.lane'));
var q=document.getElementById('lane-filter'),pb=document.getElementById('lane-problems');
var count=document.getElementById('lane-count'),grid=svg.querySelectorAll('.grid line');
var top=+svg.getAttribute('data-top'),lh=+svg.getAttribute('data-lane-h'),pad=+svg.getAttribute('data-pad');
var w=+svg.getAttribute('width');
function apply(){
var s=q.value.trim().toLowerCase(),only=pb.checked,y=top,n=0;
lanes.forEach(function(g){
var ok=(!s||g.getAttribute('data-search').indexOf(s)>=0)&&(!only||g.getAttribute('data-problem')==='1');
g.style.display=ok?'':'none';
if(ok){g.setAttribute('transform','translate(0,'+y+')');
g.setAttribute('class',g.getAttribute('class').replace(' alt','')+(n%2?' alt':''));y+=lh;n++;}
});
var h=y+pad;svg.setAttribute('height',h);svg.setAttribute('viewBox','0 0 '+w+' '+h);
for(var i=0;i<grid.length;i++){grid[i].setAttribute('y2',y);}
count.textContent=n+' of '+lanes.length+' lanes shown';
}
try{location.hash.slice(1).split('&').forEach(function(kv){
var i=kv.indexOf('='),k=kv.slice(0,i),v=decodeURIComponent(kv.slice(i+1));
if(k==='filter')q.value=v;if(k==='problems')pb.checked=v==='1';});}catch(e){}
q.addEventListener('input',apply);pb.addEventListener('change',apply);apply();
document.documentElement.setAttribute('data-js','ready');
})();"""


def _nice_step(span: float, target_ticks: int = 8) -> float:
    raw = span / max(target_ticks, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _status_class(status: int | None) -> str:
    if status is None:
        return "s0"
    return {2: "s2", 4: "s4", 5: "s5"}.get(status // 100, "s0")


def _event_title(ev: TimelineEvent) -> str:
    lines = [f"{ev.label}", f"t = +{ev.t:.3f} s ({ev.kind})"]
    if ev.status is not None or ev.code:
        lines.append(f"status {ev.status if ev.status is not None else 'none'} {ev.code or ''}".rstrip())
    if ev.request_id:
        lines.append(f"requestId {ev.request_id}")
    if ev.client_token:
        lines.append(f"clientToken {ev.client_token}")
    for key, value in ev.detail.items():
        lines.append(f"{key}: {_fmt_value(value, 240)}")
    return "\n".join(lines)


class _Scale:
    def __init__(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = t0, t1 if t1 > t0 else t0 + 1.0

    def x(self, t: float) -> float:
        return round(LABEL_W + 10 + (t - self.t0) / (self.t1 - self.t0) * (PLOT_W - 20), 1)


def _marker(ev: TimelineEvent, sc: _Scale) -> str:
    x = sc.x(ev.t)
    title = f"<title>{_e(_event_title(ev))}</title>"
    mid, top, low = LANE_H / 2, 7.0, LANE_H - 6.0
    if ev.kind in CALL_KINDS:
        cls = f"m-{ev.kind} {_status_class(ev.status)}"
        return f'<circle class="{cls}" cx="{x}" cy="{mid}" r="5">{title}</circle>'
    if ev.kind == "fault":
        return f'<path class="m-fault" d="M{x - 5} {top - 5}h10l-5 8z">{title}</path>'
    if ev.kind == "effect":
        cls = "m-effect via" if "via" in ev.detail else "m-effect"
        return f'<path class="{cls}" d="M{x} {low - 5}l5 5l-5 5l-5 -5z">{title}</path>'
    if ev.kind == "transition":
        return f'<rect class="m-transition" x="{x - 2.5}" y="{low - 2.5}" width="5" height="5">{title}</rect>'
    if ev.kind == "flip":
        return (
            f'<g>{title}<line class="m-flip" x1="{x}" x2="{x}" y1="2" y2="{LANE_H - 2}"/>'
            f'<path class="m-flip-head" d="M{x} {low - 4}l4 4l-4 4l-4 -4z"/></g>'
        )
    if ev.kind == "invocation":
        return f'<line class="m-invocation" x1="{x}" x2="{x}" y1="2" y2="{LANE_H - 2}">{title}</line>'
    # outcome: a flag at the moment the function reported it
    colour = _OUTCOME_COLOURS.get(ev.label.split(" ", 1)[0], "#374151")
    return (
        f'<g class="m-outcome-flag">{title}<line class="m-outcome" x1="{x}" x2="{x}" y1="3" y2="{LANE_H - 3}"/>'
        f'<rect x="{x}" y="3" width="7" height="6" fill="{colour}"/></g>'
    )


def _lane_svg(
    tl: TargetTimeline, problems: list[str], y: int, alt: bool, sc: _Scale, groups: dict[str, str | None]
) -> str:
    classes = "lane" + (" problem" if problems else "") + (" alt" if alt else "")
    outcome = shown_outcome(tl, groups)
    gid = with_group(tl, groups)
    standing = f"with group {gid}" if gid else ("eligible" if tl.eligible else "ineligible")
    search = " ".join([tl.kind, tl.id, outcome, tl.final_status, *([gid] if gid else []), *problems]).lower()
    c = _counts(tl)
    label_title = (
        f"{tl.kind} {tl.id}\n{standing}\nfinal status: {tl.final_status}\n"
        f"outcome: {outcome}\ncalls {c['call'] + c['replay']}, faults {c['fault']}, "
        f"replays {c['replay']}, effects {tl.effects}" + (f"\nproblems: {', '.join(problems)}" if problems else "")
    )
    shown_id = tl.id if len(tl.id) <= 26 else tl.id[:25] + "…"
    parts = [
        f'<g class="{classes}" data-target="{_e(tl.kind + ":" + tl.id)}" data-search="{_e(search)}" '
        f'data-problem="{1 if problems else 0}" transform="translate(0,{y})">',
        f'<rect class="bg" x="0" y="0" width="{SVG_W}" height="{LANE_H}"/>',
        f'<text class="id" x="8" y="{LANE_H / 2 - 1}"><title>{_e(label_title)}</title>'
        f"{'◆ ' if tl.kind == 'group' else ''}{_e(shown_id)}</text>",
        f'<text class="st" x="8" y="{LANE_H - 3}">{_e(tl.kind)} · {_e(standing)} · final {_e(tl.final_status)}</text>',
    ]
    if tl.events:
        x1, x2 = sc.x(tl.events[0].t), sc.x(tl.events[-1].t)
        parts.append(f'<line class="track" x1="{x1}" x2="{max(x2, x1 + 1)}" y1="{LANE_H / 2}" y2="{LANE_H / 2}"/>')
    # outcomes last so their flags sit on top; faults after calls so the triangle is never hidden
    order = {"transition": 0, "flip": 1, "invocation": 1, "effect": 2, "call": 3, "replay": 3, "fault": 4}
    for ev in sorted(tl.events, key=lambda e: order.get(e.kind, 5)):
        parts.append(_marker(ev, sc))
    # the final outcome at the end of the lane
    bx = LABEL_W + PLOT_W + 6
    why = [p for p in problems if p not in (outcome, "no outcome")]  # the badge already says those
    colour = _OUTCOME_COLOURS.get(outcome.split(" ", 1)[0], "#9ca3af")
    parts.append(
        f'<g class="badge"><title>{_e(label_title)}</title>'
        f'<rect x="{bx}" y="5" width="{BADGE_W}" height="{LANE_H - 10}" rx="4" fill="{colour}"/>'
        f'<text x="{bx + BADGE_W / 2}" y="{LANE_H / 2 + 4}" text-anchor="middle">{_e(outcome)}</text>'
        + (f'<text class="why" x="{bx + BADGE_W + 6}" y="{LANE_H / 2 + 4}">{_e(", ".join(why))}</text>' if why else "")
        + "</g>"
    )
    parts.append("</g>")
    return "".join(parts)


def _swimlane(j: RunJournal, rows: list[tuple[TargetTimeline, list[str]]]) -> str:
    times = [ev.t for tl, _ in rows for ev in tl.events]
    inv_end = [i.started_at + (i.duration_ms or 0) / 1000 for i in j.invocations]
    t0 = min([0.0, *times])
    t1 = max([j.duration_s, *times, *inv_end, 0.0])
    sc = _Scale(t0, t1 + (t1 - t0) * 0.02)
    height = AXIS_H + LANE_H * len(rows) + PAD_B
    step = _nice_step(sc.t1 - sc.t0)
    ticks: list[float] = []
    t = math.ceil(sc.t0 / step) * step
    while t <= sc.t1 + 1e-9:
        ticks.append(t)
        t += step
    # as many decimals as the step needs: 0.025 s steps print as +0.025s, not +0.03s
    digits = next(d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6 or d == 6)
    out = [
        f'<svg id="swimlane" width="{SVG_W}" height="{height}" '
        f'viewBox="0 0 {SVG_W} {height}" data-top="{AXIS_H}" data-lane-h="{LANE_H}" data-pad="{PAD_B}" '
        f'role="img" aria-label="per-target swimlane timeline">',
        '<g class="grid">',
    ]
    out += [f'<line x1="{sc.x(t)}" x2="{sc.x(t)}" y1="{AXIS_H - 6}" y2="{height - PAD_B}"/>' for t in ticks]
    out.append('</g><g class="axis">')
    out.append(f'<line x1="{LABEL_W}" x2="{LABEL_W + PLOT_W}" y1="{AXIS_H - 6}" y2="{AXIS_H - 6}"/>')
    out += [f'<text x="{sc.x(t)}" y="{AXIS_H - 10}" text-anchor="middle">+{t:.{digits}f}s</text>' for t in ticks]
    out.append(f'<text x="8" y="{AXIS_H - 10}">target</text>')
    out.append(f'<text x="{LABEL_W + PLOT_W + 6}" y="{AXIS_H - 10}">final outcome</text></g>')
    # invocations as bands above the lanes: which call of the function did what, when
    out.append('<g class="inv">')
    for inv in j.invocations:
        x1 = sc.x(inv.started_at)
        x2 = max(sc.x(inv.started_at + (inv.duration_ms or 0) / 1000), x1 + 3)
        title = (
            f"invocation #{inv.index} via {inv.channel} ({inv.event_name})\nstarted +{inv.started_at:.3f}s, "
            f"{_ms(inv.duration_ms)} ms\nstatus {inv.status}" + (f"\nerror: {inv.error}" if inv.error else "")
        )
        out.append(
            f'<g><title>{_e(title)}</title><rect x="{x1}" y="4" width="{round(x2 - x1, 1)}" height="14" rx="2"/>'
            f'<text x="{x1 + 3}" y="15">#{inv.index} {_e(inv.status)}</text></g>'
        )
    out.append("</g>")
    groups = eligible_groups(j.timelines)
    for n, (tl, problems) in enumerate(rows):
        out.append(_lane_svg(tl, problems, AXIS_H + n * LANE_H, n % 2 == 1, sc, groups))
    out.append("</svg>")
    return "\n".join(out)


_LEGEND = (
    '<svg class="legend" width="1180" height="24" role="img" aria-label="legend">'
    '<circle class="s2" cx="10" cy="12" r="5"/><text x="20" y="16">call 2xx</text>'
    '<circle class="s4" cx="85" cy="12" r="5"/><text x="95" y="16">4xx</text>'
    '<circle class="s5" cx="135" cy="12" r="5"/><text x="145" y="16">5xx</text>'
    '<circle class="s0" cx="185" cy="12" r="5"/><text x="195" y="16">no answer</text>'
    '<circle class="m-replay s2" cx="272" cy="12" r="5"/><text x="282" y="16">ClientToken replay</text>'
    '<path class="m-fault" d="M395 6h10l-5 8z"/><text x="412" y="16">injected fault</text>'
    '<path class="m-effect" d="M510 6l5 5l-5 5l-5 -5z"/><text x="522" y="16">effect</text>'
    '<path class="m-effect via" d="M580 6l5 5l-5 5l-5 -5z"/><text x="592" y="16">effect via group</text>'
    '<rect class="m-transition" x="700" y="9" width="5" height="5"/><text x="712" y="16">state change</text>'
    '<line class="m-flip" x1="810" x2="810" y1="2" y2="22"/><text x="818" y="16">control-plane flip</text>'
    '<line class="m-outcome" x1="945" x2="945" y1="3" y2="21"/><rect x="945" y="3" width="7" height="6" '
    'fill="#15803d"/><text x="958" y="16">outcome reported</text>'
    '<rect x="1070" y="5" width="14" height="14" fill="#fef2f2" stroke="#fca5a5"/><text x="1090" y="16">problem</text>'
    "</svg>"
)


def _table(header: list[str], rows: list[list[str]], num: frozenset[int] = frozenset()) -> str:
    """Cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cards(heading: str, tiles: list[tuple[str, Any]]) -> str:
    cards = "".join(
        f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>' for k, v in tiles
    )
    return f'<h2>{_e(heading)}</h2><div class="cards">{cards}</div>'


def render_html(journal: RunJournal, *, max_lanes: int = MAX_LANES) -> str:
    j = journal
    ordered = order_lanes(j.timelines)
    rows = ordered[:max_lanes]
    problem_n = sum(1 for _, p in ordered if p)
    verdict = j.verdict if j.verdict in VERDICT_COLOURS else "fail"
    exp_ok = sum(1 for e in j.expectations if e.ok)

    meta = (
        f"scenario <b>{_e(j.scenario)}</b> · seed {_e(j.seed)} · {duration_text(j)} · "
        f"{len(j.timelines)} targets · {len(j.invocations)} invocations · "
        f"expectations {exp_ok}/{len(j.expectations)} met" + (" · negative scenario" if j.negative else "")
    )
    parts: list[str] = [
        f'<header class="verdict {verdict}" id="verdict"><div class="big">{verdict.upper()}</div>'
        f'<div><h1>{_e(j.title)}</h1><div class="meta">{meta}</div></div></header>'
    ]
    if j.description:
        parts.append(f'<p class="desc">{_e(j.description)}</p>')

    figures: list[tuple[str, Any]] = [
        ("Duration", duration_text(j)),
        ("Targets", len(j.timelines)),
        ("Problem targets", problem_n),
        *_ordered(j.figures, FIGURE_LABELS),
    ]
    parts.append(_cards("Figures", figures))
    if j.fleet:
        parts.append(_cards("Fleet", _ordered(j.fleet, FLEET_LABELS)))

    parts.append("<h2>Expectations</h2>")
    if j.expectations:
        parts.append(
            _table(
                ["", "Expectation", "Expected", "Measured", "Message"],
                [
                    [
                        '<span class="ok">✓ met</span>' if e.ok else '<span class="bad">✗ failed</span>',
                        f"<code>{_e(e.name)}</code>",
                        _e(e.expected),
                        f'<span class="measured mono">{_e(_fmt_value(e.measured, 600))}</span>',
                        _e(e.message),
                    ]
                    for e in j.expectations
                ],
            )
        )
    else:
        parts.append('<p class="note">No expectations.</p>')

    parts.append("<h2>Invocations</h2>")
    if j.invocations:
        parts.append(
            _table(
                ["#", "Channel", "Event", "Started (s)", "Duration (ms)", "Status", "Raised", "Error"],
                [
                    [
                        _e(i.index),
                        _e(i.channel),
                        _e(i.event_name),
                        f"+{i.started_at:.3f}",
                        _e(_ms(i.duration_ms)),
                        _e(i.status),
                        _e(i.raised),
                        _e(i.error or ""),
                    ]
                    for i in j.invocations
                ],
                num=frozenset({0, 3, 4}),
            )
        )
    else:
        parts.append('<p class="note">No invocations.</p>')

    if has_decisions(j):
        parts.append("<h2>Decisions and evidence</h2>")
        parts.append(_table(DECISION_HEADER, [[_e(c) for c in r] for r in decision_rows(j)], num=frozenset({0, 6})))
    if j.notifications:
        parts.append("<h2>Notifications received</h2>")
        parts.append(
            _table(NOTIFICATION_HEADER, [[_e(c) for c in r] for r in notification_rows(j)], num=frozenset({0}))
        )

    drills = drill_rows(j.ledger)
    if drills:
        parts.append("<h2>Drills</h2>")
        parts.append(_table(DRILL_HEADER, [[_e(c) for c in r] for r in drills], num=frozenset({4})))

    parts.append("<h2>Faults</h2>")
    if j.faults:
        fr = [_fault_row(f) for f in j.faults]
        parts.append(
            _table(
                ["Rule", "Matches", "Does", "When", "Matched", "Fired"],
                [
                    [
                        f"<code>{_e(r['id'])}</code>",
                        _e(r["match"]),
                        _e(r["what"]),
                        _e(r["when"]),
                        _e(r["matched"]),
                        _e(r["fired"]),
                    ]
                    for r in fr
                ],
                num=frozenset({4, 5}),
            )
        )
    else:
        parts.append('<p class="note">No fault rules.</p>')

    parts.append("<h2>Timeline</h2>")
    note = (
        f"Showing the first {len(rows)} of {len(ordered)} targets, problem targets first; "
        "the others are in report.json."
        if len(ordered) > len(rows)
        else f"{len(ordered)} targets, problem targets first."
    )
    parts.append(
        '<div class="controls"><input type="search" id="lane-filter" placeholder="filter by target, outcome, status…" '
        'aria-label="filter lanes"><label><input type="checkbox" id="lane-problems"> problems only</label>'
        f'<span class="note" id="lane-count">{len(rows)} of {len(rows)} lanes shown</span>'
        f'<span class="note">{_e(note)} Hover a marker for details; a URL ending '
        "<code>#filter=pair-1&amp;problems=1</code> opens with that view.</span></div>"
    )
    parts.append(_LEGEND)
    parts.append(f'<div class="lanes">{_swimlane(j, rows)}</div>')

    body = "\n".join(parts)
    script_hash = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Game day {_e(j.scenario)}: {verdict.upper()}</title>"
        f"<style>{_CSS}</style></head>\n"
        f"<body><main>\n{body}\n</main><script>{_JS}</script></body></html>\n"
    )


# ---------------------------------------------------------------------------------- files
def write_report_file(path: Path, text: str) -> Path:
    """Every file a game day writes goes through here (reports and the function's log): one place to redact."""
    from replica_failover.redact import redact_text  # masks every credential value this process has held

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact_text(text), encoding="utf-8")
    return path


def write_reports(journal: RunJournal, out_dir: Path) -> dict[str, Path]:
    """Write report.json, report.md and report.html into ``out_dir`` (created); returns them by format."""
    return {
        "json": write_report_file(out_dir / "report.json", render_json(journal)),
        "markdown": write_report_file(out_dir / "report.md", render_markdown(journal)),
        "html": write_report_file(out_dir / "report.html", render_html(journal)),
    }
