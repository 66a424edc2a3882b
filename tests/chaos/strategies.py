"""Hypothesis strategies for the property tests: drawn fleets, fault schedules, deliveries, conditions.

Everything drawn here is plain, frozen data the harness (``tests/chaos/harness.py``) replays against the
emulator. A :class:`DrawnFleet` also knows which targets must fail over and what every record's final
status must be: it asks the game day's eligibility oracle (:mod:`chaos.gameday.eligibility`, written
from the API's documented state table, *not* from the function's ``plan.py``), so a disagreement
between the two is a finding rather than a tautology, and there is one oracle, not two.

Shrinking: every ``sampled_from`` lists the simplest, most "normal" choice first (the eligible route,
an eligible status, no fault, one delivery), so a failing example shrinks towards the smallest fleet
and schedule that still fails.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from hypothesis import strategies as st

from chaos.emulator.config import DEFAULT_ACCOUNT_ID
from chaos.emulator.ebs.models import GroupRecord, PairRecord
from chaos.emulator.faults import FaultError, FaultRule
from chaos.gameday.eligibility import FAILOVER_FROM_STATUSES, TargetKey, eligible_targets

__all__ = [
    "ACCOUNT",
    "DR",
    "ELIGIBLE_STATUSES",
    "EVENT_SHAPES",
    "INELIGIBLE_STATUSES",
    "PRIMARY",
    "ROUTES",
    "ChaosCase",
    "Conditions",
    "DeliveryPlan",
    "DrawnFleet",
    "FaultSchedule",
    "GroupSpec",
    "Notification",
    "PairSpec",
    "conditions",
    "deliveries",
    "fault_rules",
    "fault_schedules",
    "fleets",
    "notifications",
    "permanent_fault_schedules",
    "scenarios",
]

PRIMARY = "cn-hangzhou"  # the region whose alarm fires
DR = "cn-shanghai"  # where the function runs and replicas fail over into
OTHER_PRIMARY = "cn-beijing"  # watched by the function too, but healthy in every drawn scenario
UNWATCHED = "cn-shenzhen"  # replicates into DR, not watched at all
ACCOUNT = DEFAULT_ACCOUNT_ID

Route = tuple[str, str]
# (source, destination). Only the first fails over; the others are there to be left alone:
ROUTES: tuple[Route, ...] = (
    (PRIMARY, DR),  # replicates from the unhealthy region into DR: the failover route
    (OTHER_PRIMARY, DR),  # into DR, from a healthy watched primary
    (UNWATCHED, DR),  # into DR, from a region nobody watches
    (DR, PRIMARY),  # reverse direction (after a failback): the DR region is its *source*
    (PRIMARY, OTHER_PRIMARY),  # from the unhealthy region but not into DR: invisible from the DR site
)
FAILOVER_ROUTE: Route = ROUTES[0]

# The same oracle table the game-day expectations judge by (pairs and groups share it in the docs).
ELIGIBLE_STATUSES: tuple[str, ...] = FAILOVER_FROM_STATUSES
# Not to be failed over: not replicating yet, going away, mid-reversal, or already failed over.
# The first seven are the common states of a pair that must not be failed over; the rest complete
# the status list, so every status the API can answer is drawn.
INELIGIBLE_STATUSES: tuple[str, ...] = (
    "invalid",
    "deleted",
    "creating",
    "initial_syncing",
    "failovered",
    "failovering",
    "reprotecting",
    "created",
    "create_failed",
    "deleting",
    "delete_failed",
    "reprotect_failed",
)
# fixed so that ClientTokens (derived from the recovery point) are the same in every run of an example
RECOVERY_POINT = 1_795_426_000
CREATE_TIME = 1_795_300_000


# ------------------------------------------------------------------------------------------- fleets
@dataclass(frozen=True)
class PairSpec:
    id: str
    source: str
    destination: str
    status: str
    group: str | None = None  # member of this group (then the group is the unit of failover)

    @property
    def route(self) -> Route:
        return (self.source, self.destination)


@dataclass(frozen=True)
class GroupSpec:
    id: str
    source: str
    destination: str
    status: str
    members: tuple[str, ...]

    @property
    def route(self) -> Route:
        return (self.source, self.destination)


@dataclass(frozen=True)
class DrawnFleet:
    """Pairs and groups of one scenario, and the oracle: what must fail over, what must stay as it is."""

    pairs: tuple[PairSpec, ...]
    groups: tuple[GroupSpec, ...]
    primary: str = PRIMARY
    dr: str = DR

    # ----------------------------------------------------------------- oracle
    @cached_property
    def _eligible(self) -> frozenset[TargetKey]:
        """The game day's eligibility oracle, asked about this fleet's API-shaped records."""
        pairs = [
            {
                "ReplicaPairId": p.id,
                "SourceRegion": p.source,
                "DestinationRegion": p.destination,
                "Status": p.status,
                "ReplicaGroupId": p.group or "",
            }
            for p in self.pairs
        ]
        groups = [
            {
                "ReplicaGroupId": g.id,
                "SourceRegionId": g.source,
                "DestinationRegionId": g.destination,
                "Status": g.status,
            }
            for g in self.groups
        ]
        return frozenset(eligible_targets(pairs, groups, primary=self.primary, dr=self.dr))

    @property
    def eligible_groups(self) -> frozenset[str]:
        return frozenset(rid for kind, rid in self._eligible if kind == "group")

    @property
    def eligible_pairs(self) -> frozenset[str]:
        """Loose pairs only: a pair in a group never fails over on its own (its group is the unit)."""
        return frozenset(rid for kind, rid in self._eligible if kind == "pair")

    @property
    def eligible_targets(self) -> frozenset[str]:
        """Ids that must each see exactly one failover effect."""
        return self.eligible_pairs | self.eligible_groups

    @property
    def covered_members(self) -> frozenset[str]:
        """Pairs failed over through their (eligible) group: they end failovered, with no effect of their own."""
        eligible = self.eligible_groups
        return frozenset(p.id for p in self.pairs if p.group in eligible)

    @property
    def all_ids(self) -> tuple[str, ...]:
        return tuple(g.id for g in self.groups) + tuple(p.id for p in self.pairs)

    @property
    def untouchable(self) -> frozenset[str]:
        """Ids no write call may name and no effect may carry: every id except the eligible targets.

        Members of eligible groups are in here too: their group's call covers them.
        """
        return frozenset(self.all_ids) - self.eligible_targets

    def expected_status(self) -> dict[str, str]:
        """Final status of every record: failovered if it (or its group) was eligible, else unchanged."""
        done = self.eligible_targets | self.covered_members
        out = {g.id: ("failovered" if g.id in done else g.status) for g in self.groups}
        out.update({p.id: ("failovered" if p.id in done else p.status) for p in self.pairs})
        return out

    def kind_of(self, rid: str) -> Literal["pair", "group"]:
        return "group" if rid.startswith("pg-") else "pair"

    # ---------------------------------------------------------------- seeding
    def records(self) -> tuple[list[PairRecord], list[GroupRecord]]:
        """Records for ``EbsBackend.seed_pairs`` then ``seed_groups`` (which links the members)."""
        pairs = [
            PairRecord(
                ReplicaPairId=p.id,
                PairName=p.id,
                SourceRegion=p.source,
                DestinationRegion=p.destination,
                Status=p.status,
                LastRecoverPoint=RECOVERY_POINT,
                CreateTime=CREATE_TIME,
            )
            for p in self.pairs
        ]
        groups = [
            GroupRecord(
                ReplicaGroupId=g.id,
                GroupName=g.id,
                SourceRegionId=g.source,
                DestinationRegionId=g.destination,
                Status=g.status,
                PairIds=list(g.members),
                LastRecoverPoint=RECOVERY_POINT,
            )
            for g in self.groups
        ]
        return pairs, groups

    def describe(self) -> str:
        """One line for hypothesis' ``note``/``event`` and for failure messages."""
        lines = [f"group {g.id} {g.source}->{g.destination} {g.status} members={len(g.members)}" for g in self.groups]
        lines += [f"pair {p.id} {p.source}->{p.destination} {p.status}" for p in self.pairs if p.group is None]
        return "; ".join(lines) or "(empty fleet)"


