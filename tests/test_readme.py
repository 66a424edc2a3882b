"""README.md says what the code does: the exit-code table is invoke's, and "Where to find what" names real modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from chaos import invoke

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    nxt = README.find("\n#", start + len(title))
    return README[start : nxt if nxt != -1 else len(README)]


def test_the_exit_code_table_is_invokes() -> None:
    rows = re.findall(r"^\| `(\d)` \| ([^|]*) \|", _section("### Exit codes of `replica-failover invoke`"), re.M)
    table = {int(code): outcome for code, outcome in rows}
    constants = {v for k, v in vars(invoke).items() if k.startswith("EXIT_") and isinstance(v, int)}
    assert set(table) == constants, (sorted(table), sorted(constants))
    for status, code in invoke.EXIT_CODES.items():
        assert f"`{status}`" in table[code], (status, code, table[code])


def test_where_to_find_what_names_modules_that_exist() -> None:
    section = _section("### Where to find what")
    paths = set(re.findall(r"`(chaos/[\w/.]+\.py)`", section))
    assert len(paths) >= 8, paths
    # the function package's modules are named there too; the layout test of that package owns them
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not missing, missing
    for concern in ("Event decoding", "Region resolution", "Triage", "The ClientToken", "Retry policy", "Pacing",
                    "Error policy", "The result", "Emulator routing", "Emulator state", "Fault rules",
                    "Game-day phases"):  # fmt: skip
        assert f"| {concern}" in section, concern


def test_the_layout_names_the_game_day_phases() -> None:
    layout = _section("## Layout")
    gameday = layout[layout.index("gameday/") : layout.index("scenarios/")]
    for phase in ("scenario", "world", "channels", "method", "judging", "expectations", "report", "runner"):
        assert phase in gameday and (ROOT / "chaos" / "gameday" / f"{phase}.py").is_file(), phase


@pytest.mark.parametrize("package", ["chaos", "chaos/gameday", "chaos/emulator/ebs", "chaos/emulator/fc"])
def test_each_package_docstring_states_its_structure(package: str) -> None:
    """Every module of the package is named in its ``__init__`` docstring, where a reader starts."""
    directory = ROOT / package
    doc = ast.get_docstring(ast.parse((directory / "__init__.py").read_text(encoding="utf-8"))) or ""
    modules = sorted(p.name for p in directory.glob("*.py") if p.name != "__init__.py")
    assert modules and not [m for m in modules if m not in doc], [m for m in modules if m not in doc]
