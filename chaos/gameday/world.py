"""World setup for one game day: the emulator, the fleet, the function's registration and environment.

:func:`open_emulator` yields the control surface of the emulator the run uses (embedded, or external over
``/_emulator``, or none for a staging account). :class:`World` is what every later phase reads: the
scenario, the function under test and how to reach it. :func:`set_up` puts the scenario's world into
the emulator: reset, configure, seed the fleet, register the template's functions (through
:mod:`chaos.gameday.capture`, which keeps their results).

Generated pairs get ids that do not depend on the seed (``pair-<prefix>-000003``): ``--seed`` changes
what is drawn (states, grouping), never which id a fault rule or flip names.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from chaos.emulator.cms.models import DatapointSeed, SystemEventSeed
from chaos.emulator.config import (
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_STS_ACCESS_KEY_ID,
    DEFAULT_STS_ACCESS_KEY_SECRET,
    DEFAULT_STS_SECURITY_TOKEN,
    default_credentials,
)
from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord, Tag
from chaos.emulator.ebs.urls import REQUIRED
from chaos.emulator.fc import FunctionSpec
from chaos.gameday.client import EmulatorControl, HttpControl, LocalControl
from chaos.gameday.notifications import Endpoints
from chaos.gameday.scenario import Scenario
from chaos.template import FunctionDef, TemplateError, ensure_importable, locate_template, read_template

# Game-day defaults under the scenario's own env: the template's 2 s verify poll would dominate a run
# whose transitions are instant; everything else is the template's production value.
# The drill/undo/reprotect/failback scenarios send their events to the scenario's function, so it has the
# operator actions on, as the deployed operations function does (template.yml replica-failover-ops).
GAMEDAY_ENV = {"FAILOVER_VERIFY_POLL_SECONDS": "0.05", "FAILOVER_OPERATIONS": "drill,undo,reprotect,failback"}
# failovering completes at once unless a scenario says otherwise (emulator.transitionDelays)
GAMEDAY_EMULATOR = {"transitionDelays": {"failovering": 0.0}}
SECRET_ENV = frozenset(
    {
        "WEBHOOK_SECRET",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
        "FAILOVER_APPROVAL_SECRET",
        "FAILOVER_NOTIFY_DINGTALK_URL",  # carries the robot's access token
        "FAILOVER_NOTIFY_DINGTALK_SECRET",
        "FAILOVER_NOTIFY_WEBHOOK_URL",  # real incoming-webhook URLs embed a token
    }
)


class RunError(RuntimeError):
    """The run could not be carried out (not a violated expectation): bad target, unreachable emulator."""


@dataclass(frozen=True)
class FcTarget:
    service: str
    function: str

    @classmethod
    def parse(cls, text: str) -> FcTarget:
        rest = text.removeprefix("fc://")
        service, sep, function = rest.partition("/")
        if not text.startswith("fc://") or not sep or not service or not function or "/" in function:
            raise RunError(f"--target takes fc://<service>/<function>, got {text!r}")
        return cls(service, function)


@contextlib.contextmanager
def open_emulator(endpoint: str | None, target: FcTarget | None, region: str) -> Iterator[EmulatorControl | None]:
    """The emulator the run drives: ``endpoint``'s, none for a bare ``target``, else one embedded here."""
    if endpoint:
        http = HttpControl(endpoint)
        try:
            http.health()
        except Exception as exc:
            raise RunError(f"no emulator control plane at {http.url}: {exc}") from None
        try:
            yield http
        finally:
            http.close()
        return
    if target is not None:
        yield None  # a staging account: nothing to seed, nothing to read but the results
        return
    from chaos.emulator.app import Emulator
    from chaos.emulator.server import start

    handle = start(Emulator(region=region))
    local = LocalControl(handle.emulator, handle.url)
    try:
        yield local
    finally:
        local.close()
        handle.stop()