def statuses(eligible_weight: int = 1, ineligible_weight: int = 1) -> st.SearchStrategy[str]:
    """A pair/group status; ``one_of`` branches are equally likely, so weights are branch repetitions."""
    return st.one_of(
        *([st.sampled_from(ELIGIBLE_STATUSES)] * eligible_weight),
        *([st.sampled_from(INELIGIBLE_STATUSES)] * ineligible_weight),
    )


def routes(failover_weight: int = 2) -> st.SearchStrategy[Route]:
    """A route; the failover route first (and repeated) so shrinking and most draws land on it."""
    return st.sampled_from((FAILOVER_ROUTE,) * failover_weight + ROUTES[1:])


@st.composite
def fleets(
    draw: st.DrawFn,
    *,
    max_pairs: int = 40,
    max_groups: int = 3,
    status: st.SearchStrategy[str] | None = None,
    route: st.SearchStrategy[Route] | None = None,
) -> DrawnFleet:
    """Loose pairs and groups of 2-17 pairs over several routes and mixed statuses, ≤ ``max_pairs`` pairs.

    A group's members share its route and status, as the API keeps them (a group replicates as one).
    Ids are short, lowercase and positional (``pair-p007``, ``pg-g1``, ``pair-g1m03``): what varies is
    the shape, and positional ids keep shrunk examples readable.
    """
    status = statuses() if status is None else status
    route = routes() if route is None else route
    sizes = draw(st.lists(st.integers(2, 17), max_size=max_groups))
    groups: list[GroupSpec] = []
    pairs: list[PairSpec] = []
    used = 0
    for size in sizes:
        if used + size > max_pairs:
            continue  # does not fit: keep the total bounded (speed) rather than reject the example
        gid = f"pg-g{len(groups)}"
        src, dst = draw(route)
        s = draw(status)
        members = tuple(f"pair-g{len(groups)}m{j:02d}" for j in range(size))
        groups.append(GroupSpec(gid, src, dst, s, members))
        pairs.extend(PairSpec(m, src, dst, s, gid) for m in members)
        used += size
    n_loose = draw(st.integers(0 if groups else 1, max(0, max_pairs - used)))
    for i in range(n_loose):
        src, dst = draw(route)
        pairs.append(PairSpec(f"pair-p{i:03d}", src, dst, draw(status)))
    return DrawnFleet(tuple(pairs), tuple(groups))


