"""The game-day scenario file: a YAML document validated by pydantic (``replica-failover gameday schema``).

A scenario says, in Chaos Toolkit's terms, what the world looks like (``fleet``, ``emulator``,
``function``), what starts the run (``trigger``), what goes wrong during it (``method``) and what must
hold afterwards (``expect``, the steady-state hypothesis). Field names are camelCase in YAML, as in
the emulator's own documents; unknown keys are errors, so a typo cannot silently test nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from chaos.emulator.cms.models import DatapointSeed, SystemEventSeed
from chaos.emulator.ebs.models import GROUP_ID_RE, PAIR_ID_RE, PAIR_STATUSES, REGION_RE, FleetSpec
from chaos.emulator.faults import FaultRule

Channel = Literal["direct", "fc-sync", "fc-async", "webhook"]
REPO_ROOT = Path(__file__).resolve().parents[2]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _region(value: str) -> str:
    if not REGION_RE.match(value):
        raise ValueError(f"{value!r} is not a region id (e.g. cn-hangzhou)")
    return value


def _status(value: str) -> str:
    if value not in PAIR_STATUSES:
        raise ValueError(f"unknown status {value!r}; one of {', '.join(PAIR_STATUSES)}")
    return value


Region = Annotated[str, AfterValidator(_region)]
Status = Annotated[str, AfterValidator(_status)]

# --------------------------------------------------------------------------- fleet


class PairDef(_Model):
    """One replica pair; ``source``/``destination`` are the replication direction."""

    id: str = Field(description="pair-<id>")
    source: Region = "cn-hangzhou"
    destination: Region = "cn-shanghai"
    status: Status = "normal"
    group: str | None = Field(default=None, description="pg-<id> of a group listed under fleet.groups")
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not PAIR_ID_RE.match(v):
            raise ValueError("pair ids look like pair-<id>")
        return v


class GroupDef(_Model):
    """A replica-pair-consistent group; members not listed under ``fleet.pairs`` get its route and status."""

    id: str = Field(description="pg-<id>")
    source: Region = "cn-hangzhou"
    destination: Region = "cn-shanghai"
    status: Status = "normal"
    pairs: list[str] = Field(default_factory=list, max_length=17, description="member pair ids (at most 17)")
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not GROUP_ID_RE.match(v):
            raise ValueError("group ids look like pg-<id>")
        return v


class Fleet(_Model):
    pairs: list[PairDef] = Field(default_factory=list)
    groups: list[GroupDef] = Field(default_factory=list)
    generate: FleetSpec | None = Field(
        default=None, description="N generated pairs (the emulator's FleetSpec); its seed defaults to the run seed"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Fleet:
        ids = [p.id for p in self.pairs]
        if len(ids) != len(set(ids)):
            raise ValueError("a pair id is listed twice")
        groups = {g.id: g for g in self.groups}
        if len(groups) != len(self.groups):
            raise ValueError("a group id is listed twice")
        for p in self.pairs:
            if p.group is not None and p.group not in groups:
                raise ValueError(f"{p.id}: group {p.group} is not listed under fleet.groups")
        return self


# ------------------------------------------------------------------------- function


class FunctionConfig(_Model):
    name: str = Field(default="failover", description="function in template.yml")
    template: Path | None = Field(
        default=None,
        description="template.yml, relative to the scenario (default: gameday --template, then the checkout's)",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="overrides on top of template.yml's environment; EBS_ENDPOINT/FC_ENDPOINT are set by the runner",
    )
    timeout: float | None = Field(default=None, gt=0, le=600, description="FC timeout (s), default the template's")
    max_async_retry_attempts: int | None = Field(default=None, ge=0, le=8)
    webhook: str = Field(default="webhook", description="the HTTP-trigger function in template.yml")
    webhook_secret: str = Field(default="gameday-webhook-secret", min_length=1)
    approval_secret: str = Field(
        default="gameday-approval-secret-0123456789",
        min_length=16,
        description="FAILOVER_APPROVAL_SECRET, set when the function runs in approve mode or an event approves",
    )

    @field_validator("env")
    @classmethod
    def _no_endpoints(cls, v: dict[str, str]) -> dict[str, str]:
        for key in RUNNER_ENV:
            if key in v:
                raise ValueError(f"{key} is set by the runner to the emulator; leave it out")
        return v

    def approve_mode(self) -> bool:
        return self.env.get("FAILOVER_MODE", "").strip().lower() == "approve"


# the runner points these at the emulator (notification URLs carry its robot's token and secret)
RUNNER_ENV = (
    "EBS_ENDPOINT",
    "FC_ENDPOINT",
    "CMS_ENDPOINT",
    "FAILOVER_NOTIFY_DINGTALK_URL",
    "FAILOVER_NOTIFY_DINGTALK_SECRET",
    "FAILOVER_NOTIFY_WEBHOOK_URL",
    "FAILOVER_APPROVAL_SECRET",
)


# --------------------------------------------------------------- cloud monitor, notifications


class CloudMonitor(_Model):
    """CloudMonitor's evidence before the trigger: system-event history and metric datapoints.

    A system event's ``offsetSeconds`` is relative to the wall clock when the runner stores it (the
    function computes its evidence window from the wall clock), so ``-120`` is two minutes before the
    trigger; a datapoint's is relative to the emulator's clock (``DescribeMetricLast``'s default window).
    """

    system_events: list[SystemEventSeed] = Field(default_factory=list, max_length=10_000)
    datapoints: list[DatapointSeed] = Field(default_factory=list, max_length=10_000)


class RobotDef(_Model):
    """A DingTalk custom robot in the emulator; the function's FAILOVER_NOTIFY_DINGTALK_URL/_SECRET point at it.

    Its access token and secret are drawn per run: they are what ``noSecretInNotifications`` looks for."""

    name: str = Field(default="oncall", min_length=1, max_length=128)
    signed: bool = Field(default=True, description="the robot has a secret: every message must be signed")
    keywords: list[str] = Field(default_factory=list, max_length=10)


class HookDef(_Model):
    """A JSON webhook receiver (``/hooks/<name>``); FAILOVER_NOTIFY_WEBHOOK_URL points at it."""

    name: str = Field(default="ops", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class Notify(_Model):
    dingtalk: RobotDef | None = None
    webhook: HookDef | None = None

    def channels(self) -> list[str]:
        return [c for c, v in (("robot", self.dingtalk), ("webhook", self.webhook)) if v is not None]


# -------------------------------------------------------------------------- trigger


class ApproveStep(_Model):
    """Approve the plan of the last hold message, as on-call would: run ``replica-failover approve``'s code
    with the command the message printed and deliver the manual event it prints.

    ``variant``: ``valid``; ``forged`` (signed with another secret); ``expired`` (signed as if
    ``ttl`` + 60 s ago); ``replayed`` (a valid approval carried by an event for ``replayIncident``,
    another incident with its own plan)."""

    approver: str = Field(default="gameday-oncall", min_length=1, max_length=128)
    variant: Literal["valid", "forged", "expired", "replayed"] = "valid"
    ttl: int = Field(default=900, ge=1, le=3600, description="seconds the approval is valid (at most an hour)")
    replay_incident: str = Field(default="INC-GAMEDAY-REPLAY", min_length=1, max_length=64)
    reason: str = Field(default="game day: approved failover", min_length=1, max_length=512)


class EventDef(_Model):
    """One trigger event: a file (``file: events/xyz.json``) or inline (``body`` JSON, or ``raw`` text)."""

    name: str | None = None
    file: Path | None = None
    body: Any = None
    raw: str | None = None
    patch: dict[str, Any] = Field(default_factory=dict, description="shallow merge into a JSON object event")
    channel: Channel | None = Field(default=None, description="default: trigger.channel")
    copies: int = Field(default=1, ge=1, le=64, description="concurrent copies delivered at once")
    repeat: int = Field(default=1, ge=1, le=20, description="sequential deliveries of the copies (re-notifications)")
    token: str | None = Field(default=None, description="webhook only: token presented (default: the right one)")
    content_type: str | None = Field(default=None, description="webhook only; default from the body")
    expect_status: list[str] | None = Field(
        default=None, description="allowed final status of these deliveries (default: expect.resultStatus)"
    )
    max_write_calls: int | None = Field(
        default=None, ge=0, description="ebs write calls made while these deliveries ran (checked as event-writes)"
    )
    result_fields: dict[str, list[Any]] = Field(
        default_factory=dict, description="dotted path in each of these deliveries' results -> allowed values"
    )
    approve: ApproveStep | None = Field(
        default=None, description="an approval of the plan the last hold message offered, as a manual event"
    )

    @model_validator(mode="after")
    def _one_source(self) -> EventDef:
        given = [
            k
            for k, v in (("file", self.file), ("body", self.body), ("raw", self.raw), ("approve", self.approve))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"an event needs exactly one of file, body, raw, approve (got {', '.join(given) or 'none'})"
            )
        if self.patch and self.raw is not None:
            raise ValueError("patch applies to JSON events, not raw text")
        if self.approve is not None and (self.copies > 1 or self.repeat > 1):
            raise ValueError("an approve step is delivered once (copies and repeat must be 1)")
        return self

    def label(self, index: int) -> str:
        if self.name:
            return self.name
        if self.approve is not None:
            return f"approve ({self.approve.variant})"
        return self.file.name if self.file else f"event-{index}"

    def payload(self, base: Path, project: Path = REPO_ROOT) -> bytes:
        """The bytes delivered; files resolve against the scenario's directory, then ``project`` (the
        template's directory, where the project keeps events/; the repository when run from a checkout).
        An approve step has none yet: the runner builds it from the hold message just before delivery."""
        if self.approve is not None:
            return b""
        if self.raw is not None:
            return self.raw.encode("utf-8")
        if self.body is not None:
            doc: Any = self.body
        else:
            assert self.file is not None
            path = _resolve(self.file, base, project)
            text = path.read_text(encoding="utf-8")
            if not self.patch:
                return text.encode("utf-8")  # byte for byte: form bodies and odd JSON stay as written
            doc = json.loads(text)
        if self.patch:
            if not isinstance(doc, dict):
                raise ValueError(f"{self.label(0)}: patch needs a JSON object event")
            doc = {**doc, **self.patch}
        return json.dumps(doc).encode("utf-8")


def _resolve(path: Path, base: Path, project: Path) -> Path:
    for candidate in (path, base / path, project / path):
        if candidate.is_file():
            return candidate
    raise ScenarioError(f"event file {path} not found (looked in {base} and {project})")


class Trigger(_Model):
    channel: Channel = Field(
        default="direct",
        description="direct: in-process handler; fc-sync/fc-async: aliyun-fc2 against the emulator's FC API; "
        "webhook: the HTTP-trigger function, which async-invokes the failover function",
    )
    events: list[EventDef] = Field(min_length=1)


# --------------------------------------------------------------------------- method


class When(_Model):
    """When an action runs: after N matching ebs requests, before an event step, or at a wall time."""

    requests: int | None = Field(default=None, ge=1, description="after the Nth matching ebs request is answered")
    action: str | None = Field(default=None, description="count only requests for this ebs action")
    before_event: int | None = Field(default=None, ge=0, description="before trigger.events[i] is delivered")
    at_seconds: float | None = Field(default=None, ge=0, le=60, description="wall seconds after the trigger starts")

    @model_validator(mode="after")
    def _exactly_one(self) -> When:
        given = [v for v in (self.requests, self.before_event, self.at_seconds) if v is not None]
        if len(given) != 1:
            raise ValueError("when needs exactly one of requests, beforeEvent, atSeconds")
        if self.action is not None and self.requests is None:
            raise ValueError("action only qualifies requests")
        return self


class Flip(_Model):
    target: str
    status: Status
    complete_to: Status | None = None

    @property
    def kind(self) -> Literal["pair", "group"]:
        return "group" if self.target.startswith("pg-") else "pair"


class Action(_Model):
    when: When
    flip: Flip | None = Field(default=None, description="force a pair/group state (control plane, not an API effect)")
    add_faults: list[FaultRule] | None = None
    clear_faults: bool = False
    advance_clock: float | None = Field(default=None, gt=0, le=86_400, description="emulator seconds")
    add_system_events: list[SystemEventSeed] | None = Field(
        default=None, max_length=10_000, description="CloudMonitor system events that happen now (offsets: wall clock)"
    )
    add_datapoints: list[DatapointSeed] | None = Field(default=None, max_length=10_000)
    release: Release | None = Field(default=None, description="recovery world: let held instances start")

    @model_validator(mode="after")
    def _does_something(self) -> Action:
        if not (
            self.flip
            or self.add_faults
            or self.clear_faults
            or self.advance_clock
            or self.add_system_events
            or self.add_datapoints
            or self.release
        ):
            raise ValueError(
                "an action needs flip, addFaults, clearFaults, advanceClock, addSystemEvents, addDatapoints or release"
            )
        return self


class Method(_Model):
    faults: list[FaultRule] = Field(default_factory=list, description="installed before the trigger, in order")
    ram_deny: list[str] = Field(
        default_factory=list, description="ebs actions the function's role may not call (403 Forbidden.Action)"
    )
    actions: list[Action] = Field(default_factory=list)

    @field_validator("ram_deny")
    @classmethod
    def _actions(cls, v: list[str]) -> list[str]:
        from chaos.emulator.ebs.urls import REQUIRED

        for item in v:
            if item.removeprefix("ebs:") not in REQUIRED:
                raise ValueError(f"{item!r} is not an ebs action")
        return v


# ---------------------------------------------------------------------- expectations


class NotificationsExpect(_Model):
    """Recorded notifications: ``kinds`` counts per endpoint (each of ``endpoints`` must have accepted exactly
    that many messages of the kind: hold, act, result, failure); ``contains``: each text appears in some
    message; ``allAccepted``: every message was accepted (signature, keywords, rate), or with false,
    some was refused."""

    kinds: dict[Literal["hold", "act", "result", "failure"], int] = Field(default_factory=dict)
    endpoints: list[Literal["robot", "webhook"]] | None = Field(
        default=None, description="the endpoints kinds applies to (default: every configured one)"
    )
    contains: list[str] = Field(default_factory=list)
    all_accepted: bool | None = None


class Expect(_Model):
    """The steady-state hypothesis after the run; ``None`` switches a check off."""

    eligible: Literal["auto", "none"] | list[str] = Field(
        default="auto",
        description="targets that must fail over: auto = computed from the fleet (route, state, groups, flips)",
    )
    all_eligible_failed_over: bool = True
    exactly_one_effect_per_target: bool = True
    no_ineligible_touched: bool = True
    no_primary_calls: bool = True
    max_duration_seconds: float | None = Field(default=10.0, gt=0)
    max_api_calls: int | None = Field(default=None, ge=0)
    max_write_calls: int | None = Field(default=None, ge=0)
    max_retries: int | None = Field(default=None, ge=0)
    min_faults_fired: int | None = Field(default=None, ge=0, description="the chaos actually happened")
    result_status: list[str] | None = Field(
        default_factory=lambda: ["completed"], description="allowed status of each invocation's final result"
    )
    result_ok: bool | None = None
    result_reason_contains: str | None = None
    target_outcomes: dict[str, list[str]] = Field(default_factory=dict, description="id -> allowed outcomes")
    eligible_outcomes: list[str] | None = Field(
        default=None, description="every eligible target appears in the final result with one of these outcomes"
    )
    failed_reason_contains: str | None = Field(
        default=None, description="every target reported failed names this (e.g. the RAM action)"
    )
    min_fc_attempts: int | None = Field(default=None, ge=1, description="FC ran some invocation at least N times")
    max_async_failures: int | None = Field(default=0, ge=0)
    max_primary_probes: int | None = Field(
        default=None,
        ge=0,
        description="read-only probes of the primary (DescribeDiskReplicaPairs, Site=production) allowed; "
        "null: any number (they gather evidence, they change nothing)",
    )
    result_fields: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="dotted path in the last result (e.g. confirmation.decision.act) -> allowed values",
    )
    notifications: NotificationsExpect | None = Field(
        default=None, description="what the notification endpoints received (needs scenario notify)"
    )
    no_secret_leaked: bool = Field(
        default=True,
        description="no secret of the run (robot token/secret, approval and webhook secrets, keys) appears in a "
        "notification, a result or a function log line",
    )
    result_notification_failures: int | None = Field(
        default=None, ge=0, description="at least N notifications recorded as failed in the results"
    )
    max_evidence_seconds: float | None = Field(
        default=None, gt=0, description="every result's evidence gathering (confirmation.gatheringMs) took at most"
    )
    recovery: RecoveryExpect = Field(default_factory=lambda: RecoveryExpect())  # noqa: PLW0108 - defined below
    drills: DrillExpect | None = Field(
        default=None, description="drill game days: what the drill events must show in the ledger and results"
    )
    reverse: ReverseExpect | None = Field(
        default=None, description="undo/reprotect/failback: effects per step and tokens, from the ledger"
    )


class Scenario(_Model):
    title: str
    description: str = ""
    negative: bool = Field(default=False, description="asserts what must not happen")
    seed: int = 0
    primary_region: Region = "cn-hangzhou"
    dr_region: Region = "cn-shanghai"
    emulator: dict[str, Any] = Field(default_factory=dict, description="EmulatorConfig patch (camelCase)")
    fleet: Fleet = Field(default_factory=Fleet)
    function: FunctionConfig = Field(default_factory=FunctionConfig)
    trigger: Trigger
    method: Method = Field(default_factory=Method)
    expect: Expect = Field(default_factory=Expect)
    cloud_monitor: CloudMonitor = Field(default_factory=CloudMonitor)
    notify: Notify = Field(default_factory=Notify)
    recovery: Recovery | None = Field(
        default=None, description="standby instances, DNS records and the recovery plan file: recover the service"
    )
    drills: DrillWorld | None = Field(default=None, description="the emulator's drill fault knobs, set before the run")

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        if self.primary_region == self.dr_region:
            raise ValueError("primaryRegion and drRegion must differ")
        if self.expect.notifications is not None and not self.notify.channels():
            raise ValueError("expect.notifications needs notify.dingtalk or notify.webhook")
        if self.approvals() and not self.notify.channels():
            raise ValueError("an approve step reads the hold message: configure notify.dingtalk or notify.webhook")
        for action in self.method.actions:
            n = action.when.before_event
            if n is not None and n >= len(self.trigger.events):
                raise ValueError(f"beforeEvent {n} but there are {len(self.trigger.events)} events")
        return self

    @model_validator(mode="after")
    def _drill_knob_targets(self) -> Scenario:
        known = {p.id for p in self.fleet.pairs} | {g.id for g in self.fleet.groups}
        known |= {m for g in self.fleet.groups for m in g.pairs}
        for knob in self.drills.knobs if self.drills else []:
            if knob.target not in known:
                raise ValueError(f"drills.knobs: {knob.target} is not listed under fleet")
        return self

    def channels(self) -> set[Channel]:
        return {e.channel or self.trigger.channel for e in self.trigger.events}

    def approvals(self) -> bool:
        return any(e.approve is not None for e in self.trigger.events)


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not validate; the message is for humans."""


def load_scenario(path: Path) -> Scenario:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path}: a scenario is a YAML mapping")
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as exc:
        raise ScenarioError(f"{path}: invalid scenario\n{format_errors(exc)}") from None
    from chaos.gameday.world import unknown_targets  # the fleet is built there; it imports this module

    problems = unknown_targets(scenario)
    if problems:
        raise ScenarioError(f"{path}: invalid scenario\n" + "\n".join(f"  {p}" for p in problems))
    return scenario