@dataclass
class World:
    """The scenario's world as every phase sees it: what runs, where, and how to reach it."""

    sc: Scenario
    base_dir: Path
    control: EmulatorControl | None
    fn: FunctionDef
    webhook_fn: FunctionDef | None
    target: FcTarget | None
    fc_endpoint: str | None
    logs: IO[str]  # the function's JSON log lines (in-process invocations)
    capture_dir: str | None = None  # where an out-of-process emulator's FC attempts leave their results
    project_dir: Path | None = None  # the template's directory: scenario event files may name its events/
    endpoints: Endpoints | None = None  # the notification endpoints' credentials, drawn for this run
    recovery_plan: str | None = None  # the plan file's name inside the function's code directory

    @classmethod
    def build(
        cls,
        sc: Scenario,
        base_dir: Path,
        control: EmulatorControl | None,
        *,
        target: FcTarget | None,
        fc_endpoint: str | None,
        logs: IO[str],
        capture_dir: str | None = None,
        template: Path | None = None,
    ) -> World:
        try:
            # a scenario's own template is relative to the scenario file; else --template, else the default
            template_path = base_dir / sc.function.template if sc.function.template else locate_template(template)
            functions = read_template(template_path)
        except TemplateError as exc:
            raise RunError(str(exc)) from None
        if sc.function.name not in functions:
            raise RunError(f"no function {sc.function.name!r} in {template_path}")
        return cls(
            sc,
            base_dir,
            control,
            functions[sc.function.name],
            functions.get(sc.function.webhook),
            target,
            fc_endpoint,
            logs,
            capture_dir,
            template_path.parent,
            Endpoints(sc.notify),
        )

    @property
    def url(self) -> str:
        return self.control.url if self.control else ""

    @property
    def service(self) -> str:
        return self.target.service if self.target else self.fn.service

    @property
    def function_name(self) -> str:
        return self.target.function if self.target else self.fn.name

    def fc_key(self) -> tuple[str, str]:
        return (self.service, self.function_name)

    def function_env(self) -> dict[str, str]:
        env = {**GAMEDAY_ENV, "FAILOVER_DR_REGION": self.sc.dr_region, **self.sc.function.env}
        if self.control is not None:
            env["EBS_ENDPOINT"] = self.url
            env["FC_ENDPOINT"] = self.url
            env["CMS_ENDPOINT"] = self.url
            env["ECS_ENDPOINT"] = self.url
            env["DNS_ENDPOINT"] = self.url
            if self.endpoints is not None:
                env.update(self.endpoints.env(self.url))
        if self.sc.function.approve_mode() or self.sc.approvals():
            env["FAILOVER_APPROVAL_SECRET"] = self.sc.function.approval_secret
        if self.recovery_plan is not None:
            env["FAILOVER_RECOVERY_PLAN"] = self.recovery_plan
        if self.sc.recovery is not None and self.sc.recovery.standby is not None:
            env.setdefault("FAILOVER_RECOVERY_TAGS", "true")  # the generated standbys are declared by tag
        return env

    def secrets(self) -> list[str]:
        """Every secret of this run: none may appear in a notification, a result or a log line."""
        out = [
            self.sc.function.approval_secret,
            self.sc.function.webhook_secret,
            DEFAULT_ACCESS_KEY_SECRET,
            DEFAULT_STS_ACCESS_KEY_SECRET,
            DEFAULT_STS_SECURITY_TOKEN,
        ]
        if self.endpoints is not None:
            out += self.endpoints.secrets()
        return out

    def masked_env(self) -> dict[str, str]:
        return {k: ("***" if k in SECRET_ENV else v) for k, v in self.function_env().items()}

    def failover_spec(self) -> FunctionSpec:
        env = {
            **self.function_env(),
            "GAMEDAY_HANDLER": self.fn.import_ref(),
            "GAMEDAY_CODE_URI": str(self.fn.code_uri),
            "GAMEDAY_INITIALIZER": self.fn.import_ref(self.fn.initializer) if self.fn.initializer else "",
        }
        if self.capture_dir:
            env["GAMEDAY_CAPTURE_DIR"] = self.capture_dir
        update: dict[str, Any] = {
            "handler": "chaos.gameday.capture:failover",
            "initializer": "chaos.gameday.capture:initialize",
        }
        if self.sc.function.timeout is not None:
            update["timeout"] = self.sc.function.timeout
        if self.sc.function.max_async_retry_attempts is not None:
            update["max_async_retry_attempts"] = self.sc.function.max_async_retry_attempts
        return self.fn.spec(env).model_copy(update=update)

    def webhook_spec(self) -> FunctionSpec:
        if self.webhook_fn is None:
            raise RunError(f"no webhook function {self.sc.function.webhook!r} in the template")
        env = {
            "WEBHOOK_SECRET": self.sc.function.webhook_secret,
            "FC_ENDPOINT": self.url,
            "FAILOVER_SERVICE": self.fn.service,
            "FAILOVER_FUNCTION": self.fn.name,
            "GAMEDAY_HANDLER": self.webhook_fn.import_ref(),
            "GAMEDAY_CODE_URI": str(self.webhook_fn.code_uri),
        }
        return self.webhook_fn.spec(env).model_copy(
            update={"handler": "chaos.gameday.capture:webhook", "initializer": None}
        )


