"""The scenario library: the scenarios shipped inside the package, found from any working directory.

``chaos/scenarios/*.yaml`` is package data (see pyproject), so :func:`bundled_scenarios` reads it through
:mod:`importlib.resources` rather than a path relative to the repository: ``gameday list`` works from
anywhere, installed or editable. An empty listing is an error, never a silent success.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from chaos.gameday.scenario import ScenarioError, load_scenario

PACKAGE = "chaos"
DIRECTORY = "scenarios"


class LibraryError(RuntimeError):
    """No scenario where one was expected; the message says where it looked."""


def bundled_directory() -> Path:
    """The directory holding the bundled scenarios (a real directory: the package is installed unzipped)."""
    return Path(str(resources.files(PACKAGE).joinpath(DIRECTORY)))


def bundled_scenarios() -> list[Path]:
    return scenario_files(bundled_directory())


def scenario_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise LibraryError(f"{directory}: not a directory")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise LibraryError(f"{directory}: no scenario (*.yaml) files")
    return files


def listing(directory: Path | None = None) -> list[str]:
    """``<path>\\t<title>`` per scenario in ``directory`` (default: the bundled library); invalid ones say so."""
    lines = []
    for path in scenario_files(directory) if directory is not None else bundled_scenarios():
        try:
            title = load_scenario(path).title
        except ScenarioError as exc:
            title = f"[invalid] {str(exc).splitlines()[0]}"
        lines.append(f"{path}\t{title}")
    return lines


def resolve(name: str) -> Path:
    """A scenario argument: an existing file as given, else a bundled scenario by name (``region-outage``)."""
    path = Path(name)
    if path.is_file():
        return path
    bundled = bundled_directory() / f"{path.stem}.yaml"
    if path.suffix in ("", ".yaml") and path.parent == Path() and bundled.is_file():
        return bundled
    return path  # loading it reports what is wrong