def format_errors(exc: ValidationError) -> str:
    lines = []
    for e in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)


def json_schema() -> dict[str, Any]:
    return Scenario.model_json_schema(by_alias=True)


# ------------------------------------------------------------------------- recovery
# The service behind the disks: standby ECS instances in the DR region, DNS records, and the recovery
# plan file shipped with the function. Judged by :mod:`chaos.gameday.recovery_checks`.

INSTANCE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class StandbyFleet(_Model):
    """A Stopped standby per group and loose pair replicating into the DR region, tagged
    ``replica-failover:standby-for=<id>`` (the emulator's standby generator)."""

    prefix: str = Field(default="i-sb-", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
    exclude: list[str] = Field(default_factory=list, description="targets left without a generated standby")


class InstanceDef(_Model):
    """An ECS instance seeded in the DR region (a standby the generator does not make, or a decoy)."""

    id: str = Field(pattern=INSTANCE_ID)
    zone: str | None = Field(default=None, description="default: <drRegion>-b, where pairs' secondary disks live")
    status: Literal["Stopped", "Running"] = "Stopped"
    standby_for: str | None = Field(default=None, description="the replica-failover:standby-for tag")


class RecordDef(_Model):
    """An alidns record, seeded at its production value and listed in the plan with its DR value."""

    id: str = Field(pattern=r"^[0-9]{1,32}$", description="RecordId")
    domain: str = "example.com"
    rr: str = Field(min_length=1)
    type: Literal["A", "AAAA", "CNAME", "TXT"] = "A"
    value: str = Field(min_length=1, description="the production value it starts with")
    dr_value: str = Field(min_length=1, description="the DR value the recovery switches it to")
    after: list[str] = Field(default_factory=list, description="instances that must run before the switch")
    in_plan: bool = Field(default=True, description="false: seeded in alidns but not listed in the plan")


class PlanStandby(_Model):
    instance_id: str = Field(pattern=INSTANCE_ID)
    takes: list[str] = Field(min_length=1)


class Recovery(_Model):
    standby: StandbyFleet | None = Field(default_factory=StandbyFleet)
    instances: list[InstanceDef] = Field(default_factory=list)
    records: list[RecordDef] = Field(default_factory=list)
    plan_standbys: list[PlanStandby] = Field(
        default_factory=list, description="standbys declared in the plan file (the file form) rather than by tag"
    )
    stuck: list[str] = Field(default_factory=list, description="instances held in Starting until released")

    @model_validator(mode="after")
    def _unique(self) -> Recovery:
        for what, ids in (("instance", [i.id for i in self.instances]), ("record", [r.id for r in self.records])):
            if len(ids) != len(set(ids)):
                raise ValueError(f"{what} ids must be unique: one is listed twice")
        return self


class Release(_Model):
    """Control-plane actions on the recovery world during the run (not API effects)."""

    unstick: list[str] = Field(default_factory=list, description="instances held in Starting that may now run")


class RecoveryExpect(_Model):
    """What the recovery must show in the ledger; ``None`` switches a check off."""

    one_step_effect_each: bool = Field(
        default=True, description="one AttachDisk per disk, one StartInstances per instance, one update per record"
    )
    order_respected: bool = Field(
        default=True, description="attach after the pair's failover, start after its disks, switch after its instances"
    )
    service_restored: bool | None = Field(
        default=True, description="true: every planned record reads its DR value and its instances run; null: off"
    )
    restored_records: list[str] | None = Field(
        default=None, description="record ids that must end at their DR value (default: every record in the plan)"
    )
    untouched_records: list[str] = Field(default_factory=list, description="record ids that must keep their value")
    unattached_disks_of: list[str] = Field(
        default_factory=list, description="targets whose secondary disks must stay unattached (a reported standby)"
    )
    max_rto_seconds: float | None = Field(default=None, gt=0, description="RTO bound: first request to last switch")
    findings: dict[str, list[str]] = Field(
        default_factory=dict, description="target -> review codes the function must report (standby-missing, ...)"
    )


# --------------------------------------------------------------------------- drills
# Non-disruptive drills started by manual drill events. Judged by :mod:`chaos.gameday.drill_checks`.


class DrillKnob(_Model):
    """The emulator's drill faults on one pair or group: its next drills fail to execute or to clear."""

    target: str = Field(min_length=1, max_length=128)
    execute_failures: int = Field(default=0, ge=0, le=1000)
    clear_failures: int = Field(default=0, ge=0, le=1000, description="clears that end clear_failed")


class DrillWorld(_Model):
    knobs: list[DrillKnob] = Field(default_factory=list, max_length=1000)


class DrillExpect(_Model):
    """What the drills must show; judged from the emulator's ledger (and the results for RPO)."""

    targets: list[str] = Field(min_length=1, description="pairs/groups each drilled: >= 1 Start*Drill effect")
    no_failover: bool = Field(default=True, description="no failover or reprotect request at all")
    one_drill_per_target_per_run: bool = Field(
        default=True, description="per target, one Start*Drill effect per run (ClientToken) and no more than runs"
    )
    all_cleared: bool = Field(default=True, description="every drill started reads cleared in the ledger at the end")
    rpo_missed: list[str] | None = Field(
        default=None, description="exactly these targets are reported over the RPO objective (null: not judged)"
    )
    leftovers_cleared: list[str] = Field(
        default_factory=list, description="targets whose drill, left by a killed run, a later run found and cleared"
    )
    clear_retried: list[str] = Field(
        default_factory=list, description="targets whose drill needed more than one Clear call and was cleared"
    )
    min_runs: int | None = Field(default=None, ge=1, description="at least this many drill runs (ClientToken runs)")
class ReverseExpect(_Model):
    """What undo / reprotect / failback must show in the ledger, per eligible target."""

    steps_per_target: dict[Literal["Failover", "Reprotect", "Start", "Stop"], int] = Field(
        default_factory=dict,
        description="verb -> exact number of effects each eligible target shows (pair or group call)",
    )
    final_status: list[str] | None = Field(default=None, description="every eligible target ends in one of these")
    one_effect_per_token: bool = Field(default=True, description="no ClientToken is behind two effects")
    new_failover_token: bool = Field(
        default=False,
        description="each eligible target's failover chain (rf2-) shows two effects: round 0, then a new round",
    )
