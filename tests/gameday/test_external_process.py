"""An emulator in its own process (``replica-failover emulator serve``), as a newcomer starts one.

Its FC runs the failover function in that process: an async invocation's result comes back to the
runner through the capture directory, so the library's baseline passes there too.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.gameday.runner import RunOptions, run_file
from tests.gameday.conftest import SCENARIOS

START_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "emulator", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(START_TIMEOUT):
                pytest.fail(f"the emulator printed no endpoint in {START_TIMEOUT:g} s")
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        yield str(json.loads(line)["endpoint"])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.parametrize("name", ["region-outage", "webhook-callback"])
def test_library_scenario_against_an_emulator_process(served: str, name: str, tmp_path: Path) -> None:
    outcome = run_file(SCENARIOS / f"{name}.yaml", RunOptions(endpoint=served, report_dir=tmp_path))
    assert outcome.passed, [f"{e.name}: {e.message}" for e in outcome.violations]
    # the results were read back, not inferred from FC's "succeeded"
    assert all(i.result is not None for i in outcome.journal.invocations if i.status == "completed")