# ------------------------------------------------------------------------------------------- faults
FaultKind = Literal["504", "500", "503", "throttling", "invalid-status", "last-token", "hang", "reset"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "504",
    "500",
    "503",
    "throttling",
    "invalid-status",
    "last-token",
    "hang",
    "reset",
)
_ERRORS: dict[str, FaultError] = {
    "504": FaultError(status=504, code="RequestTimeout"),
    "500": FaultError(status=500, code="InternalError"),
    "503": FaultError(status=503, code="ServiceUnavailable"),
    "throttling": FaultError(status=400, code="Throttling.User"),
    "invalid-status": FaultError(status=403, code="OperationDenied.InvalidStatus"),
    "last-token": FaultError(status=403, code="LastTokenProcessing"),
}
FAILOVER_ACTIONS = ("FailoverDiskReplicaPair", "FailoverDiskReplicaGroup")
DESCRIBE_ACTIONS = ("DescribeDiskReplicaPairs", "DescribeDiskReplicaGroups")
# A describe answering InvalidStatus/LastTokenProcessing is not a thing the API does; a failed
# *listing* with a permanent code is a permanent failure of the whole plan, not a survivable fault.
_WRITE_ONLY: frozenset[str] = frozenset({"invalid-status", "last-token"})
# Permanent codes for the "reported, never dropped" property: the function must not retry them.
PERMANENT_ERRORS: tuple[FaultError, ...] = (
    FaultError(status=403, code="OperationDenied"),
    FaultError(status=403, code="Forbidden.Action"),
    FaultError(status=404, code="NoSuchResource"),
    FaultError(status=403, code="OperationDenied.PairGroupStatusConflict"),
    FaultError(status=400, code="InvalidParameter"),
)


