"""The bundled scenario library is found from any working directory; an empty directory is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.gameday.library import LibraryError, bundled_scenarios, listing, resolve
from tests.gameday.conftest import LIBRARY


def test_bundled_scenarios_from_another_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert [p.name for p in bundled_scenarios()] == [p.name for p in LIBRARY]
    lines = listing()
    assert len(lines) == len(LIBRARY)
    assert any(line.endswith("region-outage.yaml\tRegion outage (baseline)") for line in lines)
    assert not any("[invalid]" in line for line in lines)


def test_an_empty_or_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no scenario"):
        listing(tmp_path)
    with pytest.raises(LibraryError, match="not a directory"):
        listing(tmp_path / "nope")


def test_a_scenario_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve("region-outage").read_text() == resolve("region-outage.yaml").read_text()
    assert resolve("region-outage").parent.name == "scenarios"
    (tmp_path / "mine.yaml").write_text("title: mine\n")
    assert resolve("mine.yaml") == Path("mine.yaml")  # a file that exists wins
    assert resolve("no-such-scenario") == Path("no-such-scenario")  # loading it will say so


CONFIRMATION = ("single-resource-event", "escalating-outage", "approval-flow", "notification-down", "cms-throttled")


def test_the_confirmation_scenarios_are_bundled_and_judge_notifications(tmp_path: Path) -> None:
    """Each is listed from any directory, and none can pass without what it is about: it judges the
    recorded notifications or the function's record of them, and the decision in the result."""
    from chaos.gameday.scenario import load_scenario

    bundled = {p.stem: p for p in bundled_scenarios()}
    for name in CONFIRMATION:
        sc = load_scenario(bundled[name])
        x = sc.expect
        assert sc.notify.channels(), name
        assert x.notifications is not None or x.result_notification_failures, name
        assert x.result_fields or any(e.result_fields for e in sc.trigger.events), name
        assert x.no_secret_leaked, name
