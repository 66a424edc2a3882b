"""Every sample in events/ behaves as the README's confirmation section documents for the default
policy ``manual or (alarm and (probe or metric or events>=3)) or (resource and probe and events>=5)``:

* a region-level alarm (threshold alarm whose dimensions name only a region) acts only with a
  corroboration - here the failing probe of the primary - and is held otherwise;
* a resource-level signal (one instance's system event) is held even with the probe failing, since
  it also needs events on at least five resources;
* a manual request acts at once (no evidence gathered); a dry run plans; a resolved alarm is a no-op.

Run against the emulator, with the primary healthy and with its ebs control plane down."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chaos.emulator.app import Emulator
from tests.function.confirm_world import TARGETS, confirm_env, effects, primary_down, writes
from tests.function.conftest import Invoke

EVENTS = Path(__file__).resolve().parents[2] / "events"
# sample -> (signal class, status with the primary healthy, status with the primary down)
EXPECTED = {
    "alert-ok.json": (None, "noop", "noop"),
    "threshold-alert.json": ("alarm", "held", "completed"),
    "threshold-alert.form.txt": ("alarm", "held", "completed"),
    "mns-topic.json": ("alarm", "held", "completed"),
    "eventbridge-alert-webhook.json": ("alarm", "held", "completed"),
    "system-event.json": ("resource", "held", "held"),
    "eventbridge.json": ("resource", "held", "held"),
    "eventbridge-ecs-native.json": ("resource", "held", "held"),
    "manual-failover.json": ("manual", "completed", "completed"),
    "manual-plan.json": (None, "planned", "planned"),
}


def test_the_table_names_every_sample() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in EVENTS.iterdir() if p.is_file())


@pytest.mark.parametrize("down", [False, True], ids=["primary-healthy", "primary-down"])
@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_each_sample_follows_the_default_policy(
    world: Emulator, endpoint: str, invoke: Invoke, sample: str, down: bool
) -> None:
    signal, healthy_status, down_status = EXPECTED[sample]
    if down:
        primary_down(world)
    result = invoke((EVENTS / sample).read_bytes(), env=confirm_env(endpoint))
    expected = down_status if down else healthy_status
    assert result["status"] == expected, result["reason"]
    confirmation = result["confirmation"]
    if signal is None:
        assert confirmation is None
    else:
        assert confirmation["signal"] == signal
        # a manual request decides without evidence; the others needed it
        assert (confirmation["evidence"] is None) == (signal == "manual")
    if expected == "completed":
        assert effects(world) == Counter(dict.fromkeys(TARGETS, 1))
    else:
        assert writes(world) == [] and result["writeCalls"] == 0
    if expected == "held":
        assert [n["kind"] for n in result["notifications"]] == ["hold", "hold"]
