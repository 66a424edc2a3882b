"""What a reader sees in a real run's report: human labels, measured values, group members, one duration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chaos.gameday import report
from chaos.gameday.runner import RunOptions, RunOutcome, run_file

REPO = Path(__file__).resolve().parents[2]
CARD = re.compile(r'<div class="card"><div class="k">([^<]*)</div><div class="v">([^<]*)</div></div>')


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """region-outage: 11 eligible targets, two of them groups with 5 member pairs between them."""
    out = tmp_path_factory.mktemp("reports")
    return run_file(REPO / "chaos" / "scenarios" / "region-outage.yaml", RunOptions(report_dir=out))


def _cards(page: str) -> dict[str, str]:
    return dict(CARD.findall(page))


def test_figure_tiles_carry_human_labels(outage: RunOutcome) -> None:
    page = outage.reports["html"].read_text(encoding="utf-8")
    cards = _cards(page)
    for shown in ("Duration", "API calls", "FC attempts", "FC re-invocations", "Failed over", "Eligible targets"):
        assert shown in cards, sorted(cards)
    # The call count depends on how the function batches its looks under load; the tile must show the measured one.
    assert cards["API calls"] == str(outage.journal.figures["apiCalls"]) and cards["Failed over"] == "11"
    assert int(cards["API calls"]) >= 11
    for raw in ("durationS", "fcAttempts", "apiCalls", "fleet eligible", "primaryRegion"):
        assert raw not in cards, raw
    md = outage.reports["markdown"].read_text(encoding="utf-8")
    assert "| FC attempts | 1 |" in md and "| fcAttempts |" not in md


def test_one_duration_defined_once(outage: RunOutcome) -> None:
    journal = outage.journal
    assert "durationS" not in journal.figures
    doc = json.loads(outage.reports["json"].read_text(encoding="utf-8"))
    assert doc["durationS"] == journal.duration_s
    completion = next(e for e in journal.expectations if e.name == "completion-time")
    assert completion.measured == journal.duration_s  # the bound and the header speak of the same time
    page = outage.reports["html"].read_text(encoding="utf-8")
    shown = f"{journal.duration_s:.2f} s"
    assert _cards(page)["Duration"] == shown and f"· {shown} ·" in page


def test_measured_shows_values_not_empty_braces(outage: RunOutcome) -> None:
    page = outage.reports["html"].read_text(encoding="utf-8")
    measured = re.findall(r'<span class="measured mono">([^<]*)</span>', page)
    assert measured and "{}" not in measured and "[]" not in measured
    assert "11 of 11 failovered" in measured and "11 of 11 ready" in measured
    md = outage.reports["markdown"].read_text(encoding="utf-8")
    assert "| {} |" not in md


def test_group_members_fail_over_with_their_group(outage: RunOutcome) -> None:
    page = outage.reports["html"].read_text(encoding="utf-8")
    lane = page[page.index('data-target="pair:pair-orders-01"') :]
    lane = lane[: lane.index("</g>\n") if "</g>\n" in lane else len(lane)]
    assert "with group pg-orders" in lane and "failedOver with group" in lane
    assert "ineligible" not in lane and "no outcome" not in lane
    md = outage.reports["markdown"].read_text(encoding="utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| pair-orders-01 |"))
    assert "with group pg-orders" in row and "failedOver with group" in row
    assert outage.journal.fleet["withGroup"] == 5
    # an ineligible pair still says so
    other = page[page.index('data-target="pair:pair-logs-01"') :]
    assert "ineligible" in other[: other.index("</g>")]


def test_every_file_goes_through_one_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[Path] = []
    original = report.write_report_file

    def recording(path: Path, text: str) -> Path:
        written.append(path)
        return original(path, text)

    monkeypatch.setattr(report, "write_report_file", recording)
    outcome = run_file(REPO / "chaos" / "scenarios" / "false-alarm.yaml", RunOptions(report_dir=tmp_path))
    on_disk = sorted(p for p in (tmp_path / "false-alarm").iterdir())
    assert sorted(written) == on_disk == sorted(outcome.reports.values())
    assert {p.name for p in on_disk} == {"report.json", "report.md", "report.html", "function-log.jsonl"}
