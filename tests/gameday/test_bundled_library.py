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