def set_up(world: World) -> None:
    """Reset the emulator to the scenario's world; against a deployed function keep its registration."""
    control, sc = world.control, world.sc
    if control is None:
        return
    if world.target is None:
        control.reset()
    else:  # the deployed function is registered there: keep it, start from a clean ledger and fleet
        control.clear_faults()
    patch: dict[str, Any] = {**GAMEDAY_EMULATOR, "seed": sc.seed, **sc.emulator}
    if sc.method.ram_deny:
        patch["credentials"] = restricted_credentials(sc.method.ram_deny)
    control.configure(patch)
    pairs, groups = fleet_records(sc)
    control.seed(pairs, groups)
    seed_cloud_monitor(control, sc.cloud_monitor.system_events, sc.cloud_monitor.datapoints)
    if world.endpoints is not None:
        world.endpoints.configure(control)
    if sc.recovery is not None:
        from chaos.gameday.recovery_world import seed_recovery

        seed_recovery(control, sc)
    if sc.drills is not None:
        from chaos.gameday.drill_checks import set_knobs

        set_knobs(control, sc.drills)
    if world.target is None:
        ensure_importable(world.fn.code_uri)
        cold_instance()
        control.register(world.failover_spec())
        if "webhook" in sc.channels():
            control.register(world.webhook_spec())
    else:
        control.clear_ledger()


def cold_instance() -> None:
    """Each game day starts on a cold function instance. The function keeps the DingTalk robot's
    client-side window (20 messages a minute) per process, as a warm FC instance does; scenarios run
    one after another in this process must not inherit each other's sends."""
    from replica_failover.notify import send

    send.DINGTALK_LIMITER = send.RateLimiter()


def seed_cloud_monitor(
    control: EmulatorControl, events: list[SystemEventSeed], datapoints: list[DatapointSeed]
) -> None:
    """Store CloudMonitor records: system events stamped on the wall clock, datapoints on the emulator's.

    The function asks for system events between its own wall-clock times, while the emulator's clock may
    run ahead (an external emulator keeps the hour every earlier run advanced): an event's
    ``offsetSeconds`` therefore counts from the wall clock. ``DescribeMetricLast`` is asked without
    times, so the emulator's "last hour" applies and datapoints keep their offsets on its clock."""
    if events:
        now = time.time()
        control.add_system_events([_wall_stamped(e, now) for e in events])
    if datapoints:
        control.add_datapoints(datapoints)


def _wall_stamped(seed: SystemEventSeed, now: float) -> SystemEventSeed:
    if seed.Time is not None:
        return seed
    stamp = int((now + (seed.offset_seconds or 0.0)) * 1000)
    return seed.model_copy(update={"Time": stamp, "offset_seconds": None})


def restricted_credentials(denied: list[str]) -> list[dict[str, Any]]:
    """The emulator's default keys, the function role's narrowed to every ebs action but ``denied``."""
    deny = {a.removeprefix("ebs:") for a in denied}
    allowed = sorted(f"ebs:{a}" for a in REQUIRED if a not in deny)
    out = []
    for cred in default_credentials():
        narrowed = (
            cred.model_copy(update={"allowed_actions": allowed})
            if cred.access_key_id == DEFAULT_STS_ACCESS_KEY_ID
            else cred
        )
        out.append(narrowed.model_dump(by_alias=True))
    return out


# ------------------------------------------------------------------------------------ the fleet
def fleet_records(sc: Scenario) -> tuple[list[PairRecord], list[GroupRecord]]:
    """Every pair and group the scenario seeds: listed ones, members named only by a group, generated ones."""
    pairs, groups = listed_records(sc)
    if sc.fleet.generate is not None:
        spec = sc.fleet.generate
        if "seed" not in spec.model_fields_set:
            spec = spec.model_copy(update={"seed": sc.seed})
        gen_pairs, gen_groups = generated_records(spec)
        pairs += gen_pairs
        groups += gen_groups
    return pairs, groups


def listed_records(sc: Scenario) -> tuple[list[PairRecord], list[GroupRecord]]:
    listed = {p.id for p in sc.fleet.pairs}
    member_of: dict[str, str] = {p.id: p.group for p in sc.fleet.pairs if p.group}
    for g in sc.fleet.groups:
        for pid in g.pairs:
            member_of[pid] = g.id
    route = {g.id: g for g in sc.fleet.groups}
    groups = [
        GroupRecord(
            ReplicaGroupId=g.id,
            GroupName=g.id,
            SourceRegionId=g.source,
            DestinationRegionId=g.destination,
            Status=g.status,
            Tags=[Tag(TagKey=k, TagValue=v) for k, v in g.tags.items()],
        )
        for g in sc.fleet.groups
    ]
    pairs: list[PairRecord] = []
    for pid, gid in member_of.items():
        if pid not in listed:  # a member named only by its group takes the group's route and state
            g = route[gid]
            pairs.append(
                PairRecord(
                    ReplicaPairId=pid,
                    SourceRegion=g.source,
                    DestinationRegion=g.destination,
                    Status=g.status,
                    ReplicaGroupId=gid,
                )
            )
    for p in sc.fleet.pairs:
        pairs.append(
            PairRecord(
                ReplicaPairId=p.id,
                PairName=p.id,
                SourceRegion=p.source,
                DestinationRegion=p.destination,
                Status=p.status,
                ReplicaGroupId=member_of.get(p.id, ""),
                Tags=[Tag(TagKey=k, TagValue=v) for k, v in p.tags.items()],
            )
        )
    return pairs, groups


