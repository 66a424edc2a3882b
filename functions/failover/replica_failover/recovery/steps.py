"""The pure step logic of the compute and traffic stages: observed state in, next action out.

Steps, per recovery: ``attach`` (one per secondary disk -> its standby), ``start`` (one per standby),
``switch`` (one per DNS record). Ordering: no attach before the target reads ``failovered``; no start
before all of the instance's disks are attached to it; no switch before every instance it waits for
runs with its disks attached, and the hook (if any) passed.

Exactly once: every decision starts from a fresh read. A disk attached to its standby, a Running
instance with all its disks, a record at its DR value are done. A disk attached elsewhere is a
conflict: reported, never detached. ``Progress`` remembers steps done and steps whose write was
accepted, so a step is never acted on twice - a read that lags behind our own write waits instead of
writing again. The invocation's deadline bounds that wait; a new invocation starts from a fresh
``Progress`` and trusts the reads (a repeated AttachDisk on a disk already taken answers
``InvalidDisk.InUse``/``IncorrectDiskStatus``: recheck).

No I/O here: the executor reads, calls :func:`decide`, performs the ``act`` actions, feeds errors
through :func:`on_error`, and reads again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

StepKind = Literal["attach", "start", "switch"]
ActionKind = Literal["wait", "act", "done", "conflict", "failed"]
HookState = Literal["none", "pending", "passed", "failed"]

# target statuses after which attaching can never become right for this run
TARGET_GIVEN_UP = frozenset({"failover_failed", "deleted", "deleting", "invalid", "reprotecting", "reprotect_failed"})
DISK_BUSY = frozenset({"Attaching", "Detaching", "Creating", "ReIniting"})
INSTANCE_TRANSIENT = frozenset({"Pending", "Starting", "Stopping"})
ATTACHABLE_TO = frozenset({"Running", "Stopped"})


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)
    step: str  # "attach:d-1", "start:i-1", "switch:alidns:www.example.com/A"
    kind: ActionKind
    reason: str


@dataclass(frozen=True)
class DiskState:
    """What DescribeDisks said about one secondary disk (None in ``World.disks``: not found)."""

    status: str
    instance_id: str = ""


@dataclass(frozen=True)
class World:
    """One round of reads. A missing key means "not read"; an explicit None means "not found"."""

    targets: Mapping[str, str] = field(default_factory=dict)  # pair/group id -> Status
    disks: Mapping[str, DiskState | None] = field(default_factory=dict)
    instances: Mapping[str, str | None] = field(default_factory=dict)  # instance id -> Status
    records: Mapping[str, str | None] = field(default_factory=dict)  # record key -> current value
    hook: HookState = "none"


@dataclass(frozen=True)
class Attach:
    disk_id: str
    target_id: str  # the pair or group whose failover made the disk writable
    instance_id: str

    @property
    def step(self) -> str:
        return f"attach:{self.disk_id}"


@dataclass(frozen=True)
class Switch:
    key: str
    value: str  # the DR value
    after: tuple[str, ...]  # instances that must run first

    @property
    def step(self) -> str:
        return f"switch:{self.key}"


@dataclass(frozen=True)
class Layout:
    """The static shape of one recovery, built from the recovery map and the plan's targets."""

    attaches: tuple[Attach, ...]
    switches: tuple[Switch, ...]
    hook: bool = False

    def disks_of(self, instance_id: str) -> tuple[Attach, ...]:
        return tuple(a for a in self.attaches if a.instance_id == instance_id)

    @property
    def instances(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.instance_id for a in self.attaches))


@dataclass(frozen=True)
class Progress:
    """What earlier rounds established: steps done, and steps acted on (write answered 200)."""

    done: frozenset[str] = frozenset()
    acted: frozenset[str] = frozenset()

    def answered(self, *steps: str) -> Progress:
        """The progress once these steps' writes were accepted (200, or an error the policy calls
        success). Only accepted writes count: a throttled or failed call leaves the step free to act."""
        return Progress(done=self.done, acted=self.acted | set(steps))


# ---------------------------------------------------------------- single steps


