"""docs/runbook.md cannot drift from the CLI: every documented subcommand and option still exists."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

RUNBOOK = Path(__file__).resolve().parent.parent / "docs" / "runbook.md"
PROGRAM = "replica-failover"
# A word of a subcommand path; a path or a value (`chaos/x.yaml`, `$E`) is not one.
SUBCOMMAND_WORD = re.compile(r"^[a-z][a-z-]*$")


def _program() -> str:
    beside = Path(sys.executable).parent / PROGRAM
    found = str(beside) if beside.exists() else shutil.which(PROGRAM)
    assert found, f"{PROGRAM} is not installed next to {sys.executable} nor on PATH"
    return found


def runbook_commands(text: str) -> list[str]:
    """The `replica-failover ...` lines of the fenced code blocks, continuations joined."""
    commands: list[str] = []
    in_block = False
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            in_block = not in_block
            pending = ""
            continue
        if not in_block:
            continue
        if pending:
            line = pending + " " + line
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        line = line.removeprefix("$ ")
        if line.startswith(PROGRAM + " "):
            commands.append(line)
    return commands


def split_command(command: str) -> tuple[tuple[str, ...], list[str]]:
    """(subcommand path, long options used) of one documented command line."""
    words = shlex.split(command, comments=True)[1:]
    path: list[str] = []
    for word in words:
        if len(path) == 2 or not SUBCOMMAND_WORD.match(word):
            break
        path.append(word)
    options = [w.split("=", 1)[0] for w in words if w.startswith("--")]
    return tuple(path), options


@cache
def help_text(path: tuple[str, ...]) -> tuple[int, str]:
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [_program(), *path, "--help"], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    return done.returncode, done.stdout + done.stderr


COMMANDS = runbook_commands(RUNBOOK.read_text(encoding="utf-8"))


def test_runbook_documents_the_on_call_commands() -> None:
    paths = {split_command(c)[0] for c in COMMANDS}
    expected = {
        ("emulator", "serve"),
        ("emulator", "wait"),
        ("drill", "run"),
        ("drill", "cleanup"),
        ("drill", "report"),
        ("invoke",),
        ("approve",),
        ("undo",),
        ("reprotect",),
        ("failback",),
    }
    assert expected <= paths, f"missing from the runbook: {sorted(expected - paths)}"


def test_runbook_drill_writes_the_reports_people_read() -> None:
    runs = [split_command(c) for c in COMMANDS if split_command(c)[0] == ("drill", "run")]
    assert any("--report" in options for _, options in runs), "no `drill run --report DIR` in the runbook"


@pytest.mark.parametrize("command", COMMANDS)
def test_runbook_command_exists(command: str) -> None:
    path, options = split_command(command)
    assert path, f"no subcommand in: {command}"
    code, text = help_text(path)
    assert code == 0, f"`{PROGRAM} {' '.join(path)} --help` exited {code}: {text[-400:]}"
    missing = [o for o in options if o != "--help" and not re.search(re.escape(o) + r"(?![\w-])", text)]
    assert not missing, f"options not in `{' '.join(path)} --help`: {missing}"


def test_an_unknown_subcommand_fails_the_check() -> None:
    path, _ = split_command(f"{PROGRAM} no-such-command --now")
    assert help_text(path)[0] != 0


def test_extraction_joins_continuations_and_skips_prose() -> None:
    text = (
        "replica-failover ignored outside a block\n"
        "```bash\n"
        "$ replica-failover approve --incident-key K \\\n"
        "  --digest D   # trailing comment --not-an-option\n"
        "echo replica-failover not-a-command\n"
        "```\n"
    )
    (command,) = runbook_commands(text)
    assert split_command(command) == (("approve",), ["--incident-key", "--digest"])