def generated_ids(spec: FleetSpec) -> list[str]:
    """The generated pairs' ids, known before anything is drawn: ``pair-<prefix>-<n>``."""
    return [f"pair-{spec.prefix}-{i:06d}" for i in range(spec.pairs)]


def generated_records(spec: FleetSpec) -> tuple[list[PairRecord], list[GroupRecord]]:
    """The emulator's own generator, drawn in a scratch emulator, with seed-independent ids.

    The generator puts the seed into its ids; a game day renames them by position, so the seed only
    changes what is drawn. Creation times are left for the target emulator's clock to fill in.
    """
    from chaos.emulator.app import Emulator

    scratch = Emulator()
    try:
        drawn = scratch.backend.generate(spec)
        pair_ids = dict(zip(drawn["pairs"], generated_ids(spec), strict=True))
        group_ids = {gid: f"pg-{spec.prefix}-{k:05d}" for k, gid in enumerate(drawn["groups"])}
        fresh = {"CreateTime": 0, "LastRecoverPoint": 0}
        pairs = [
            scratch.backend.pairs[old].model_copy(
                update={
                    **fresh,
                    "ReplicaPairId": new,
                    "ReplicaGroupId": group_ids.get(scratch.backend.pairs[old].ReplicaGroupId, ""),
                }
            )
            for old, new in pair_ids.items()
        ]
        groups = [
            scratch.backend.groups[old].model_copy(
                update={
                    "LastRecoverPoint": 0,
                    "ReplicaGroupId": new,
                    "GroupName": new,
                    "PairIds": [pair_ids[p] for p in scratch.backend.groups[old].PairIds],
                }
            )
            for old, new in group_ids.items()
        ]
    finally:
        scratch.fc.shutdown()
    return pairs, groups


def unknown_targets(sc: Scenario) -> list[str]:
    """Every fault rule, flip or expected outcome naming an id the fleet does not have, as a message.

    A fault rule on a missing target never fires, so a typo (or an id from another seed) would let the
    run pass while testing nothing: it is a scenario error instead.
    """
    pairs, groups = fleet_records(sc)
    ids = [p.ReplicaPairId for p in pairs] + [g.ReplicaGroupId for g in groups]
    known = set(ids)
    clashes = sorted(rid for rid, n in Counter(ids).items() if n > 1)
    named: list[tuple[str, str]] = []  # (where, id)
    rules = [(f"method.faults[{i}]", rule) for i, rule in enumerate(sc.method.faults)]
    for i, action in enumerate(sc.method.actions):
        rules += [(f"method.actions[{i}].addFaults[{j}]", rule) for j, rule in enumerate(action.add_faults or [])]
    # a notification endpoint's rule names the robot or hook (notify), not a pair or group
    endpoints = {"robot": sc.notify.dingtalk.name if sc.notify.dingtalk else None}
    endpoints["webhook"] = sc.notify.webhook.name if sc.notify.webhook else None
    wrong_endpoint: list[str] = []
    for place, rule in rules:
        where = place + (f" ({rule.id})" if rule.id else "")
        if rule.service in endpoints:
            if rule.target is not None and rule.target != endpoints[rule.service]:
                configured = endpoints[rule.service]
                wrong_endpoint.append(
                    f"{where}: {rule.service} {rule.target} is not configured under notify"
                    + (f" (it is {configured})" if configured else "")
                )
        elif rule.target is not None:
            named.append((where, rule.target))
    named += [(f"method.actions[{i}].flip", a.flip.target) for i, a in enumerate(sc.method.actions) if a.flip]
    named += [(f"expect.targetOutcomes.{rid}", rid) for rid in sc.expect.target_outcomes]
    if isinstance(sc.expect.eligible, list):
        named += [("expect.eligible", rid) for rid in sc.expect.eligible]
    hint = ""
    if sc.fleet.generate is not None and sc.fleet.generate.pairs:
        ids = generated_ids(sc.fleet.generate)
        hint = f" (generated pairs are {ids[0]} .. {ids[-1]}, whatever the seed)"
    problems = [f"fleet: {rid} is both listed and generated (or a group member listed twice)" for rid in clashes]
    missing = [f"{where}: target {rid} is not in the fleet{hint}" for where, rid in named if rid not in known]
    from chaos.gameday.recovery_world import unknown_references  # only scenarios with a recovery need it

    return problems + wrong_endpoint + missing + unknown_references(sc, known)
