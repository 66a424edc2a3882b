"""Each action's steps, and where a target's (status, direction) places it in them.

Directions are named after the route the operator gives: ``fwd`` = primary -> DR (the direction the
failover being reversed went), ``rev`` = DR -> primary.

=========  ===========================================================================================
undo       (failovered, fwd) Reprotect(ReverseReplicate=false) in DR -> reprotecting -> (stopped, fwd)
           Start -> replicating fwd again
reprotect  (failovered, fwd) Reprotect(ReverseReplicate=true) in DR -> reprotecting -> (stopped, rev)
           Start -> replicating rev (towards the old primary)
failback   (normal, rev) Failover in the primary region (the secondary now) -> failovering ->
           (failovered, rev) Reprotect(ReverseReplicate=true) in the primary region -> reprotecting ->
           (stopped, fwd) Start -> replicating fwd: the original direction
=========  ===========================================================================================

A place is an ordinal: step ``k`` is ``2k``, waiting for step ``k``'s precondition state is ``2k-1``,
the action's end state is ``2n``. A step is done once the target's ordinal is past ``2k``: that is how a
lost acknowledgement is recognised without sending the step again. Start is sent to the DR region
(either end of a pair may take it, and the DR region is the one the operator knows is up);
Reprotect and Failover go to the target's current secondary region, as the API requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from replica_failover.reverse.models import Action, Kind

Dir = Literal["fwd", "rev"]
Call = Literal["reprotect", "start", "failover"]
REPLICATING = frozenset({"initial_syncing", "syncing", "normal"})


@dataclass(frozen=True)
class StepSpec:
    name: str
    call: Call
    before: Dir  # the target's direction when the step is sent (it goes into the step's token)
    reverse: bool | None = None  # Reprotect's ReverseReplicate

    def api(self, kind: Kind) -> str:
        noun = "ReplicaPair" if kind == "pair" else "ReplicaGroup"
        verb = {"reprotect": "Reprotect", "start": "Start", "failover": "Failover"}[self.call]
        return f"{verb}Disk{noun}"

    def region(self, primary: str, dr: str) -> str:
        if self.call == "start":
            return dr
        # Reprotect/Failover: the current secondary's region
        return dr if self.before == "fwd" else primary


FLOWS: dict[Action, tuple[StepSpec, ...]] = {
    "undo": (StepSpec("reprotect-keep", "reprotect", "fwd", False), StepSpec("start", "start", "fwd")),
    "reprotect": (StepSpec("reprotect-reverse", "reprotect", "fwd", True), StepSpec("start", "start", "rev")),
    "failback": (
        StepSpec("failover", "failover", "rev"),
        StepSpec("reprotect-reverse", "reprotect", "rev", True),
        StepSpec("start", "start", "fwd"),
    ),
}


@dataclass(frozen=True)
class Place:
    ordinal: int | None  # None: the target is not in this action's flow
    reason: str

    @property
    def step(self) -> int | None:
        """The step to send now, if the target sits at one."""
        return self.ordinal // 2 if self.ordinal is not None and self.ordinal % 2 == 0 else None

    def final(self, action: Action) -> bool:
        return self.ordinal == 2 * len(FLOWS[action])

    def waiting(self, action: Action) -> bool:
        return self.ordinal is not None and self.ordinal % 2 == 1


def place(action: Action, status: str, d: Dir | None) -> Place:
    if d is None:
        return Place(None, "replicates on another route")
    if action == "undo":
        return _undo(status, d)
    if action == "reprotect":
        return _reprotect(status, d)
    return _failback(status, d)


def _undo(status: str, d: Dir) -> Place:
    if d == "rev":
        return Place(None, f"{status} towards the primary region: not a failover to undo (failback?)")
    if status == "failovering":
        return Place(-1, "failovering: wait until it completes")
    if status == "failovered":
        return Place(0, "failed over: reprotect in the original direction")
    if status == "reprotecting":
        return Place(1, "reprotecting: wait until it stops")
    if status == "stopped":
        return Place(2, "stopped in the original direction: start replication")
    if status in REPLICATING:
        return Place(4, f"{status}: replicates in the original direction")
    return Place(None, f"{status}: not a failed-over target")


def _reprotect(status: str, d: Dir) -> Place:
    if status == "failovering" and d == "fwd":
        return Place(-1, "failovering: wait until it completes")
    if status == "failovered" and d == "fwd":
        return Place(0, "failed over: reverse replication towards the old primary")
    if status == "reprotecting":
        return Place(1, "reprotecting: wait until it stops")
    if d == "rev" and status == "stopped":
        return Place(2, "reversed and stopped: start replication towards the old primary")
    if d == "rev" and status in REPLICATING:
        return Place(4, f"{status}: replicates towards the old primary already")
    return Place(None, f"{status} in the original direction: nothing to reprotect")


def _failback(status: str, d: Dir) -> Place:
    if d == "rev":
        if status == "normal":
            return Place(0, "the copy back is complete: fail over to the primary region")
        if status in ("syncing", "initial_syncing"):
            return Place(-1, f"{status}: wait for the copy back to complete a cycle")
        if status == "failovering":
            return Place(1, "failovering: wait until it completes")
        if status == "failovered":
            return Place(2, "failed over to the primary region: reverse to the original direction")
        if status == "stopped":
            return Place(None, "stopped towards the primary region: run reprotect first (it starts the copy back)")
    if status == "reprotecting":
        return Place(3, "reprotecting: wait until it stops")
    if d == "fwd" and status == "stopped":
        return Place(4, "stopped in the original direction: start replication")
    if d == "fwd" and status in REPLICATING:
        return Place(6, f"{status}: replicates in the original direction")
    return Place(None, f"{status} ({'primary to DR' if d == 'fwd' else 'DR to primary'}): not a failback's state")