def attach_action(a: Attach, world: World, acted: bool = False) -> Action:
    target = world.targets.get(a.target_id)
    disk = world.disks.get(a.disk_id)  # None: not read (or not found, checked first)
    step = a.step

    def out(kind: ActionKind, reason: str) -> Action:
        return Action(step=step, kind=kind, reason=reason)

    if a.disk_id in world.disks and world.disks[a.disk_id] is None:
        return out("failed", f"secondary disk {a.disk_id} not found")
    if disk is not None and disk.instance_id == a.instance_id:
        if disk.status == "In_use":
            return out("done", f"attached to {a.instance_id}")
        return out("wait", f"{disk.status} on {a.instance_id}")
    if disk is not None and disk.instance_id:
        return out("conflict", f"attached to {disk.instance_id}, not to standby {a.instance_id}; left as it is")
    if target != "failovered":
        if target in TARGET_GIVEN_UP:
            return out("failed", f"{a.target_id} is {target}; its disks never became writable")
        return out("wait", f"{a.target_id} is {target or 'not read yet'}, not failovered")
    if disk is None:
        return out("wait", "disk not read yet")
    if acted:
        return out("wait", f"AttachDisk answered; disk still reads {disk.status}")
    if disk.status in DISK_BUSY:
        return out("wait", f"disk is {disk.status}")
    if disk.status != "Available":
        return out("failed", f"disk is {disk.status}, cannot be attached")
    inst = world.instances.get(a.instance_id, "")
    if a.instance_id in world.instances and inst is None:
        return out("failed", f"standby {a.instance_id} not found")
    if inst in ATTACHABLE_TO:
        return out("act", f"AttachDisk {a.disk_id} -> {a.instance_id} ({inst})")
    if inst in INSTANCE_TRANSIENT or not inst:
        return out("wait", f"standby is {inst or 'not read yet'}")
    return out("failed", f"standby {a.instance_id} is {inst}, cannot take a disk")


def start_action(
    instance_id: str, layout: Layout, world: World, progress: Progress, blocked: frozenset[str] = frozenset()
) -> Action:
    """``blocked``: steps that ended in conflict or failure this round."""
    step = f"start:{instance_id}"
    mine = layout.disks_of(instance_id)
    pending = [a.disk_id for a in mine if a.step not in progress.done]

    def out(kind: ActionKind, reason: str) -> Action:
        return Action(step=step, kind=kind, reason=reason)

    if instance_id in world.instances and world.instances[instance_id] is None:
        return out("failed", f"standby {instance_id} not found")
    lost = [a.disk_id for a in mine if a.step in blocked]
    if lost:
        return out("failed", f"disks that will not be attached: {', '.join(lost)}")
    status = world.instances.get(instance_id) or ""
    if pending:
        return out("wait", f"disks not attached yet: {', '.join(pending)}")
    if status == "Running":
        return out("done", "Running with all its disks")
    if step in progress.acted:
        return out("wait", f"StartInstances answered; instance reads {status or 'nothing yet'}")
    if status == "Stopped":
        return out("act", "StartInstances")
    if status in INSTANCE_TRANSIENT or not status:
        return out("wait", f"instance is {status or 'not read yet'}")
    return out("failed", f"instance is {status}, cannot be started")


def switch_action(
    s: Switch, layout: Layout, world: World, progress: Progress, blocked: frozenset[str] = frozenset()
) -> Action:
    """``blocked``: steps that ended in conflict or failure this round."""

    def out(kind: ActionKind, reason: str) -> Action:
        return Action(step=s.step, kind=kind, reason=reason)

    if s.key in world.records and world.records[s.key] is None:
        return out("failed", "record not found")
    current = world.records.get(s.key)
    if current == s.value:
        return out("done", f"record reads {s.value}")
    lost = [i for i in s.after if f"start:{i}" in blocked]
    if lost:
        return out("failed", f"instances that will not run: {', '.join(lost)}")
    # a standby is ready once its start step is done; another instance once it reads Running
    not_running = [
        i
        for i in s.after
        if (f"start:{i}" not in progress.done if i in layout.instances else world.instances.get(i) != "Running")
    ]
    if not_running:
        return out("wait", f"instances not running yet: {', '.join(not_running)}")
    if layout.hook and world.hook != "passed":
        if world.hook == "failed":
            return out("failed", "the pre-switch hook refused the switch")
        return out("wait", "the pre-switch hook has not passed")
    if current is None:
        return out("wait", "record not read yet")
    if s.step in progress.acted:
        return out("wait", f"UpdateDomainRecord answered; record still reads {current}")
    return out("act", f"{current} -> {s.value}")


# ---------------------------------------------------------------- one round


def decide(layout: Layout, world: World, progress: Progress) -> tuple[tuple[Action, ...], Progress]:
    """Every step's action for this round, and the progress with this round's done steps added. A step
    done in an earlier round stays done whatever this round reads (a later change is someone else's,
    never undone by us). Steps are decided in order, each seeing the steps before it that this round
    found done. The caller records accepted writes with :meth:`Progress.answered`."""
    actions: list[Action] = []
    done = set(progress.done)
    blocked: set[str] = set()

    def settle(a: Action) -> None:
        if a.step in progress.done:
            a = Action(step=a.step, kind="done", reason="done in an earlier round")
        actions.append(a)
        if a.kind == "done":
            done.add(a.step)
        elif a.kind in ("conflict", "failed"):
            blocked.add(a.step)

    def now() -> Progress:
        return Progress(frozenset(done), progress.acted)

    for a in layout.attaches:
        settle(attach_action(a, world, a.step in progress.acted))
    for iid in layout.instances:
        settle(start_action(iid, layout, world, now(), frozenset(blocked)))
    for s in layout.switches:
        settle(switch_action(s, layout, world, now(), frozenset(blocked)))
    return tuple(actions), now()


