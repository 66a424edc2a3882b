"""Game-day fixtures: the scenario library, a CLI runner, an external emulator on 127.0.0.1, broken functions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from replica_failover.ebs import ApiFailure, EbsApi
from replica_failover.execute import Executor
from replica_failover.plan import PlanItem
from replica_failover.policy import Done, NextRound
from typer.testing import CliRunner

from chaos.emulator.app import Emulator
from chaos.emulator.server import RunningEmulator, start
from chaos.gameday import capture

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "chaos" / "scenarios"
LIBRARY = sorted(SCENARIOS.glob("*.yaml"))


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _fresh_capture() -> Iterator[None]:
    capture.forget()
    yield
    capture.forget()
    # a timed-out FC attempt keeps its thread; it must not outlive the test that started it
    for thread in threading.enumerate():
        if thread.name.startswith("fc-replica-failover-"):
            thread.join(10)


@pytest.fixture
def external() -> Iterator[RunningEmulator]:
    """An emulator served on 127.0.0.1 by chaos.emulator.server, as ``--endpoint`` expects one."""
    handle = start(Emulator(region="cn-shanghai"), "127.0.0.1", 0)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def random_token_per_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken function: every failover call carries a fresh ClientToken, so a retry is a new request."""
    pair, group = EbsApi.failover_pair, EbsApi.failover_group

    def failover_pair(self: EbsApi, region: str, pair_id: str, client_token: str) -> str:
        return pair(self, region, pair_id, f"rnd-{uuid.uuid4().hex}")

    def failover_group(self: EbsApi, region: str, group_id: str, client_token: str) -> str:
        return group(self, region, group_id, f"rnd-{uuid.uuid4().hex}")

    monkeypatch.setattr(EbsApi, "failover_pair", failover_pair)
    monkeypatch.setattr(EbsApi, "failover_group", failover_group)


@pytest.fixture
def no_reconciliation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken function: InvalidStatus is taken at its word (failed) instead of describing the target again."""
    original = Executor._on_failure

    def on_failure(self: Executor, item: PlanItem, f: ApiFailure, ambiguous: bool) -> Done | NextRound:
        if f.code == "OperationDenied.InvalidStatus":
            return Done("failed", f"{f.code} (not reconciled)")
        return original(self, item, f, ambiguous)

    monkeypatch.setattr(Executor, "_on_failure", on_failure)