@dataclass(frozen=True)
class FaultSchedule:
    """Fault rules in evaluation order (the first rule that matches *and fires* wins).

    ``primary_down`` prepends rules failing every call that names the primary region or the
    production site: a call there would be a bug (the primary is the region in trouble), and the
    rules make such a call fail loudly *and* show in the ledger as a fault.
    """

    rules: tuple[FaultRule, ...] = ()
    primary_down: bool = False
    primary: str = PRIMARY

    def all_rules(self) -> list[FaultRule]:
        guards = (
            [
                FaultRule(id="primary-region-down", region=self.primary),
                FaultRule(id="production-site-down", site="production"),
            ]
            if self.primary_down
            else []
        )
        return [*guards, *self.rules]

    @property
    def bounded(self) -> bool:
        return all(r.count is not None for r in self.rules if r.error or r.hang_ms or r.reset)

    @property
    def max_firings(self) -> int:
        """Upper bound of misbehaving answers (errors, hangs, resets) the schedule can cause."""
        return sum(r.count or 0 for r in self.rules if r.error or r.hang_ms or r.reset)

    @property
    def has_hangs(self) -> bool:
        return any(r.hang_ms for r in self.rules)

    def describe(self) -> str:
        parts = []
        for r in self.all_rules():
            what = (f"{r.error.status} {r.error.code}" if r.error else ("hang" if r.hang_ms else "latency")) + (
                " reset" if r.reset else ""
            )
            parts.append(
                f"{r.id}: {what} on {r.action or '*'}/{r.target or '*'} phase={r.phase} p={r.probability} "
                f"count={r.count} after={r.after} seed={r.seed} latency={r.latency_ms} hang={r.hang_ms}"
            )
        return "\n".join(parts) or "(no faults)"


def _targets_for(fleet: DrawnFleet, action: str) -> list[str]:
    if action == "FailoverDiskReplicaGroup":
        return [g.id for g in fleet.groups]
    return [p.id for p in fleet.pairs]


@st.composite
def fault_rules(
    draw: st.DrawFn,
    fleet: DrawnFleet,
    *,
    index: int,
    read_timeout: float,
    kinds: tuple[FaultKind, ...] = FAULT_KINDS,
    max_count: int = 3,
    permanent: bool = False,
) -> FaultRule:
    """One misbehaving rule: an error, a hang past the client's read timeout, or a connection reset.

    ``count`` is always bounded unless ``permanent`` (then ``count`` may be ``None`` and the error
    may be a permanent code). Hangs last ``read_timeout`` + 150 ms so the client gives up first; in
    phase ``before`` the server then goes on and applies the call *after* the client's retry: the
    ClientToken must make one of the two a replay.
    """
    kind = draw(st.sampled_from(kinds))
    actions = FAILOVER_ACTIONS if kind in _WRITE_ONLY else (*FAILOVER_ACTIONS, *DESCRIBE_ACTIONS, None)
    action = draw(st.sampled_from(actions))
    target: str | None = None
    if action in FAILOVER_ACTIONS:
        ids = _targets_for(fleet, action)
        # named targets prefer eligible ones: a fault on a target that is never called is a no-op
        preferred = [i for i in ids if i in fleet.eligible_targets] or ids
        target = draw(st.none() | st.sampled_from(preferred)) if preferred else None
    error: FaultError | None = _ERRORS.get(kind)
    if permanent:
        error = draw(st.sampled_from(PERMANENT_ERRORS)) if action in FAILOVER_ACTIONS else FaultError(status=503)
    count = draw(st.none() | st.integers(1, max_count)) if permanent else draw(st.integers(1, max_count))
    hang = kind == "hang" and not permanent
    reset = kind == "reset" and not permanent
    return FaultRule(
        id=f"r{index}-{kind}",
        action=action,
        target=target,
        probability=draw(st.sampled_from((1.0, 0.75, 0.5, 0.25))),
        count=count,
        after=draw(st.integers(0, 3)),
        seed=draw(st.integers(0, 2**32 - 1)),
        phase=draw(st.sampled_from(("before", "after"))),
        error=None if (hang or reset) else error,
        latency_ms=draw(st.sampled_from((0.0, 0.0, 2.0, 10.0))),
        hang_ms=round(read_timeout * 1000 + 150) if hang else 0.0,
        reset=reset,
    )


