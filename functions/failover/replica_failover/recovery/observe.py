"""Between the adapters and the step logic, still without I/O: described records -> a ``World``,
``act`` actions -> the calls to make (StartInstances in batches), per-instance answers -> decisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from replica_failover.recovery.ecs import MAX_IDS
from replica_failover.recovery.steps import (
    Action,
    DiskState,
    ErrorDecision,
    HookState,
    Layout,
    World,
    on_error,
)
from replica_failover.redact import redact_text


def world_from_reads(
    layout: Layout,
    *,
    targets: Mapping[str, str],
    disks: Iterable[Mapping[str, Any]],
    instances: Iterable[Mapping[str, Any]],
    records: Mapping[str, str | None],
    hook: HookState = "none",
) -> World:
    """One round's ``World``. A disk or standby of the layout that the read did not return is "not
    found" (None): DescribeDisks/DescribeInstances by id return every id that exists."""
    disk_ix = {str(d.get("DiskId")): d for d in disks}
    inst_ix = {str(i.get("InstanceId")): i for i in instances}
    wanted_instances = set(layout.instances) | {i for s in layout.switches for i in s.after}
    return World(
        targets=dict(targets),
        disks={
            a.disk_id: (
                DiskState(str(disk_ix[a.disk_id].get("Status") or ""), str(disk_ix[a.disk_id].get("InstanceId") or ""))
                if a.disk_id in disk_ix
                else None
            )
            for a in layout.attaches
        },
        instances={i: (str(inst_ix[i].get("Status") or "") if i in inst_ix else None) for i in wanted_instances},
        records=dict(records),
        hook=hook,
    )


def attach_calls(layout: Layout, actions: Iterable[Action]) -> list[tuple[str, str]]:
    """(instance id, disk id) for each attach step to act on, in layout order."""
    acting = {a.step for a in actions if a.kind == "act"}
    return [(a.instance_id, a.disk_id) for a in layout.attaches if a.step in acting]


def start_batches(actions: Iterable[Action], size: int = MAX_IDS) -> list[list[str]]:
    """Instance ids to start, in StartInstances batches of at most ``size``."""
    ids = [a.step.split(":", 1)[1] for a in actions if a.kind == "act" and a.step.startswith("start:")]
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def switch_keys(actions: Iterable[Action]) -> list[str]:
    """Record keys to switch."""
    return [a.step.split(":", 1)[1] for a in actions if a.kind == "act" and a.step.startswith("switch:")]


def start_answers(answers: Mapping[str, tuple[str, str]], sent: Sequence[str]) -> dict[str, ErrorDecision | None]:
    """StartInstances (SuccessFirst) answers -> per instance: None (accepted) or the error decision.
    An instance sent but missing from the answer is re-read, never assumed started."""
    out: dict[str, ErrorDecision | None] = {}
    for iid in sent:
        if iid not in answers:
            out[iid] = ErrorDecision(kind="recheck", reason="no answer for this instance: re-read it")
            continue
        code, message = answers[iid]
        if code == "200":
            out[iid] = None
            continue
        decision = on_error("StartInstances", code)
        if message:
            decision = decision.model_copy(update={"reason": f"{decision.reason} ({redact_text(message)[:200]})"})
        out[iid] = decision
    return out
