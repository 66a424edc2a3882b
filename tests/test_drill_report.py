"""Drill reports (drill.json / drill.md / drill.html) from real drills against the emulator on 127.0.0.1.

The drills run through ``replica-failover drill`` (official V2 SDK) with drill transitions set to
complete at once; an RPO miss is a stopped pair whose recovery point is 2000 s old, a failed clear a
``Forbidden.Action`` fault on ``ClearPairDrill``.
"""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from replica_failover.credentials import Credentials
from replica_failover.drill import Clock, DrillRequest, DrillRunner, EbsDrillClient
from rich.console import Console
from typer.testing import CliRunner

from chaos.cli import app
from chaos.drill_cli import drill_progress
from chaos.drill_report import ReportError, parse, render_html, render_markdown, summarise
from chaos.drill_report.summary import histogram
from chaos.emulator import config as cfg
from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import PairRecord
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, PRIMARY, seed_basic

ROUTE = ["--primary", PRIMARY, "--dr", DR, "--poll", "0.01"]
HOSTILE = "<img src=x onerror=alert(1)>\"'&<script>alert(2)</script>"
VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})  # svg shapes close themselves or have a </...>
ALLOWED_TAGS = frozenset(
    {"html", "head", "meta", "title", "style", "body", "main", "header", "div", "h1", "h2", "b", "p", "ol", "li",
     "pre", "code", "table", "thead", "tbody", "tr", "th", "td", "svg", "g", "line", "rect", "text"}
)  # fmt: skip


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args), env=env)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture
def instant(emulator: Emulator) -> Emulator:
    emulator.update_config(
        {"transitionDelays": {**emulator.config().transition_delays, "drill_executing": 0.0, "drill_clearing": 0.0}}
    )
    seed_basic(emulator)
    return emulator


def stale(emulator: Emulator, **ages: int) -> None:
    """Stopped pairs (their recovery point stays put) whose last recovery point is ``age`` seconds old."""
    now = int(emulator.clock.now())
    emulator.backend.seed_pairs(
        [PairRecord(ReplicaPairId=pid.replace("_", "-"), SourceRegion=PRIMARY, DestinationRegion=DR, Status="stopped",
                    LastRecoverPoint=now - age) for pid, age in ages.items()]
    )  # fmt: skip


def fault(emulator: Emulator, *rules: FaultRule) -> None:
    emulator.faults.set(list(rules), emulator.clock.now(), 0)