@st.composite
def fault_schedules(
    draw: st.DrawFn,
    fleet: DrawnFleet,
    *,
    read_timeout: float,
    max_rules: int = 4,
    kinds: tuple[FaultKind, ...] = FAULT_KINDS,
    max_count: int = 3,
    max_hangs: int = 1,
    latency: bool = True,
    primary_down: bool | None = None,
) -> FaultSchedule:
    """Survivable faults: at most ``max_rules`` rules, each firing at most ``max_count`` times.

    Hangs cost a read timeout of wall time each, so at most ``max_hangs`` hang rules are kept (one
    firing each). An optional trailing latency-only rule (≤ 15 ms) slows otherwise clean calls; it
    must come last because a rule that fires wins, and a latency rule always "fires".
    """
    rules: list[FaultRule] = []
    hangs = 0
    for i in range(draw(st.integers(0, max_rules))):
        rule = draw(fault_rules(fleet, index=i, read_timeout=read_timeout, kinds=kinds, max_count=max_count))
        if rule.hang_ms:
            if hangs >= max_hangs:
                continue
            hangs += 1
            rule = rule.model_copy(update={"count": 1})
        rules.append(rule)
    if latency and draw(st.booleans()):
        rules.append(
            FaultRule(
                id="latency",
                probability=draw(st.sampled_from((1.0, 0.5))),
                latency_ms=draw(st.integers(1, 15)),
                seed=draw(st.integers(0, 2**32 - 1)),
            )
        )
    down = draw(st.booleans()) if primary_down is None else primary_down
    return FaultSchedule(tuple(rules), down)


@st.composite
def permanent_fault_schedules(draw: st.DrawFn, fleet: DrawnFleet, *, read_timeout: float) -> FaultSchedule:
    """Faults the function cannot outlast: permanent codes, or transient ones that never stop."""
    rules = [
        draw(fault_rules(fleet, index=i, read_timeout=read_timeout, kinds=("500", "503"), permanent=True))
        for i in range(draw(st.integers(1, 3)))
    ]
    return FaultSchedule(tuple(rules), draw(st.booleans()))


# --------------------------------------------------------------------------------------- deliveries
EventShape = Literal[
    "threshold-json", "threshold-form", "system-event", "eventbridge", "mns", "mns-base64", "manual-failover"
]
EVENT_SHAPES: tuple[EventShape, ...] = (
    "threshold-json",
    "threshold-form",
    "system-event",
    "eventbridge",
    "mns",
    "mns-base64",
    "manual-failover",
)


def threshold_alert(primary: str, n: int, account: str = ACCOUNT) -> dict[str, str]:
    """CloudMonitor threshold-alert callback (events/threshold-alert.json); ``n`` = re-notification number."""
    return {
        "lastTime": f"{3 + n}分钟",
        "rawMetricName": "region_probe_success_rate",
        "expression": "$Average < 50",
        "metricName": "region_probe_success_rate",
        "instanceName": "null",
        "signature": "k3pQ0mZ8b1cPZk7Lr3sT9uWy4aE=",
        "transId": f"7c1e5a20-8a3f-11f1-9b2d-{n:012d}",
        "groupId": "41263096",
        "regionName": "null",
        "productGroupName": "replica-failover-dr",
        "metricProject": f"acs_customMetric_{account}",
        "userId": account,
        "curValue": "12.5",
        "unit": "%",
        "alertName": "ebs-primary-region-unhealthy",
        "regionId": "null",
        "namespace": f"acs_customMetric_{account}",
        "triggerLevel": "CRITICAL",
        "alertState": "ALERT",
        "preTriggerLevel": "null" if n == 0 else "CRITICAL",
        "ruleId": "alarmRule_uuid_5f0c2b7d9a1e4c3b8d6f0a2e4c6b8d0f1a3c5e7",
        "dimensions": f"{{region={primary}, userId={account}}}",
        "timestamp": str(1795426200000 + 60_000 * n),
    }


