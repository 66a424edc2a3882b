"""The command line's first hour: clear one-line errors, one exit code per outcome, one result on stdout,
a bounded wait for the emulator, a warning for a non-loopback bind, and README commands that work as written."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from replica_failover.config import load_settings
from replica_failover.errors import EventError
from replica_failover.intake import parse_event
from typer.testing import CliRunner

from chaos.cli import app, bench_progress
from chaos.emulator.app import Emulator
from chaos.invoke import EXIT_DONE, EXIT_REJECTED, EXIT_USAGE
from tests.conftest import seed_basic

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = str(ROOT / "template.yml")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_help_names_the_program_plainly() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "``" not in out and "replica-failover: " in out


def test_a_mistyped_event_file_is_one_line_and_a_usage_error() -> None:
    code, out, err = run("invoke", "--event", "events/manual-failvoer.json", "--template", TEMPLATE)
    assert code == EXIT_USAGE and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cannot read the event file 'events/manual-failvoer.json'" in err and "No such file" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--template", "nope.yml"], "cannot read nope.yml"),
        (["--template", TEMPLATE, "--function", "failvoer"], "no function 'failvoer'"),
        (["--template", TEMPLATE, "--env", "NOEQUALS"], "--env takes KEY=VALUE"),
    ],
)
def test_other_usage_errors_are_one_line(args: list[str], says: str) -> None:
    code, _, err = run("invoke", "--event", str(ROOT / "events" / "manual-plan.json"), *args)
    assert code == EXIT_USAGE and err.count("\n") == 1 and says in err, err


def test_a_rejected_event_has_its_own_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text('{"action": "failover", "primaryRegion": "cn-hangzhou"}')  # no reason: rejected
    code, out, _ = run("invoke", "--event", str(bad), "--template", TEMPLATE)
    result = json.loads(out)
    assert code == EXIT_REJECTED and result["status"] == "rejected"
    assert result["failure"]["kind"] == "rejected" and result["failure"]["cause"] == "event"
    assert result["apiCalls"] == 0


def test_the_result_is_printed_once_and_the_logs_summarize_it(emulator: Emulator, endpoint: str) -> None:
    seed_basic(emulator)
    code, out, err = run(
        "invoke", "--event", str(ROOT / "events" / "manual-plan.json"), "--endpoint", f"http://{endpoint}",
        "--template", TEMPLATE, "--function", "replica-failover/failover",
    )  # fmt: skip
    assert code == EXIT_DONE, err
    result = json.loads(out)  # stdout is exactly one JSON document
    assert result["status"] == "planned" and len(result["targets"]) == 4
    lines = [json.loads(line) for line in err.splitlines()]  # stderr: one JSON object per line
    (summary,) = [line for line in lines if line["event"] == "result"]
    assert summary["result"] == {k: result[k] for k in ("ok", "status", "reason", "summary", "failure")}
    assert summary["resultOn"] == "stdout"
    assert result["targets"][0]["clientToken"] not in err  # the per-target detail is on stdout only


def test_readme_manual_event_shape_is_accepted() -> None:
    """The manual shape README documents (with its required reason) is what the parser accepts."""
    match = re.search(r"a manual event, `(\{[^`]*\})`", README)
    assert match, "README lists the manual event shape"
    shape = match.group(1).replace('"plan"|"failover"', '"failover"').replace("…", "on-call approved")
    settings = load_settings({"FAILOVER_PRIMARY_REGIONS": "cn-hangzhou", "FAILOVER_DR_REGION": "cn-shanghai"})
    incident = parse_event(shape, settings, account_id=None)
    assert incident.disposition == "act", incident.reason
    without_reason = json.loads(shape)
    del without_reason["reason"]
    with pytest.raises(EventError, match="reason: Field required"):  # the handler turns this into "rejected"
        parse_event(json.dumps(without_reason), settings, account_id=None)


def test_emulator_wait_returns_once_the_emulator_answers(endpoint: str) -> None:
    code, out, _ = run("emulator", "wait", "--endpoint", f"http://{endpoint}", "--timeout", "10")
    assert code == 0 and json.loads(out)["ready"] is True


def test_emulator_wait_gives_up_after_its_timeout() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run("emulator", "wait", "--endpoint", f"http://127.0.0.1:{port}", "--timeout", "0.3")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and f"no emulator answered at http://127.0.0.1:{port} within 0.3 s" in err


@pytest.mark.parametrize(("host", "warns"), [("0.0.0.0", True), ("127.0.0.1", False)])  # noqa: S104
def test_serve_warns_when_not_on_loopback(host: str, warns: bool) -> None:
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "chaos.cli", "emulator", "serve", "--host", host, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # printed once it listens
        assert first["endpoint"].startswith("http://")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert ("warning: binding the emulator to 0.0.0.0" in err) is warns, err


def test_bench_progress_shows_phases_on_a_terminal_and_nothing_without_one() -> None:
    import io

    from rich.console import Console

    buf = io.StringIO()
    with bench_progress(Console(file=buf, force_terminal=True, width=100)) as say:
        say("function: failing over 12 pairs")
    assert "bench: function: failing over 12 pairs" in buf.getvalue()
    with bench_progress(None) as say:
        say("silent")  # piped: a no-op, nothing to write to
