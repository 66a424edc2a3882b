"""The compute/traffic step logic: every observed state -> the right next action, the error policy,
and a property over random observation sequences (ordering holds, no step is acted on twice)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replica_failover.recovery.steps import (
    Action,
    Attach,
    DiskState,
    Layout,
    Progress,
    Switch,
    World,
    attach_action,
    decide,
    finished,
    on_error,
    start_action,
    switch_action,
)

A1 = Attach(disk_id="d-1", target_id="pair-1", instance_id="i-1")
A2 = Attach(disk_id="d-2", target_id="pair-1", instance_id="i-1")
SW = Switch(key="alidns:www.example.com/A", value="10.0.0.2", after=("i-1",))
LAYOUT = Layout(attaches=(A1, A2), switches=(SW,))


@pytest.mark.parametrize(
    ("target", "disk", "instance", "acted", "kind", "reason_part"),
    [
        ("failovering", DiskState("Available"), "Stopped", False, "wait", "not failovered"),
        ("normal", DiskState("Available"), "Stopped", False, "wait", "not failovered"),
        (None, DiskState("Available"), "Stopped", False, "wait", "not read yet"),
        ("failover_failed", DiskState("Available"), "Stopped", False, "failed", "never became writable"),
        ("failovered", DiskState("Available"), "Stopped", False, "act", "AttachDisk d-1 -> i-1"),
        ("failovered", DiskState("Available"), "Running", False, "act", "AttachDisk"),
        ("failovered", DiskState("Available"), "Starting", False, "wait", "standby is Starting"),
        ("failovered", DiskState("Available"), None, False, "failed", "standby i-1 not found"),
        ("failovered", DiskState("Available"), "Expired", False, "failed", "cannot take a disk"),
        ("failovered", DiskState("Available"), "Stopped", True, "wait", "AttachDisk answered"),
        ("failovered", DiskState("Attaching", "i-1"), "Stopped", True, "wait", "Attaching on i-1"),
        ("failovered", DiskState("In_use", "i-1"), "Stopped", True, "done", "attached to i-1"),
        ("failovered", DiskState("In_use", "i-1"), "Stopped", False, "done", "attached to i-1"),
        ("failovered", DiskState("In_use", "i-9"), "Stopped", False, "conflict", "attached to i-9"),
        ("failovering", DiskState("In_use", "i-9"), "Stopped", False, "conflict", "left as it is"),
        ("failovered", DiskState("Creating"), "Stopped", False, "wait", "disk is Creating"),
        ("failovered", DiskState("Detaching"), "Stopped", False, "wait", "disk is Detaching"),
        ("failovered", DiskState("Deleted"), "Stopped", False, "failed", "cannot be attached"),
        ("failovered", None, "Stopped", False, "failed", "not found"),
    ],
)
def test_attach(
    target: str | None, disk: DiskState | None, instance: str | None, acted: bool, kind: str, reason_part: str
) -> None:
    world = World(
        targets={} if target is None else {"pair-1": target},
        disks={"d-1": disk},
        instances={"i-1": instance},
    )
    action = attach_action(A1, world, acted)
    assert (action.kind, action.step) == (kind, "attach:d-1")
    assert reason_part in action.reason


def test_attach_waits_for_a_disk_not_read_yet() -> None:
    action = attach_action(A1, World(targets={"pair-1": "failovered"}, instances={"i-1": "Stopped"}))
    assert action.kind == "wait"


DONE_BOTH = Progress(done=frozenset({"attach:d-1", "attach:d-2"}))


@pytest.mark.parametrize(
    ("status", "progress", "blocked", "kind", "reason_part"),
    [
        ("Stopped", DONE_BOTH, frozenset(), "act", "StartInstances"),
        ("Stopped", Progress(done=frozenset({"attach:d-1"})), frozenset(), "wait", "not attached yet: d-2"),
        ("Running", Progress(done=frozenset({"attach:d-1"})), frozenset(), "wait", "d-2"),
        ("Running", DONE_BOTH, frozenset(), "done", "Running"),
        ("Starting", DONE_BOTH, frozenset(), "wait", "Starting"),
        ("Stopping", DONE_BOTH, frozenset(), "wait", "Stopping"),
        ("Stopped", Progress(done=DONE_BOTH.done, acted=frozenset({"start:i-1"})), frozenset(), "wait", "answered"),
        (None, DONE_BOTH, frozenset(), "failed", "not found"),
        ("Expired", DONE_BOTH, frozenset(), "failed", "cannot be started"),
        ("Stopped", Progress(done=frozenset({"attach:d-1"})), frozenset({"attach:d-2"}), "failed", "d-2"),
    ],
)
def test_start(status: str | None, progress: Progress, blocked: frozenset[str], kind: str, reason_part: str) -> None:
    action = start_action("i-1", LAYOUT, World(instances={"i-1": status}), progress, blocked)
    assert (action.kind, action.step) == (kind, "start:i-1")
    assert reason_part in action.reason


RUNNING = Progress(done=frozenset({"start:i-1"}))


@pytest.mark.parametrize(
    ("value", "progress", "hook_declared", "hook", "blocked", "kind", "reason_part"),
    [
        ("10.0.0.1", RUNNING, False, "none", frozenset(), "act", "10.0.0.1 -> 10.0.0.2"),
        ("10.0.0.1", Progress(), False, "none", frozenset(), "wait", "not running yet: i-1"),
        ("10.0.0.2", Progress(), False, "none", frozenset(), "done", "reads 10.0.0.2"),
        ("10.0.0.1", RUNNING, True, "pending", frozenset(), "wait", "hook has not passed"),
        ("10.0.0.1", RUNNING, True, "none", frozenset(), "wait", "hook has not passed"),
        ("10.0.0.1", RUNNING, True, "failed", frozenset(), "failed", "hook refused"),
        ("10.0.0.1", RUNNING, True, "passed", frozenset(), "act", "->"),
        (None, RUNNING, False, "none", frozenset(), "failed", "record not found"),
        ("10.0.0.1", Progress(), False, "none", frozenset({"start:i-1"}), "failed", "will not run: i-1"),
        (
            "10.0.0.1",
            Progress(done=RUNNING.done, acted=frozenset({f"switch:{SW.key}"})),
            False,
            "none",
            frozenset(),
            "wait",
            "answered",
        ),
    ],
)
def test_switch(
    value: str | None,
    progress: Progress,
    hook_declared: bool,
    hook: str,
    blocked: frozenset[str],
    kind: str,
    reason_part: str,
) -> None:
    layout = Layout(attaches=LAYOUT.attaches, switches=LAYOUT.switches, hook=hook_declared)
    world = World(records={SW.key: value}, hook=hook)  # type: ignore[arg-type]
    action = switch_action(SW, layout, world, progress, blocked)
    assert (action.kind, action.step) == (kind, f"switch:{SW.key}")
    assert reason_part in action.reason


def test_switch_waiting_for_an_instance_that_is_no_standby_reads_its_status() -> None:
    sw = Switch(key="k", value="v2", after=("i-app",))
    layout = Layout(attaches=(), switches=(sw,))
    assert (
        switch_action(sw, layout, World(records={"k": "v1"}, instances={"i-app": "Stopped"}), Progress()).kind == "wait"
    )
    assert (
        switch_action(sw, layout, World(records={"k": "v1"}, instances={"i-app": "Running"}), Progress()).kind == "act"
    )


def test_a_full_recovery_runs_in_order_and_ends_done() -> None:
    progress = Progress()
    world = World(
        targets={"pair-1": "failovering"},
        disks={"d-1": DiskState("Available"), "d-2": DiskState("Available")},
        instances={"i-1": "Stopped"},
        records={SW.key: "10.0.0.1"},
    )
    actions, progress = decide(LAYOUT, world, progress)
    assert [a.kind for a in actions] == ["wait", "wait", "wait", "wait"]
    world = World(**{**world.__dict__, "targets": {"pair-1": "failovered"}})
    actions, progress = decide(LAYOUT, world, progress)
    assert [a.kind for a in actions] == ["act", "act", "wait", "wait"]
    # AttachDisk d-1 was throttled, d-2 accepted: only d-2 waits for its read to catch up
    actions, progress = decide(LAYOUT, world, progress.answered("attach:d-2"))
    assert [a.kind for a in actions] == ["act", "wait", "wait", "wait"]
    progress = progress.answered("attach:d-1")
    # the read lags behind our AttachDisk: wait, do not attach again
    actions, progress = decide(LAYOUT, world, progress)
    assert [a.kind for a in actions] == ["wait", "wait", "wait", "wait"]
    world = World(**{**world.__dict__, "disks": {"d-1": DiskState("In_use", "i-1"), "d-2": DiskState("In_use", "i-1")}})
    actions, progress = decide(LAYOUT, world, progress)
    assert [a.kind for a in actions] == ["done", "done", "act", "wait"]
    progress = progress.answered("start:i-1")
    world = World(**{**world.__dict__, "instances": {"i-1": "Running"}})
    actions, progress = decide(LAYOUT, world, progress)
    assert [a.kind for a in actions] == ["done", "done", "done", "act"]
    assert not finished(actions)
    world = World(**{**world.__dict__, "records": {SW.key: "10.0.0.2"}})
    actions, progress = decide(LAYOUT, world, progress)
    assert [a.kind for a in actions] == ["done"] * 4
    assert finished(actions)
    # a later read that regresses (someone detached the disk) does not undo a done step
    world = World(**{**world.__dict__, "disks": {"d-1": DiskState("Available"), "d-2": DiskState("In_use", "i-1")}})
    actions, _ = decide(LAYOUT, world, progress)
    assert actions[0] == Action(step="attach:d-1", kind="done", reason="done in an earlier round")


def test_a_conflicting_disk_fails_its_instance_and_the_switch() -> None:
    world = World(
        targets={"pair-1": "failovered"},
        disks={"d-1": DiskState("In_use", "i-other"), "d-2": DiskState("In_use", "i-1")},
        instances={"i-1": "Stopped"},
        records={SW.key: "10.0.0.1"},
    )
    actions, _ = decide(LAYOUT, world, Progress())
    assert [a.kind for a in actions] == ["conflict", "done", "failed", "failed"]
    assert finished(actions)


@pytest.mark.parametrize(
    ("api", "code", "status", "kind", "ram"),
    [
        ("AttachDisk", "Throttling", 400, "pace", None),
        ("UpdateDomainRecord", "Throttling.User", 400, "pace", None),
        ("StartInstances", "Whatever", 429, "pace", None),
        ("AttachDisk", "IncorrectInstanceStatus", 400, "recheck", None),
        ("AttachDisk", "IncorrectDiskStatus", 403, "recheck", None),
        ("AttachDisk", "InvalidDisk.InUse", 404, "recheck", None),
        ("StartInstances", "IncorrectInstanceStatus", 403, "recheck", None),
        ("UpdateDomainRecord", "LastOperationNotFinished", 400, "recheck", None),
        ("AttachDisk", "InvalidDiskId.NotFound", 404, "failed", None),
        ("AttachDisk", "InvalidInstanceId.NotFound", 404, "failed", None),
        ("StartInstances", "InvalidInstanceIds.NotFound", 404, "failed", None),
        ("UpdateDomainRecord", "DomainRecordNotBelongToUser", 400, "failed", None),
        ("StartInstances", "InvalidOperation.Conflict", 409, "retry", None),
        ("UpdateDomainRecord", "DomainRecordConflict", 400, "retry", None),
        ("AttachDisk", "InternalError", 500, "retry", None),
        ("AttachDisk", "SDK.HttpError", None, "retry", None),
        ("AttachDisk", "SomethingNew", 503, "retry", None),
        ("AttachDisk", "ResourcesNotInSameZone", 403, "failed", None),
        ("StartInstances", "OperationDenied.NoStock", 403, "failed", None),
        ("UpdateDomainRecord", "DomainRecordDuplicate", 400, "success", None),
        ("AttachDisk", "Forbidden.RAM", 403, "failed", "ecs:AttachDisk"),
        ("StartInstances", "Forbidden", 403, "failed", "ecs:StartInstances"),
        ("DescribeDisks", "NoPermission", 403, "failed", "ecs:DescribeDisks"),
        ("UpdateDomainRecord", "Forbidden.RAM", 403, "failed", "alidns:UpdateDomainRecord"),
        ("UpdateZoneRecord", "Forbidden.RAM", 403, "failed", "pvtz:UpdateZoneRecord"),
        ("AttachDisk", "SDK.InvalidRequest", None, "failed", None),
        ("AttachDisk", "InvalidParameter", 400, "failed", None),
    ],
)
def test_error_policy(api: str, code: str, status: int | None, kind: str, ram: str | None) -> None:
    decision = on_error(api, code, status)
    assert (decision.kind, decision.ram_action) == (kind, ram)
    assert code in decision.reason
    if ram:
        assert ram in decision.reason


# ------------------------------------------------------------------ property

TARGET_STATUSES = ["normal", "failovering", "failovered", "failover_failed"]
DISK_STATES = [
    None,
    DiskState("Available"),
    DiskState("Attaching", "i-1"),
    DiskState("In_use", "i-1"),
    DiskState("In_use", "i-2"),
    DiskState("In_use", "i-x"),
    DiskState("Detaching", "i-1"),
]
INSTANCE_STATUSES = [None, "Stopped", "Starting", "Running", "Stopping"]
RECORD_VALUES = [None, "old", "dr-www", "dr-api"]

PROP_LAYOUT = Layout(
    attaches=(
        Attach("d-1", "pair-1", "i-1"),
        Attach("d-2", "pg-1", "i-1"),
        Attach("d-3", "pg-1", "i-2"),
    ),
    switches=(Switch("www", "dr-www", ("i-1",)), Switch("api", "dr-api", ("i-1", "i-2"))),
    hook=True,
)


def _read(values: list[object]) -> st.SearchStrategy[object]:
    # the first values are the likely ones (the states that let a step act or finish), so runs where
    # steps act, and later steps get their turn, are common
    return st.one_of(st.sampled_from(values[:2]), st.sampled_from(values))


def _reads(keys: tuple[str, ...], values: list[object]) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries({k: _read(values) for k in keys})


worlds = st.builds(
    World,
    targets=_reads(("pair-1", "pg-1"), ["failovered", "failovered", *TARGET_STATUSES]),
    disks=_reads(("d-1", "d-2", "d-3"), [DiskState("Available"), DiskState("In_use", "i-1"), *DISK_STATES]),
    instances=_reads(("i-1", "i-2"), ["Stopped", "Running", *INSTANCE_STATUSES]),
    records=_reads(("www", "api"), ["old", "old", *RECORD_VALUES]),
    hook=st.sampled_from(["passed", "none", "pending", "failed"]),
)
# a read often repeats: the state did not move (yet) after our write
# (world, were this round's writes accepted?): a read often repeats (the state did not move yet
# after our write), and a write is sometimes refused (throttled, conflict) and may be sent again
sequences = st.lists(st.tuples(worlds, st.integers(1, 3), st.booleans()), min_size=1, max_size=8).map(
    lambda runs: [(w, ok) for w, n, ok in runs for _ in range(n)]
)


@settings(max_examples=500, deadline=None)
@given(sequences)
def test_random_observations_never_break_order_or_act_twice(sequence: list[tuple[World, bool]]) -> None:
    progress = Progress()
    acted: set[str] = set()  # steps whose write was accepted
    done_before: set[str] = set()
    for world, accepted in sequence:
        actions, after = decide(PROP_LAYOUT, world, progress)
        by_step = {a.step: a for a in actions}
        assert len(by_step) == len(actions) == 7
        for a in actions:
            if a.kind != "act":
                continue
            assert a.step not in acted, f"acted twice on {a.step}"
            assert a.step not in done_before, f"acted on {a.step}, done earlier"
        for att in PROP_LAYOUT.attaches:
            if by_step[att.step].kind == "act":
                assert world.targets.get(att.target_id) == "failovered"
                assert world.disks.get(att.disk_id) == DiskState("Available")
        for iid in PROP_LAYOUT.instances:
            if by_step[f"start:{iid}"].kind == "act":
                assert world.instances.get(iid) == "Stopped"
                for att in PROP_LAYOUT.disks_of(iid):
                    assert by_step[att.step].kind == "done"
        for sw in PROP_LAYOUT.switches:
            if by_step[sw.step].kind == "act":
                assert world.hook == "passed"
                assert world.records.get(sw.key) not in (None, sw.value)
                for iid in sw.after:
                    assert by_step[f"start:{iid}"].kind == "done"
        done_before |= {a.step for a in actions if a.kind == "done"}
        assert after.done == frozenset(done_before)
        progress = after
        if accepted:
            steps = [a.step for a in actions if a.kind == "act"]
            acted.update(steps)
            progress = progress.answered(*steps)