def system_event(primary: str, n: int, account: str = ACCOUNT) -> dict[str, Any]:
    """CloudMonitor system event (events/system-event.json) about an instance in the primary region."""
    instance = "i-bp1d4c7e2f9a0b3c5d6e"
    return {
        "ver": "1.0",
        "id": f"9F1C2B3A-4D5E-4F60-8A7B-{n:012d}",
        "product": "ECS",
        "resourceId": f"acs:ecs:{primary}:{account}:instance/{instance}",
        "level": "CRITICAL",
        "name": "Instance:SystemFailure.Reboot:Executing",
        "userId": account,
        "eventTime": "20261123T213015.122+0800",
        "regionId": primary,
        "content": {
            "eventId": "e-bp1f0c3a7d2e9b4c6a8d",
            "publishTime": "2026-11-23T13:30:15Z",
            "notBefore": "2026-11-23T13:30:15Z",
            "instanceId": instance,
            "eventType": "SystemFailure.Reboot",
            "eventStatus": "Executing",
        },
    }


def eventbridge(primary: str, n: int, dr: str = DR, account: str = ACCOUNT) -> dict[str, Any]:
    """EventBridge CloudEvents 1.0 envelope around the system event (events/eventbridge.json)."""
    data = system_event(primary, n, account)
    return {
        "specversion": "1.0",
        "id": f"3b6f1e2d-7c8a-4f90-b1d2-{n:012d}",
        "source": "acs.ecs",
        "type": "ecs:CloudMonitor:Instance:SystemFailure.Reboot:Executing",
        "subject": data["resourceId"],
        "time": "2026-11-23T21:30:15+08:00",
        "datacontenttype": "application/json",
        "aliyunaccountid": account,
        "aliyunpublishtime": "2026-11-23T21:30:16.204PRC",
        "aliyuneventbusname": "default",
        "aliyunregionid": dr,
        "aliyunpublishaddr": "172.25.XX.XX",
        "data": data,
    }


def mns(primary: str, n: int, *, b64: bool = False, account: str = ACCOUNT) -> dict[str, Any]:
    """MNS topic-trigger notification (JSON format) carrying the threshold alert (events/mns-topic.json)."""
    message = json.dumps(threshold_alert(primary, n, account), ensure_ascii=False)
    if b64:
        message = base64.b64encode(message.encode()).decode()
    return {
        "TopicOwner": account,
        "TopicName": "replica-failover-alarms",
        "Subscriber": account,
        "SubscriptionName": "replica-failover-alarms-fc",
        "MessageId": f"5C9A3F0E2B7D41A68E1F{n:012d}",
        "Message": message,
        "MessageMD5": "0E4A6F1B3C5D7E9F1A2B3C4D5E6F7A8B",
        "MessageTag": "alarm",
        "PublishTime": 1795426200431 + n,
    }


def manual_failover(primary: str, n: int) -> dict[str, str]:
    """An operator's manual failover (events/manual-failover.json); each operator files their own incident."""
    return {
        "action": "failover",
        "primaryRegion": primary,
        "reason": f"{primary} EBS outage confirmed by on-call ({n})",
        "incidentId": f"INC-2026-{42 + n:04d}",
    }


@dataclass(frozen=True)
class Notification:
    """One delivery of the alarm: a shape and a re-notification number (new transId/timestamp/id)."""

    shape: EventShape
    n: int = 0

    def payload(self, primary: str = PRIMARY, dr: str = DR) -> bytes:
        if self.shape == "threshold-json":
            return json.dumps(threshold_alert(primary, self.n), ensure_ascii=False).encode()
        if self.shape == "threshold-form":
            return urllib.parse.urlencode(threshold_alert(primary, self.n)).encode()
        if self.shape == "system-event":
            return json.dumps(system_event(primary, self.n)).encode()
        if self.shape == "eventbridge":
            return json.dumps(eventbridge(primary, self.n, dr)).encode()
        if self.shape in ("mns", "mns-base64"):
            return json.dumps(mns(primary, self.n, b64=self.shape == "mns-base64"), ensure_ascii=False).encode()
        return json.dumps(manual_failover(primary, self.n)).encode()