def finished(actions: Iterable[Action]) -> bool:
    """Nothing left to wait for or do (some steps may have failed or hit a conflict)."""
    return all(a.kind in ("done", "conflict", "failed") for a in actions)


# ---------------------------------------------------------------- error policy

ErrorKind = Literal["retry", "pace", "recheck", "success", "failed"]

THROTTLE_PREFIXES = ("Throttling",)
PERMISSION_PREFIXES = ("Forbidden", "NoPermission")
INCORRECT_STATUS = frozenset(
    {
        "IncorrectInstanceStatus",
        "IncorrectDiskStatus",
        "IncorrectDiskStatus.Initializing",
        "DiskError",
        "InstanceNotReady",
        "LastOperationNotFinished",
        "InvalidDisk.InUse",  # someone holds it: the next read says who (us: done, another: conflict)
    }
)
NOT_FOUND = frozenset(
    {
        "InvalidInstanceId.NotFound",
        "InvalidInstanceIds.NotFound",
        "InvalidDiskId.NotFound",
        "DomainRecordNotBelongToUser",
        "InvalidDomainName.NoExist",
        "Zone.NotExists",
    }
)
CONFLICT = frozenset({"InvalidOperation.Conflict", "OperationConflict", "DomainRecordConflict"})
TRANSIENT = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "UnknownError",
        "RequestTimeout",
        "SDK.HttpError",
        "SDK.ServerUnreachable",
        "SDK.UnknownServerError",
    }
)
# permanent refusals with the reason a human needs
REFUSED = {
    "ResourcesNotInSameZone": "the standby is not in the secondary disk's zone",
    "InstanceLockedForSecurity": "the instance is locked for security",
    "InstanceDiskLimitExceeded": "the instance has no free disk slot",
    "OperationDenied.NoStock": "no capacity in the zone to start the instance",
    "OperationDenied.HostRepairing": "the host is under repair",
    "RecordForbidden.DNSChange": "the record is locked against changes",
    "IncorrectDomainUser": "the domain belongs to another account",
}
PRODUCT_OF = {
    "AttachDisk": "ecs",
    "StartInstances": "ecs",
    "DescribeDisks": "ecs",
    "DescribeInstances": "ecs",
    "DescribeInstanceStatus": "ecs",
    "UpdateDomainRecord": "alidns",
    "DescribeDomainRecordInfo": "alidns",
    "DescribeDomainRecords": "alidns",
    "UpdateZoneRecord": "pvtz",
    "DescribeZoneRecords": "pvtz",
    "InvokeFunction": "fc",
}


class ErrorDecision(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: ErrorKind
    reason: str
    ram_action: str | None = None  # set for permission failures: the action the role lacks


def ram_action(api_action: str) -> str:
    return f"{PRODUCT_OF.get(api_action, 'ecs')}:{api_action}"


def on_error(api_action: str, code: str, status: int | None = None) -> ErrorDecision:
    """What to do when ``api_action`` answered ``code``.

    retry: send again after a back-off (a transient failure or a conflict with a concurrent request);
    pace: throttled - send again through the rate limiter, as the ebs calls do; recheck: the resource
    is in the wrong state for now - read it again and decide from the read; success: the effect is in
    place (verify by reading); failed: permanent, with the reason (and the RAM action if it is one).
    """
    if code.startswith(THROTTLE_PREFIXES) or status == 429:
        return ErrorDecision(kind="pace", reason=f"{code}: throttled")
    if code.startswith(PERMISSION_PREFIXES) or code == "Forbidden.RAM":
        action = ram_action(api_action)
        return ErrorDecision(kind="failed", reason=f"{code}: the function's role lacks {action}", ram_action=action)
    if code == "DomainRecordDuplicate":
        return ErrorDecision(kind="success", reason=f"{code}: the record already holds this value")
    if code in INCORRECT_STATUS:
        return ErrorDecision(kind="recheck", reason=f"{code}: re-read the state")
    if code in NOT_FOUND:
        return ErrorDecision(kind="failed", reason=f"{code}: not found")
    if code in REFUSED:
        return ErrorDecision(kind="failed", reason=f"{code}: {REFUSED[code]}")
    if code in CONFLICT:
        return ErrorDecision(kind="retry", reason=f"{code}: conflicts with a concurrent request")
    if code in TRANSIENT or (status is not None and status >= 500):
        return ErrorDecision(kind="retry", reason=f"{code}: transient")
    return ErrorDecision(kind="failed", reason=f"{code}: not retried")
