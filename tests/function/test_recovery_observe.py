"""Described records -> World, actions -> calls, StartInstances answers -> decisions."""

from __future__ import annotations

from replica_failover.recovery.observe import attach_calls, start_answers, start_batches, switch_keys, world_from_reads
from replica_failover.recovery.steps import Action, Attach, DiskState, Layout, Progress, Switch, decide

LAYOUT = Layout(
    attaches=(Attach("d-1", "pair-1", "i-1"), Attach("d-2", "pair-1", "i-1")),
    switches=(Switch("www", "dr", ("i-1", "i-app")),),
)


def test_world_from_reads_marks_what_the_read_did_not_return_as_not_found() -> None:
    world = world_from_reads(
        LAYOUT,
        targets={"pair-1": "failovered"},
        disks=[{"DiskId": "d-1", "Status": "In_use", "InstanceId": "i-1"}],
        instances=[{"InstanceId": "i-1", "Status": "Stopped"}],
        records={"www": "prod"},
        hook="passed",
    )
    assert world.disks == {"d-1": DiskState("In_use", "i-1"), "d-2": None}
    assert world.instances == {"i-1": "Stopped", "i-app": None}
    assert (world.targets, world.records, world.hook) == ({"pair-1": "failovered"}, {"www": "prod"}, "passed")
    actions, _ = decide(LAYOUT, world, Progress())
    assert [(a.step, a.kind) for a in actions][:2] == [("attach:d-1", "done"), ("attach:d-2", "failed")]


def test_actions_become_calls() -> None:
    world = world_from_reads(
        LAYOUT,
        targets={"pair-1": "failovered"},
        disks=[{"DiskId": "d-1", "Status": "Available"}, {"DiskId": "d-2", "Status": "Available"}],
        instances=[{"InstanceId": "i-1", "Status": "Stopped"}],
        records={"www": "prod"},
    )
    actions, _ = decide(LAYOUT, world, Progress())
    assert attach_calls(LAYOUT, actions) == [("i-1", "d-1"), ("i-1", "d-2")]
    assert start_batches(actions) == [] and switch_keys(actions) == []
    starts = [Action(step=f"start:i-{k}", kind="act", reason="") for k in range(205)]
    batches = start_batches([*starts, Action(step="start:i-x", kind="wait", reason="")])
    assert [len(b) for b in batches] == [100, 100, 5] and batches[0][0] == "i-0"
    assert switch_keys([Action(step="switch:alidns:www.a.com/A", kind="act", reason="")]) == ["alidns:www.a.com/A"]


def test_start_answers() -> None:
    answers = {
        "i-1": ("200", "success"),
        "i-2": ("IncorrectInstanceStatus", "The current status of the resource does not support this operation."),
        "i-3": ("InvalidInstanceId.NotFound", ""),
    }
    out = start_answers(answers, ["i-1", "i-2", "i-3", "i-4"])
    assert out["i-1"] is None
    assert out["i-2"] is not None and out["i-2"].kind == "recheck" and "does not support" in out["i-2"].reason
    assert out["i-3"] is not None and out["i-3"].kind == "failed"
    assert out["i-4"] is not None and out["i-4"].kind == "recheck"