@dataclass(frozen=True)
class DeliveryPlan:
    """How the alarm reaches the function.

    ``waves`` run one after the other; the notifications of one wave run concurrently (one thread
    each, as FC runs concurrent instances). ``first_timeout`` (seconds) is the FC function timeout of
    the very first invocation: short, so it runs out of time and ends pending (``PendingWork``), as
    an FC invocation that hit its timeout. Every invocation that ends pending is re-invoked with the
    same payload and the normal timeout, at most ``fc_retries`` times (FC's async retries).
    """

    waves: tuple[tuple[Notification, ...], ...] = field(default=((Notification("threshold-json"),),))
    first_timeout: float | None = None
    fc_retries: int = 3

    def __iter__(self) -> Iterator[tuple[Notification, ...]]:
        return iter(self.waves)

    @property
    def invocations(self) -> int:
        return sum(len(w) for w in self.waves)

    @property
    def concurrent(self) -> bool:
        return any(len(w) > 1 for w in self.waves)

    def describe(self) -> str:
        waves = " | ".join(" + ".join(f"{n.shape}#{n.n}" for n in w) for w in self.waves)
        return f"{waves} (first timeout {self.first_timeout}, fc retries {self.fc_retries})"


def notifications(shapes: Iterable[EventShape] = EVENT_SHAPES) -> st.SearchStrategy[Notification]:
    return st.builds(Notification, st.sampled_from(tuple(shapes)), st.integers(0, 5))


@st.composite
def deliveries(
    draw: st.DrawFn,
    *,
    max_waves: int = 3,
    max_copies: int = 4,
    short_timeouts: tuple[float, ...] = (1.5,),
    reinvoke: bool | None = None,
    shapes: tuple[EventShape, ...] = EVENT_SHAPES,
) -> DeliveryPlan:
    """N sequential waves of K concurrent copies, in any of the alarm's shapes, maybe a timed-out first run.

    ``reinvoke``: ``None`` draws it (about one example in four, it costs a deadline of wall time),
    ``True``/``False`` forces it.
    """
    note = notifications(shapes)
    waves = draw(
        st.lists(st.lists(note, min_size=1, max_size=max_copies).map(tuple), min_size=1, max_size=max_waves).map(tuple)
    )
    if reinvoke is None:
        reinvoke = draw(st.sampled_from((False, False, False, True)))
    first_timeout = draw(st.sampled_from(short_timeouts)) if reinvoke and short_timeouts else None
    return DeliveryPlan(waves, first_timeout)


