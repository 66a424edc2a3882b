"""report.json / report.md / report.html: round trip, tables, self-containment, escaping, large fleets."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path

from replica_failover.redact import redact_text

from chaos.gameday.journal import (
    ExpectationResult,
    InvocationRecord,
    RunJournal,
    TargetTimeline,
    TimelineEvent,
)
from chaos.gameday.report import MAX_LANES, render_html, render_markdown, write_reports
from tests.gameday_report.conftest import GameDay


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of script elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse(html_text: str) -> _Tags:
    p = _Tags()
    p.feed(html_text)
    p.close()
    return p


def assert_self_contained(html_text: str) -> None:
    tags = parse(html_text)
    names = [t for t, _ in tags.tags]
    assert "link" not in names and "img" not in names and "iframe" not in names and "object" not in names
    assert names.count("script") == 1
    for tag, attrs in tags.tags:
        for key, value in attrs:
            assert not key.startswith("on"), f"event handler attribute {key} on <{tag}>"
            if key in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                raise AssertionError(f"<{tag} {key}={value!r}>: the report must not reference anything")
            if key != "content":  # the CSP meta tag names sources, it loads nothing
                assert "http://" not in (value or "") and "https://" not in (value or ""), (tag, key, value)
    script = tags.scripts[0]
    assert "http" not in script and "fetch(" not in script and "XMLHttpRequest" not in script
    # CSS cannot pull anything in either
    assert "@import" not in html_text and "url(" not in html_text
    # the only raw http(s) text is inside escaped journal strings (none in a real run)
    raw = re.sub(r"&[a-z]+;|&#\d+;", "", html_text)
    assert not re.search(r"<[^>]+(?:https?:)?//", raw.replace('content="', "")), "a URL inside a tag"


def test_write_reports_round_trip(gameday: GameDay, tmp_path: Path) -> None:
    paths = write_reports(gameday.journal, tmp_path / "out")
    assert set(paths) == {"json", "markdown", "html"}
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "report.html"}
    back = RunJournal.model_validate_json(paths["json"].read_text(encoding="utf-8"))
    # the file is the journal with every credential value the process held masked, nothing else changed
    assert back == RunJournal.model_validate_json(redact_text(gameday.journal.model_dump_json()))
    text = paths["json"].read_text(encoding="utf-8")
    # camelCase, as the journal's aliases say: what a dashboard will read
    assert '"startedWall"' in text and '"finalStatus"' in text and '"requestId"' in text
    assert '"lost-ack-504"' in text  # the fault rule and its firing


def test_markdown_tables(gameday: GameDay) -> None:
    md = render_markdown(gameday.journal)
    assert md.startswith("# Game day: A lost acknowledgement, a 504 before apply and a write held past the read")
    for heading in ("## Expectations", "## Figures", "## Invocations", "## Faults fired", "## Targets"):
        assert heading in md
    assert "| OK | Expectation | Expected | Measured | Message |" in md
    assert "| ✅ | exactly-one-effect-per-target | == 1 per eligible target |" in md
    assert re.search(r"\| lost-ack-504 \| action=FailoverDiskReplicaPair, target=pair-1 \| 504 RequestTimeout \|", md)
    row = next(line for line in md.splitlines() if line.startswith("| pair-1 |"))
    # columns: id, kind, eligible, outcome, final status, calls, faults, replays, effects, problems
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == ["pair", "yes", "alreadyFailedOver", "failovered"] and cells[5:9] == ["1", "1", "0", "1"]
    assert "| 0 | direct | manual-failover |" in md
    assert "Showing" not in md
    small = render_markdown(gameday.journal, max_rows=2)
    assert "_Showing 2 of 7 targets (problem targets first); the full list is in report.json._" in small


def test_html_is_self_contained(gameday: GameDay) -> None:
    page = render_html(gameday.journal)
    assert_self_contained(page)
    assert page.count('<g class="lane') == len(gameday.timelines) == 7
    assert 'class="verdict pass"' in page and ">PASS<" in page
    for marker in ('class="m-fault"', 'class="m-effect"', 'class="m-effect via"', "m-replay", "m-transition", "m-flip"):
        assert marker in page, marker
    assert "fault lost-ack-504 on FailoverDiskReplicaPair -&gt; 504 RequestTimeout" in page  # hover title


def _hostile_journal() -> RunJournal:
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    url = '<a href="https://evil.example/x">click</a><script src="https://evil.example/x.js"></script>'
    return RunJournal(
        scenario=f"s{evil}",
        title=f"</title><style>body{{display:none}}</style>{evil}",
        description=f"{url}\n<iframe src=//evil.example></iframe> [click](javascript:alert(3))",
        seed=1,
        started_wall=0.0,
        duration_s=1.0,
        verdict="fail",
        figures={f"fig{evil}": 1},
        fleet={f"k{evil}": f"v{url}"},
        expectations=[
            ExpectationResult(
                name=f"e{evil}", ok=False, expected=f"x{url}", measured={"k": evil}, message=f"</td></table>{evil}"
            )
        ],
        invocations=[
            InvocationRecord(index=0, channel="direct", event_name=evil, started_at=0.1, status=evil, error=url)
        ],
        faults=[{"id": evil, "action": evil, "error": {"status": 504, "code": evil}, "matched": 1, "fired": 1}],
        timelines=[
            TargetTimeline(
                kind="pair",
                id=f"pair-{evil}",
                eligible=False,
                final_status=evil,
                outcome=evil,
                effects=1,
                events=[
                    TimelineEvent(
                        t=0.2,
                        kind="call",
                        label=evil,
                        status=504,
                        code=f"]]></title>{evil}",
                        request_id=evil,
                        client_token=url,
                        detail={evil: url},
                    ),
                    TimelineEvent(t=0.2, kind="fault", label=evil, detail={"rule": evil}),
                    TimelineEvent(t=0.2, kind="effect", label=evil, detail={"via": evil}),
                    TimelineEvent(t=0.9, kind="outcome", label=evil),
                ],
            )
        ],
    )


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    journal = _hostile_journal()
    page = render_html(journal)
    assert_self_contained(page)
    tags = parse(page)
    names = [t for t, _ in tags.tags]
    assert "a" not in names and names.count("style") == 1 and names.count("script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "&lt;a href=&quot;https://evil.example/x&quot;&gt;" in page
    # the CSP allows exactly our own script
    assert "script-src 'sha256-" in page and "unsafe-eval" not in page
    md = render_markdown(journal)
    assert "<script" not in md and "<img" not in md and "<a " not in md and "<iframe" not in md
    assert "[click](" not in md and "\\[click\\](javascript" in md
    # no cell breaks out of its table: every row of a table has as many cells as its header
    unescaped = re.compile(r"(?<!\\)\|")
    for block in md.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len({len(unescaped.findall(line)) for line in rows}) <= 1, rows
    # the JSON keeps the strings as they were, and still round-trips
    paths = write_reports(journal, tmp_path)
    assert RunJournal.model_validate_json(paths["json"].read_text(encoding="utf-8")) == journal


def _fleet(n: int) -> RunJournal:
    timelines = []
    for i in range(n):
        outcome = "failed" if i == n - 1 else "failedOver"
        timelines.append(
            TargetTimeline(
                kind="pair",
                id=f"pair-{i:05d}",
                eligible=True,
                final_status="failovered",
                outcome=outcome,
                effects=1,
                events=[
                    TimelineEvent(t=i / n, kind="call", label="FailoverDiskReplicaPair 200", status=200),
                    TimelineEvent(t=i / n, kind="effect", label="normal -> failovering"),
                    TimelineEvent(t=i / n + 0.1, kind="outcome", label=f"{outcome} after 1 attempt(s)"),
                ],
            )
        )
    return RunJournal(
        scenario="big", title="big", seed=1, started_wall=0.0, duration_s=2.0, verdict="fail", timelines=timelines
    )


def test_large_fleet_is_bounded_and_problem_first() -> None:
    journal = _fleet(5000)
    t0 = time.perf_counter()
    page = render_html(journal)
    md = render_markdown(journal)
    elapsed = time.perf_counter() - t0
    assert elapsed < 10, elapsed
    assert page.count('<g class="lane') == MAX_LANES
    assert f"Showing the first {MAX_LANES} of 5000 targets" in page
    # the one failed target is at the end of id order, but first on the page and in the table
    first_lane = re.search(r'<g class="lane[^"]*" data-target="([^"]+)"', page)
    assert first_lane is not None and first_lane.group(1) == "pair:pair-04999"
    assert '<g class="lane problem" data-target="pair:pair-04999"' in page
    assert md.split("## Targets", 1)[1].splitlines()[6].startswith("| pair-04999 | pair | yes | failed |")
    assert "_Showing 50 of 5000 targets" in md
    assert len(page) < 3_000_000
