"""``replica-failover fanout status``: the CLI invokes the function through FC (3.0 and 2.0) with the
status event and prints its answer; its exit code says completed, still running, not completed or
bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from chaos.cli import app
from chaos.emulator.app import Emulator
from chaos.emulator.faults import FaultRule
from chaos.fanout_cli import EXIT_COMPLETED, EXIT_NOT_COMPLETED, EXIT_RUNNING, EXIT_USAGE
from tests.function.fanout_support import FC2, FC3, fanout_env, names, register, run, seed
from tests.function.test_fanout import ALERT


@pytest.fixture(autouse=True)
def own_processes(emulator: Emulator) -> None:
    """Invocations in processes of their own: the function's log lines stay out of the CLI's stdout."""
    emulator.update_config({"fc": {"isolation": "process"}})


def status(endpoint: str, api: str, key: str, **env: str) -> tuple[int, str]:
    """The CLI's exit code and output for ``key``, invoking through ``api`` at the emulator."""
    service, function = names(api)
    args = ["fanout", "status", "--incident", key, "--endpoint", f"http://{endpoint}", "--api-version", api,
            "--service", service, "--function", function]  # fmt: skip
    result = CliRunner().invoke(app, args, env=env or None)
    return result.exit_code, result.output


def test_status_of_a_finished_incident_on_fc3(emulator: Emulator, endpoint: str) -> None:
    targets = seed(emulator)
    env = fanout_env(endpoint, FC3)
    register(emulator, env)
    key = run(emulator, ALERT, env)["incident"]["incidentKey"]
    assert emulator.fc.wait_idle(120)
    code, out = status(endpoint, FC3, key)
    answer = json.loads(out)
    assert code == EXIT_COMPLETED, out
    assert (answer["status"], answer["tasks"]) == ("completed", {"Succeeded": 4})
    assert answer["summary"]["failedOver"] == len(targets) and answer["failedTargets"] == []
    # the CLI's query was a sync FC invocation of the function, after the four workers
    assert [i["type"] for i in emulator.fc.invocations()][-1] == "Sync"
    assert emulator.config().credentials[0].access_key_secret not in out


def test_status_while_workers_run_exits_3(emulator: Emulator, endpoint: str) -> None:
    seed(emulator)
    env = fanout_env(endpoint, FC3)
    register(emulator, env)
    slow = [{"action": a, "latencyMs": 3000} for a in ("FailoverDiskReplicaPair", "FailoverDiskReplicaGroup")]
    emulator.faults.set([FaultRule.model_validate(r) for r in slow], emulator.clock.now(), 0)
    key = run(emulator, ALERT, env)["incident"]["incidentKey"]
    code, out = status(endpoint, FC3, key)
    assert code == EXIT_RUNNING, out
    assert json.loads(out)["status"] == "running"
    assert emulator.fc.wait_idle(120)
    assert status(endpoint, FC3, key)[0] == EXIT_COMPLETED


def test_status_on_fc2_is_unsupported_and_exits_1(emulator: Emulator, endpoint: str) -> None:
    seed(emulator)
    env = fanout_env(endpoint, FC2)
    register(emulator, env)
    key = run(emulator, ALERT, env)["incident"]["incidentKey"]
    assert emulator.fc.wait_idle(120)
    code, out = status(endpoint, FC2, key)
    assert code == EXIT_NOT_COMPLETED, out
    assert json.loads(out)["status"] == "unsupported"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--incident", "bad key with spaces"], "is not an incident key"),
        (["--incident", "thr-1", "--function", "no/slash"], "must be FC names"),
        (["--incident", "thr-1", "--endpoint", "http://a b"], "is not host[:port]"),
    ],
)
def test_bad_input_exits_2_and_invokes_nothing(
    emulator: Emulator, endpoint: str, args: list[str], message: str
) -> None:
    register(emulator, fanout_env(endpoint, FC3))
    base = ["fanout", "status", "--endpoint", f"http://{endpoint}"]
    result = CliRunner().invoke(app, [*base, *args])
    assert result.exit_code == EXIT_USAGE and message in result.output, result.output
    assert emulator.fc.invocations() == []


def test_fc_refusing_the_query_exits_2(emulator: Emulator, endpoint: str) -> None:
    register(emulator, fanout_env(endpoint, FC3))
    secret = "s3cret-never-printed"
    keys = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAInope", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret}
    code, out = status(endpoint, FC3, "thr-1", **keys)
    assert code == EXIT_USAGE and "FC did not run the status query" in out and secret not in out, out
    assert emulator.fc.invocations() == []  # refused at FC's door: the function never ran
    no_keys = {"ALIBABA_CLOUD_ACCESS_KEY_ID": None, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": None}
    args = ["fanout", "status", "--incident", "thr-1", "--endpoint", "fc.example.com"]
    result = CliRunner().invoke(app, args, env=no_keys)
    assert result.exit_code == EXIT_USAGE and "no credentials" in result.output