# ---------------------------------------------------------------------------------------- conditions
@dataclass(frozen=True)
class Conditions:
    """The rest of the world: emulator config and the function's own settings for one example.

    Retry limits are generous on purpose (``max_attempts``/``retry_budget``): with bounded fault
    counts that makes every schedule *survivable*, which is what property (1) is conditional on.
    """

    concurrency: int = 8
    strict: bool = False
    verify: bool = False
    # True: the emulator clock stands still and ``failovering`` only completes when the test
    # advances it (a second notification then meets the transient state); False: transitions are instant
    frozen_clock: bool = False
    latency_ms: float = 0.0  # emulator-wide, after the ClientToken claim: widens LastTokenProcessing windows
    rate_limit: float | None = None  # requests/s per action (burst 5): the gateway's own Throttling.User
    read_timeout: float = 0.5
    deadline_margin: float = 1.0
    max_attempts: int = 100
    retry_budget: int = 5000

    def emulator_config(self) -> dict[str, Any]:
        """A camelCase patch for ``Emulator.update_config``."""
        delays = {"failovering": 1.0} if self.frozen_clock else {}
        return {
            "strict": self.strict,
            "latencyMs": self.latency_ms,
            # zero delays: everything but (maybe) failovering completes at once, so no example waits
            "transitionDelays": {
                s: delays.get(s, 0.0)
                for s in (
                    "creating",
                    "initial_syncing",
                    "syncing",
                    "manual_syncing",
                    "stopping",
                    "failovering",
                    "reprotecting",
                    "deleting",
                )
            },
            "rateLimits": [{"action": a, "rate": self.rate_limit, "burst": 5} for a in FAILOVER_ACTIONS]
            if self.rate_limit
            else [],
        }

    def function_env(self) -> dict[str, str]:
        return {
            "FAILOVER_CONCURRENCY": str(self.concurrency),
            "FAILOVER_MAX_ATTEMPTS": str(self.max_attempts),
            "FAILOVER_RETRY_BUDGET": str(self.retry_budget),
            "FAILOVER_READ_TIMEOUT_SECONDS": str(self.read_timeout),
            "FAILOVER_CONNECT_TIMEOUT_SECONDS": "2",
            "FAILOVER_DEADLINE_MARGIN_SECONDS": str(self.deadline_margin),
            "FAILOVER_VERIFY": "true" if self.verify else "false",
            "FAILOVER_VERIFY_POLL_SECONDS": "0.01",
            "FAILOVER_MAX_TARGETS": "500",
        }

    def describe(self) -> str:
        return (
            f"concurrency={self.concurrency} strict={self.strict} verify={self.verify} frozen={self.frozen_clock} "
            f"latency={self.latency_ms}ms rate={self.rate_limit} readTimeout={self.read_timeout}s "
            f"attempts={self.max_attempts} budget={self.retry_budget}"
        )


@st.composite
def conditions(
    draw: st.DrawFn,
    *,
    concurrency: tuple[int, ...] = (8, 1, 2, 4, 16),
    rate_limits: bool = True,
    latency: bool = True,
    read_timeout: float = 0.5,
    max_attempts: int = 100,
) -> Conditions:
    frozen = draw(st.booleans())
    return Conditions(
        concurrency=draw(st.sampled_from(concurrency)),
        strict=draw(st.booleans()),
        # verification polls until failovered: with a frozen clock that is the whole deadline
        verify=False if frozen else draw(st.booleans()),
        frozen_clock=frozen,
        latency_ms=draw(st.sampled_from((0.0, 0.0, 5.0, 20.0))) if latency else 0.0,
        rate_limit=draw(st.none() | st.sampled_from((40.0, 100.0))) if rate_limits else None,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
    )


# ----------------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class ChaosCase:
    fleet: DrawnFleet
    faults: FaultSchedule
    delivery: DeliveryPlan
    conditions: Conditions

    def describe(self) -> str:
        return (
            f"fleet: {self.fleet.describe()}\nfaults:\n{self.faults.describe()}\n"
            f"delivery: {self.delivery.describe()}\nconditions: {self.conditions.describe()}"
        )


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    fleet: st.SearchStrategy[DrawnFleet] | None = None,
    delivery: st.SearchStrategy[DeliveryPlan] | None = None,
    condition: st.SearchStrategy[Conditions] | None = None,
    kinds: tuple[FaultKind, ...] = FAULT_KINDS,
    primary_down: bool | None = None,
    permanent: bool = False,
) -> ChaosCase:
    """A whole example: the fleet first (faults name its targets), then conditions, faults, deliveries."""
    f = draw(fleets() if fleet is None else fleet)
    c = draw(conditions() if condition is None else condition)
    on_route = [p.status for p in f.pairs if p.route == FAILOVER_ROUTE]
    on_route += [g.status for g in f.groups if g.route == FAILOVER_ROUTE]
    if c.verify and "failovering" in on_route:
        # a *seeded* transient state never completes in the emulator (seeds are static), so
        # verification would poll a seeded ``failovering`` target until the deadline: a minute of wall time
        c = replace(c, verify=False)
    if permanent:
        faults = draw(permanent_fault_schedules(f, read_timeout=c.read_timeout))
    else:
        faults = draw(fault_schedules(f, read_timeout=c.read_timeout, kinds=kinds, primary_down=primary_down))
    return ChaosCase(f, faults, draw(deliveries() if delivery is None else delivery), c)