class Checker(HTMLParser):
    """Balanced tags, only the renderer's own elements, no event-handler attribute, and the text seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.bad_attrs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.bad_attrs += [k for k, _ in attrs if k.startswith("on") or k in ("src", "href")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.bad_attrs += [k for k, _ in attrs if k.startswith("on") or k in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(page: str) -> Checker:
    checker = Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [], f"unclosed: {checker.stack}"
    assert checker.tags <= ALLOWED_TAGS, checker.tags - ALLOWED_TAGS
    assert checker.bad_attrs == []
    assert len(re.findall(r"<script\b", page)) == 0 and "http://" not in page and "https://" not in page
    return checker


def section(md: str, title: str) -> str:
    start = md.index(f"## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start : end if end != -1 else len(md)]


# ------------------------------------------------------------------------------ drill run --report
def test_drill_run_report_with_an_rpo_miss_and_a_failed_clear(instant: Emulator, endpoint: str, tmp_path: Path) -> None:
    stale(instant, pair_late=2000)
    refused = FaultError(status=403, code="Forbidden.Action")
    fault(instant, FaultRule(action="ClearPairDrill", target="pair-1", error=refused))
    out = tmp_path / "reports"
    code, stdout, stderr = cli("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--report", str(out))
    assert code == 1 and "drill: " not in stderr and "report: " not in stderr  # piped: no progress
    doc = json.loads(stdout)
    assert sorted(p.name for p in out.iterdir()) == ["drill.html", "drill.json", "drill.md"]
    assert json.loads((out / "drill.json").read_text(encoding="utf-8")) == doc
    pair1 = next(t for t in doc["targets"] if t["id"] == "pair-1")
    assert pair1["cleared"] is False and doc["notCleared"] == [pair1["drillId"]]

    md = (out / "drill.md").read_text(encoding="utf-8")
    assert md.startswith(f"# Drill {PRIMARY} → {DR}: ❌ FAIL")
    assert "| All drills executed | yes |" in md and "| All drills cleared | no |" in md
    assert "| RPO objective (900 s) met | no: 1 of 5 miss |" in md
    misses = section(md, "Targets missing the objective")
    late = next(t for t in doc["targets"] if t["id"] == "pair-late")
    assert late["rpoSeconds"] >= 2000  # seeded 2000 s behind; the wall clock may have ticked since
    assert f"| pair-late | pair | {late['rpoSeconds']} | {late['rpoSeconds'] - 900} |" in misses
    assert "pair-0" not in misses
    steps = section(md, "What to do next")
    cleanup = f"replica-failover drill cleanup --primary {PRIMARY} --dr {DR} --pair pair-1"
    assert cleanup in steps and "Forbidden.Action" in steps
    assert f"replica-failover drill run --primary {PRIMARY} --dr {DR} --pair pair-late" in steps
    assert steps.index("still present") < steps.index("miss the 900 s RPO objective")  # money first
    rows = section(md, "Targets").splitlines()
    first = next(i for i, line in enumerate(rows) if line.startswith("| pair") or line.startswith("| group"))
    assert rows[first].startswith("| pair | pair-1 |") and "not cleared" in rows[first]  # problems first
    assert rows[first + 1].startswith("| pair | pair-late |")

    page = (out / "drill.html").read_text(encoding="utf-8")
    check_html(page)
    assert '<header class="verdict fail"' in page and "default-src 'none'" in page
    assert 'data-objective="900"' in page and 'class="over"' in page and 'class="within"' in page
    assert cfg.DEFAULT_ACCESS_KEY_SECRET not in stdout + md + page

    # the suggested cleanup works once the refusal is gone
    instant.faults.remove()
    code, stdout, _ = cli(*cleanup.split()[1:], "--endpoint", f"http://{endpoint}", "--poll", "0.01")
    assert code == 0 and json.loads(stdout)["leftovers"][0]["drillId"] == pair1["drillId"]
    assert instant.backend.drills() == []


def test_a_clean_drill_passes(instant: Emulator, endpoint: str, tmp_path: Path) -> None:
    code, _, _ = cli("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--report", str(tmp_path))
    md = (tmp_path / "drill.md").read_text(encoding="utf-8")
    assert code == 0 and md.startswith(f"# Drill {PRIMARY} → {DR}: ✅ PASS")
    assert "| RPO objective (900 s) met | yes |" in md and "Nothing to do" in md
    # seeded 300 s behind; the wall clock may tick between seeding and a drill's start
    assert re.search(r"\| 4 \| 4 of 4 \| 30[01] \| 30[01] \| 30[01] \| 30[01] \| 30[01] \|",
                     section(md, "RPO against the objective (900 s)"))  # fmt: skip
    assert '<header class="verdict pass"' in check_html_file(tmp_path / "drill.html")


def check_html_file(path: Path) -> str:
    page = path.read_text(encoding="utf-8")
    check_html(page)
    return page


def test_cleanup_report_lists_the_leftovers(instant: Emulator, endpoint: str, tmp_path: Path) -> None:
    fault(instant, FaultRule(action="ClearPairDrill", target="pair-0", count=1,
                             error=FaultError(status=403, code="Forbidden.Action")))  # fmt: skip
    code, first, _ = cli("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--pair", "pair-0")
    left = json.loads(first)["notCleared"]
    assert code == 1 and len(left) == 1
    code, _, _ = cli("drill", "cleanup", *ROUTE, "--endpoint", f"http://{endpoint}", "--report", str(tmp_path))
    md = (tmp_path / "drill.md").read_text(encoding="utf-8")
    assert code == 0 and md.startswith(f"# Drill cleanup {PRIMARY} → {DR}: ✅ PASS")
    assert f"| pair | pair-0 | {left[0]} | executed | yes |" in section(md, "Leftovers cleared from an earlier run")
    assert "## Targets" not in md and "Every leftover drill was cleared" in md
    check_html_file(tmp_path / "drill.html")


# ------------------------------------------------------------------------------ drill report FILE
def test_report_renders_a_saved_report_and_the_drill_event_result(
    instant: Emulator, endpoint: str, tmp_path: Path
) -> None:
    stale(instant, pair_late=2000)
    saved = tmp_path / "drill.json"
    code, stdout, _ = cli("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--out", str(saved))
    assert code == 0  # an RPO miss alone does not fail the drill
    code, stdout, stderr = cli("drill", "report", str(saved))
    summary = json.loads(stdout)
    assert code == 0 and "RPO MISSED" not in stderr  # piped: the JSON alone
    assert summary["verdict"] == "warn" and summary["label"] == "RPO MISSED" and summary["misses"] == ["pair-late"]
    assert set(summary["files"]) == {"markdown", "html"}  # the source itself is not overwritten
    md = (tmp_path / "drill.md").read_text(encoding="utf-8")
    assert md.startswith(f"# Drill {PRIMARY} → {DR}: ⚠️ RPO MISSED")

    doc = json.loads(saved.read_text(encoding="utf-8"))
    event = {"ok": True, "status": "completed", "reason": "manual drill", "requestId": "req-drill-1",
             "summary": {"targets": 6}, "durationMs": 12, "drill": doc}  # fmt: skip
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
    code, stdout, _ = cli("drill", "report", str(tmp_path / "event.json"), "--out", str(tmp_path / "ev"))
    assert code == 0 and json.loads(stdout)["misses"] == ["pair-late"]
    ev_md = (tmp_path / "ev" / "drill.md").read_text(encoding="utf-8")
    assert "| Source | the function's manual drill event |" in ev_md and "| Request id | req-drill-1 |" in ev_md
    assert json.loads((tmp_path / "ev" / "drill.json").read_text(encoding="utf-8")) == doc
    assert section(ev_md, "Targets") == section(md, "Targets")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"status": "rejected", "reason": "bad"}', "neither a drill report"),
        ('{"runId": "r", "primaryRegion": "cn-hangzhou", "drRegion": "cn-shanghai", "startedAt": "soon"}', "startedAt"),
        ('{"runId": "r", "primaryRegion": "a", "drRegion": "b", "startedAt": 1, "surprise": 1}', "surprise"),
        ('{"ok": false, "status": "rejected", "drill": null}', "carries no drill report"),
        ('{"ok": true, "drill": {"runId": "r", "targets": [{"kind": "disk", "id": "x"}]}}', "drill: "),
        ('{"ok": true, "requestId": 5, "drill": {}}', "requestId"),
    ],
)
def test_a_bad_file_is_one_line_and_writes_nothing(tmp_path: Path, content: str | None, message: str) -> None:
    src = tmp_path / "in.json"
    if content is not None:
        src.write_text(content, encoding="utf-8")
    code, stdout, stderr = cli("drill", "report", str(src), "--out", str(tmp_path / "out"))
    assert code == 2 and stdout == "" and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_unusable_report_dir_is_bad_input_before_any_call(instant: Emulator, endpoint: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    code, stdout, stderr = cli("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--report", str(blocker / "sub"))
    assert code == 2 and stdout == "" and "--report" in stderr
    assert instant.ledger.snapshot()["requests"] == []


# ------------------------------------------------------------------------------ hostile input, secrets
def test_a_hostile_api_code_is_escaped(instant: Emulator, endpoint: str, tmp_path: Path) -> None:
    fault(instant, FaultRule(action="StartPairDrill", target="pair-2", error=FaultError(status=400, code=HOSTILE)))
    code, stdout, _ = cli("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--report", str(tmp_path))
    target = next(t for t in json.loads(stdout)["targets"] if t["id"] == "pair-2")
    assert code == 1 and target["error"] == HOSTILE  # the API's answer, verbatim, as data
    page = check_html_file(tmp_path / "drill.html")
    assert "<img" not in page and "<script" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    md = (tmp_path / "drill.md").read_text(encoding="utf-8")
    assert "<img" not in md and "<script" not in md and "&lt;img src=x onerror=alert(1)>" in md


def hostile_report() -> dict[str, Any]:
    """Every string the report model allows, hostile: what a tampered file or a rogue API could carry."""
    h = HOSTILE
    return {
        "runId": h, "primaryRegion": h, "drRegion": h, "startedAt": 1.7e9, "finishedAt": 1.7e9 + 9,
        "targets": [
            {"kind": "pair", "id": h, "drillId": h, "status": "execute_failed", "error": h, "cleared": False},
            {"kind": "group", "id": "pg-" + h, "drillId": "d2", "status": "executed", "rpoSeconds": 5000,
             "startAt": 10, "recoverPoint": 5, "cleared": True,
             "probes": [{"diskId": h, "passed": False, "detail": h}]},
        ],
        "leftovers": [{"kind": "pair", "id": h, "drillId": h, "status": h, "cleared": False}],
        "rpo": {"objectiveSeconds": 900, "measured": 1, "withinObjective": 0, "missingObjective": [h]},
        "notCleared": [h], "notDetached": [h], "interrupted": h, "error": h,
    }  # fmt: skip


def test_every_field_of_a_hostile_report_stays_text(tmp_path: Path) -> None:
    event = {"ok": False, "status": "partial", "reason": HOSTILE, "requestId": HOSTILE, "drill": hostile_report()}
    src = tmp_path / "event.json"
    src.write_text(json.dumps(event), encoding="utf-8")
    code, stdout, _ = cli("drill", "report", str(src))
    assert code == 1 and json.loads(stdout)["verdict"] == "fail"
    page = check_html_file(tmp_path / "drill.html")
    checker = check_html(page)
    assert HOSTILE in "".join(checker.text)  # shown as text, where the page says it
    md = (tmp_path / "drill.md").read_text(encoding="utf-8")
    assert "<img" not in md and "<script" not in md
    # commands are never built from ids without the API's syntax
    assert "onerror" not in "".join(re.findall(r"replica-failover drill [^\n`]*", md))
    assert "<primary-region>" in md


def test_no_credential_in_any_output(instant: Emulator, endpoint: str, tmp_path: Path) -> None:
    secret = cfg.DEFAULT_ACCESS_KEY_SECRET
    code_text = f"Denied.{secret}.Signature=abcdef0123456789"
    fault(instant, FaultRule(action="StartPairDrill", target="pair-0", error=FaultError(status=400, code=code_text)))
    code, stdout, stderr = cli("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--report", str(tmp_path))
    target = next(t for t in json.loads(stdout)["targets"] if t["id"] == "pair-0")
    assert code == 1 and target["error"].startswith("Denied.***")
    outputs = [stdout, stderr, *(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())]
    assert len(outputs) == 5
    assert not [o for o in outputs if secret in o or "abcdef0123456789" in o]

    src = tmp_path / "with-secret.json"  # a file that carries one: the rendering masks it too
    src.write_text(json.dumps({**hostile_report(), "error": f"AccessKeySecret={secret}x"}), encoding="utf-8")
    code, stdout, _ = cli("drill", "report", str(src), "--out", str(tmp_path / "r"))
    assert code == 1 and secret not in stdout
    assert not [p for p in (tmp_path / "r").iterdir() if secret in p.read_text(encoding="utf-8")]


# ------------------------------------------------------------------------------ summary, progress
def test_misses_worst_first_and_the_distribution(emulator: Emulator, endpoint: str) -> None:
    stale(emulator, pair_a=2000, pair_b=5000, pair_c=1000, pair_d=100, pair_e=900)
    emulator.clock.freeze(True)
    api = EbsDrillClient(Credentials(cfg.DEFAULT_ACCESS_KEY_ID, cfg.DEFAULT_ACCESS_KEY_SECRET),
                         endpoint=f"http://{endpoint}")  # fmt: skip
    request = DrillRequest(primary_region=PRIMARY, dr_region=DR, poll_seconds=1, start_interval_seconds=0)
    report = DrillRunner(api, request, clock=Clock(now=emulator.clock.now, sleep=emulator.advance)).run()
    s = summarise(parse(report.to_json()))
    assert [t.id for t in s.misses] == ["pair-b", "pair-a", "pair-c"]  # 900 s exactly meets it
    d = s.distribution
    assert (d.count, d.min, d.p50, d.p90, d.p99, d.max) == (5, 100, 1000, 5000, 5000, 5000)
    assert sum(b.within for b in s.bins) == 2 and sum(b.over for b in s.bins) == 3
    assert any(b.high == 900 for b in s.bins)  # the objective is a bin edge: no bin mixes met and missed
    assert all(b.over == 0 for b in s.bins if b.high <= 900) and all(b.within == 0 for b in s.bins if b.low >= 900)
    assert s.verdict == "warn" and s.label == "RPO MISSED" and s.all_executed and s.all_cleared
    md = render_markdown(s)
    hist = md[md.index("```text") : md.index("```", md.index("```text") + 7)]
    assert hist.index("objective 900 s") < hist.index("▒") and hist.count("█") > 0
    check_html(render_html(s))


def test_histogram_keeps_a_far_outlier_in_few_bins() -> None:
    bins = histogram([10, 86_400], 900)
    assert len(bins) <= 13 and bins[-1].high >= 86_400 and sum(b.within + b.over for b in bins) == 2
    assert histogram([], 900) == []


def test_progress_on_a_terminal_and_none_when_piped(instant: Emulator, endpoint: str) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    api = EbsDrillClient(Credentials(cfg.DEFAULT_ACCESS_KEY_ID, cfg.DEFAULT_ACCESS_KEY_SECRET),
                         endpoint=f"http://{endpoint}")  # fmt: skip
    request = DrillRequest(primary_region=PRIMARY, dr_region=DR, poll_seconds=0.01, pair_ids=["pair-0"])
    with drill_progress(console) as stage:
        report = DrillRunner(api, request, stage=stage).run()
    shown = buffer.getvalue()
    assert report.ok and all(f"drill: {s}" in shown for s in ("selected", "leftovers", "measured", "cleared"))
    with drill_progress(None) as stage:
        stage("selected")  # no console: nothing to show, nothing raised


def test_parse_refuses_what_is_not_a_report() -> None:
    with pytest.raises(ReportError, match="not a JSON object"):
        parse("text")
    doc = parse({"runId": "r", "primaryRegion": PRIMARY, "drRegion": DR, "startedAt": 1, "ok": True})
    assert doc.origin == "cli" and summarise(doc).label == "PASS" and summarise(doc).rpo_met is None


# ------------------------------------------------------------------------------ in a real browser
def test_drill_html_in_headless_chromium(instant: Emulator, endpoint: str, tmp_path: Path) -> None:
    """The page paints: the amber RPO MISSED banner, green bars within the objective, a red one over it."""
    from collections import Counter

    from chaos.drill_report.html import COLOURS, OVER, WITHIN
    from tests.gameday_report.test_browser import _near, _run, decode_png

    stale(instant, pair_late=2000)
    code, _, _ = cli("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--report", str(tmp_path / "r"))
    assert code == 0
    url = (tmp_path / "r" / "drill.html").resolve().as_uri()
    dom = _run(["--dump-dom", url], tmp_path / "profile-dom").stdout
    assert '<header class="verdict warn"' in dom and "RPO MISSED" in dom and "<script" not in dom
    assert len(re.findall(r'<rect class="within"', dom)) == 1 and len(re.findall(r'<rect class="over"', dom)) == 1

    shot = tmp_path / "drill.png"
    _run([f"--screenshot={shot}", "--window-size=1300,1100", url], tmp_path / "profile-shot")
    width, height, bpp, raw = decode_png(shot.read_bytes())
    assert (width, height) == (1300, 1100)
    pixels: Counter[tuple[int, int, int]] = Counter((raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), bpp))
    assert _near(pixels, COLOURS["warn"]) > 20_000, "no amber RPO MISSED banner"
    assert _near(pixels, WITHIN) > 2_000, "no green bar within the objective"
    assert _near(pixels, OVER) > 100, "no red bar over the objective"
    assert _near(pixels, COLOURS["fail"]) < 50, "a red FAIL banner on a run that only missed the RPO"


def test_many_problem_targets_give_commands_that_stay_short(emulator: Emulator, endpoint: str) -> None:
    stale(emulator, **{f"pair_s{i}": 1000 + i for i in range(25)})
    fault(emulator, FaultRule(action="ClearPairDrill", error=FaultError(status=403, code="Forbidden.Action")))
    emulator.clock.freeze(True)
    api = EbsDrillClient(Credentials(cfg.DEFAULT_ACCESS_KEY_ID, cfg.DEFAULT_ACCESS_KEY_SECRET),
                         endpoint=f"http://{endpoint}")  # fmt: skip
    request = DrillRequest(primary_region=PRIMARY, dr_region=DR, poll_seconds=1, start_interval_seconds=0)
    report = DrillRunner(api, request, clock=Clock(now=emulator.clock.now, sleep=emulator.advance)).run()
    s = summarise(parse(report.to_json()))
    assert len(s.uncleared) == 25 and len(s.misses) == 25 and s.misses[0].id == "pair-s24"
    cleanup, rerun = (st for st in s.steps if st.command)
    assert cleanup.command == f"replica-failover drill cleanup --primary {PRIMARY} --dr {DR}"  # the whole route
    assert rerun.command is not None and rerun.command.count("--pair ") == 20 and "--pair pair-s24 " in rerun.command
    assert "names the first 20" in rerun.text and "and 15 more" in rerun.text
    emulator.faults.remove()
    assert DrillRunner(api, request, clock=Clock(now=emulator.clock.now, sleep=emulator.advance)).cleanup().ok
