"""Channels and remote modes: the webhook, an external emulator (--endpoint), a deployed function (--target)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos.cli import app
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from chaos.emulator.ebs.models import GroupRecord, PairRecord
from chaos.emulator.server import RunningEmulator
from chaos.gameday.recovery_world import plan_file
from chaos.gameday.runner import FcTarget, RunOptions, run_file
from chaos.gameday.scenario import load_scenario
from chaos.template import ensure_importable, read_template
from tests.gameday.conftest import SCENARIOS


def test_webhook_channel_async_invokes_the_failover_function() -> None:
    outcome = run_file(SCENARIOS / "webhook-callback.yaml", RunOptions())
    assert outcome.passed, [e.message for e in outcome.violations]
    statuses = [i.status for i in outcome.journal.invocations]
    # three accepted callbacks, each handed on by the webhook and completed by the failover function
    assert statuses == ["completed", "completed", "completed", "http-401"]
    assert all(i.channel == "webhook" for i in outcome.journal.invocations)
    assert outcome.journal.figures["fcAttempts"] == 3  # the forged callback invoked nothing
    assert outcome.journal.figures["effects"] == 3


def test_external_emulator_over_the_control_plane(external: RunningEmulator, tmp_path: Path) -> None:
    for name in ("region-outage", "webhook-callback", "permission-denied"):
        outcome = run_file(SCENARIOS / f"{name}.yaml", RunOptions(endpoint=external.url, report_dir=tmp_path))
        assert outcome.passed, (name, [f"{e.name}: {e.message}" for e in outcome.violations])
    # the run happened there: its ledger holds the last scenario's calls
    assert external.emulator.ledger.counts()["requests"] > 0


def test_external_emulator_from_the_cli(cli: CliRunner, external: RunningEmulator, tmp_path: Path) -> None:
    result = cli.invoke(
        app,
        ["gameday", str(SCENARIOS / "region-outage.yaml"), "--endpoint", external.url, "--report-dir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    effects = external.emulator.ledger.snapshot()["effects"]
    by_action = {a: sum(1 for e in effects if e["action"] == a) for a in {e["action"] for e in effects}}
    # 11 failovers, then the service: 14 secondary disks attached, 11 standbys started, 2 records switched
    assert sum(n for a, n in by_action.items() if a.startswith("Failover")) == 11
    assert (by_action["AttachDisk"], by_action["StartInstances"], by_action["UpdateDomainRecord"]) == (14, 11, 2)


def test_unreachable_endpoint_is_a_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["gameday", str(SCENARIOS / "region-outage.yaml"), "--endpoint", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "no emulator control plane" in result.output


def _deploy(external: RunningEmulator, recovery: dict[str, str] | None = None, **env: str) -> None:
    """'Deploy' the failover function into the emulator's FC, as a staging account would have it
    (``recovery``: the recovery settings it is deployed with; ``env``: any other setting)."""
    fn = read_template()["failover"]
    ensure_importable(fn.code_uri)
    base = {"EBS_ENDPOINT": external.url, "CMS_ENDPOINT": external.url, "FAILOVER_VERIFY_POLL_SECONDS": "0.05"}
    external.emulator.fc.register(fn.spec({**base, **(recovery or {}), **env}).model_copy(update={"initializer": None}))


@pytest.fixture
def staging_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)


@pytest.mark.usefixtures("staging_keys")
def test_target_with_endpoint_drives_the_deployed_function(external: RunningEmulator, tmp_path: Path) -> None:
    # a deployed function ships its own recovery plan: here the scenario's, as its deployment would carry it
    scenario = load_scenario(SCENARIOS / "region-outage.yaml")
    with plan_file(scenario, read_template()["failover"].code_uri) as plan:
        assert plan is not None
        recovery = {"FAILOVER_RECOVERY_PLAN": plan, "FAILOVER_RECOVERY_TAGS": "true"}
        _deploy(external, {**recovery, "ECS_ENDPOINT": external.url, "DNS_ENDPOINT": external.url})
        outcome = run_file(
            SCENARIOS / "region-outage.yaml",
            RunOptions(
                endpoint=external.url,
                target=FcTarget.parse("fc://replica-failover/failover"),
                fc_endpoint=external.url,
                report_dir=tmp_path,
            ),
        )
    assert outcome.passed, [f"{e.name}: {e.message}" for e in outcome.violations]
    [inv] = outcome.journal.invocations
    assert inv.channel == "fc-sync" and inv.status == "completed"
    assert outcome.journal.figures["effects"] == 11 + 14 + 11 + 2  # failovers, attaches, starts, switches
    assert outcome.journal.figures["recoverySwitches"] == 2
    # it went through aliyun-fc2 to the function registered there, not through the runner's own registration
    assert [r["function"] for r in external.emulator.fc.invocations()] == ["failover"]


@pytest.mark.usefixtures("staging_keys")
def test_target_alone_judges_from_results(cli: CliRunner, external: RunningEmulator, tmp_path: Path) -> None:
    """A staging account: no control plane, so the fleet is what it is and the results are the evidence."""
    # no fault can take the primary down here, so this deployment trusts the alarm alone
    _deploy(external, FAILOVER_CONFIRM="alarm")
    external.emulator.update_config({"transitionDelays": {"failovering": 0.0}})
    backend = external.emulator.backend
    backend.seed_groups(
        [GroupRecord(ReplicaGroupId="pg-stage", SourceRegionId="cn-hangzhou", DestinationRegionId="cn-shanghai")]
    )
    backend.seed_pairs(
        [
            PairRecord(ReplicaPairId=f"pair-stage-{i}", SourceRegion="cn-hangzhou", DestinationRegion="cn-shanghai")
            for i in range(3)
        ]
        + [
            PairRecord(
                ReplicaPairId="pair-stage-g",
                SourceRegion="cn-hangzhou",
                DestinationRegion="cn-shanghai",
                ReplicaGroupId="pg-stage",
            )
        ]
    )
    result = cli.invoke(
        app,
        [
            "gameday",
            str(SCENARIOS / "region-outage.yaml"),
            "--target",
            "fc://replica-failover/failover",
            "--fc-endpoint",
            external.url,
            "--report-dir",
            str(tmp_path),
            "-v",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "result-status" in result.output and "no-ineligible-target-touched" not in result.output
    assert external.emulator.ledger.counts()["effects"] == 4


def test_target_without_keys_is_a_clear_error(
    cli: CliRunner, external: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", raising=False)
    outcome = run_file(
        SCENARIOS / "false-alarm.yaml",
        RunOptions(target=FcTarget.parse("fc://replica-failover/failover"), fc_endpoint=external.url),
    )
    assert not outcome.passed
    assert all("ALIBABA_CLOUD_ACCESS_KEY_ID" in (i.error or "") for i in outcome.journal.invocations)
