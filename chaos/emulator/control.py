"""The ``/_emulator/`` control plane: seed, inspect, inject faults, move the clock, configure.

JSON in, JSON out, every body validated by a pydantic model (``control_models.py``); who may call
it is decided in ``control_guard.py``; documented in docs/emulator.md. Errors answer
``{"error": <what>, "details": [...]}`` with 400 (bad document), 403 (Host), 404, 405 or 415
(not JSON). It reaches services only through their typed methods (``ebs.seed_pairs``,
``ebs.flip``, ``fc.register``…).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from chaos.emulator.clock import Clock
from chaos.emulator.cms.models import SeedDatapoints, SeedSystemEvents
from chaos.emulator.cms.service import CmsService
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.control_guard import check_content_type, check_host
from chaos.emulator.control_models import (
    ClockBody,
    ControlError,
    FaultsBody,
    FlipBody,
    HoldBody,
    ResetBody,
    WaitBody,
    errors,
    parse,
)
from chaos.emulator.dns.models import SeedRecords
from chaos.emulator.dns.service import DnsService
from chaos.emulator.ebs.backend import Kind
from chaos.emulator.ebs.drills import DrillKnobsBody
from chaos.emulator.ebs.models import FleetSpec, SeedGroups, SeedPairs
from chaos.emulator.ebs.service import EbsService
from chaos.emulator.ecs.fleet import StandbySpec
from chaos.emulator.ecs.models import SeedDisks, SeedInstances
from chaos.emulator.ecs.service import EcsService
from chaos.emulator.faults import FaultEngine
from chaos.emulator.fc.registry import FunctionSpec
from chaos.emulator.fc.service import FcEmulator
from chaos.emulator.ledger import Ledger
from chaos.emulator.notify.models import SeedRobots
from chaos.emulator.notify.service import NotifyService

CONTROL_PREFIX = "/_emulator"


class Controlled(Protocol):
    """What the control plane drives (the :class:`chaos.emulator.app.Emulator`)."""

    region: str
    clock: Clock
    ledger: Ledger
    faults: FaultEngine
    ebs: EbsService
    fc: FcEmulator
    cms: CmsService
    notify: NotifyService
    ecs: EcsService
    dns: DnsService

    @property
    def service_names(self) -> list[str]: ...

    def config(self) -> EmulatorConfig: ...

    def update_config(self, patch: dict[str, Any]) -> EmulatorConfig: ...

    def reset(self, *, config: bool = False) -> None: ...

    def advance(self, seconds: float) -> float: ...

    def wait_quiet(self, timeout: float) -> bool: ...


# (path, endpoint, methods, what it does): the URL map and the index GET /_emulator/ answers
ENDPOINTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("/", "index", ("GET",), "this index"),
    ("/health", "health", ("GET",), "readiness: ok, services, region, clock, ledger counts"),
    ("/reset", "reset", ("POST",), "clear state, ledger, tokens, faults; {config: true} also the config"),
    ("/pairs", "pairs", ("GET", "POST"), "list pairs; seed {pairs: [PairRecord]}"),
    ("/pairs/<rid>", "pair", ("GET", "PATCH"), "one pair; flip {Status, completeTo?}"),
    ("/groups", "groups", ("GET", "POST"), "list groups; seed {groups: [GroupRecord]}"),
    ("/groups/<rid>", "group", ("GET", "PATCH"), "one group; flip {Status, completeTo?}"),
    ("/fleet", "fleet", ("POST",), "generate a fleet from a FleetSpec"),
    ("/ledger", "ledger", ("GET", "DELETE"), "requests, effects, transitions (?since=N); clear"),
    ("/faults", "faults", ("GET", "POST", "PATCH", "DELETE"), "list, replace, append, remove (?id=) fault rules"),
    ("/clock", "clock", ("GET", "POST"), "read; {advance: seconds, freeze: bool}"),
    ("/config", "config", ("GET", "POST"), "read (no secrets); merge a partial EmulatorConfig"),
    ("/functions", "functions", ("GET", "POST"), "list FC functions; register a FunctionSpec"),
    ("/fc/invocations", "fc_invocations", ("GET",), "FC invocation records and async failures"),
    ("/fc/wait", "fc_wait", ("POST",), "wait until no FC async work is queued or running {timeout}"),
    ("/cms/system-events", "cms_events", ("GET", "POST"), "CloudMonitor system events; store {events: [...]}"),
    ("/cms/metrics", "cms_metrics", ("GET", "POST"), "CloudMonitor datapoints; store {datapoints: [...]}"),
    ("/robots", "robots", ("GET", "POST"), "DingTalk robots (no tokens/secrets); add {robots: [RobotSpec]}"),
    ("/notifications", "notifications", ("GET", "DELETE"), "robot and webhook requests received (?since=N); clear"),
    ("/quiesce", "quiesce", ("POST",), "wait until no ebs, ecs or alidns request is in flight {timeout}"),
    ("/instances", "instances", ("GET", "POST"), "list ECS instances; seed {instances: [InstanceRecord]}"),
    ("/instances/<rid>", "instance", ("GET", "PATCH"), "one ECS instance; hold in Starting {stuck: bool}"),
    ("/disks", "disks", ("GET", "POST"), "list ECS disks; seed {disks: [DiskRecord]}"),
    ("/disks/<rid>", "disk", ("GET",), "one ECS disk"),
    ("/standby", "standby", ("POST",), "a Stopped standby instance per group and loose pair {StandbySpec}"),
    ("/dns/records", "dns_records", ("GET", "POST"), "list alidns records; seed {records: [DomainRecord]}"),
    ("/dns/records/<rid>", "dns_record", ("GET",), "one alidns record"),
    ("/drills", "drills", ("GET", "POST"), "ebs drills not cleared; knobs {target, executeFailures, clearFailures}"),
)

URLS = Map(
    [Rule(CONTROL_PREFIX, endpoint="index", methods=["GET"])]
    + [Rule(CONTROL_PREFIX + path, endpoint=name, methods=list(methods)) for path, name, methods, _ in ENDPOINTS]
)


class ControlPlane:
    def __init__(self, emulator: Controlled) -> None:
        self.em = emulator

    def dispatch(self, request: Request) -> Response:
        try:
            check_host(request)
            endpoint, args = URLS.bind_to_environ(request.environ).match()
            check_content_type(request)
            result = getattr(self, f"on_{endpoint}")(request, **args)
            return _reply(200, result)
        except ControlError as exc:
            return _reply(exc.status, {"error": exc.error, "details": exc.details})
        except NotFound:
            return _reply(404, {"error": f"no control endpoint {request.method} {request.path}", "details": []})
        except HTTPException as exc:
            return _reply(exc.code or 400, {"error": exc.description or exc.name, "details": []})

    @staticmethod
    def _json(request: Request, default: Any = None) -> Any:
        raw = request.get_data(cache=True)
        if not raw.strip():
            if default is None:
                raise ControlError(400, "a JSON body is required")
            return default
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ControlError(400, f"body is not JSON: {exc}") from None

    # ---------------------------------------------------------------- misc
    def on_index(self, request: Request) -> dict[str, Any]:
        return {
            "endpoints": [
                {"path": CONTROL_PREFIX + path, "methods": list(methods), "does": does}
                for path, _, methods, does in ENDPOINTS
            ],
            "services": self.em.service_names,
            "writes": "Content-Type: application/json; Host must be a loopback name",
        }

    def on_health(self, request: Request) -> dict[str, Any]:
        return {
            "ok": True,
            "services": self.em.service_names,
            "region": self.em.region,
            "now": self.em.clock.now(),
            **self.em.ledger.counts(),
        }

    def on_reset(self, request: Request) -> dict[str, Any]:
        body: ResetBody = parse(ResetBody, self._json(request, {}))
        self.em.reset(config=body.config)
        return {"reset": True}

    # --------------------------------------------------------------- state
    def on_pairs(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            seed: SeedPairs = parse(SeedPairs, self._json(request))
            try:
                return {"seeded": self.em.ebs.seed_pairs(seed.pairs)}
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
        return {"pairs": self.em.ebs.pairs()}

    def on_groups(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            seed: SeedGroups = parse(SeedGroups, self._json(request))
            try:
                return {"seeded": self.em.ebs.seed_groups(seed.groups)}
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
        return {"groups": self.em.ebs.groups()}

    def on_pair(self, request: Request, rid: str) -> dict[str, Any]:
        return self._one(request, "pair", rid)

    def on_group(self, request: Request, rid: str) -> dict[str, Any]:
        return self._one(request, "group", rid)

    def _one(self, request: Request, kind: str, rid: str) -> dict[str, Any]:
        record_kind: Kind = "pair" if kind == "pair" else "group"
        if request.method == "PATCH":
            body: FlipBody = parse(FlipBody, self._json(request))
            try:
                return self.em.ebs.flip(record_kind, rid, body.Status, complete_to=body.complete_to)
            except KeyError:
                raise ControlError(404, f"no {kind} {rid}") from None
        doc = self.em.ebs.record(record_kind, rid)
        if doc is None:
            raise ControlError(404, f"no {kind} {rid}")
        return doc

    def on_fleet(self, request: Request) -> dict[str, Any]:
        spec: FleetSpec = parse(FleetSpec, self._json(request))
        try:
            return self.em.ebs.generate(spec)
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None

    # -------------------------------------------------------------- ledger
    def on_ledger(self, request: Request) -> dict[str, Any]:
        if request.method == "DELETE":
            self.em.ledger.clear()
            return {"cleared": True}
        try:
            since = int(request.args.get("since", "0"))
        except ValueError:
            raise ControlError(400, "since must be an integer") from None
        return self.em.ledger.snapshot(since=max(0, since))

    # -------------------------------------------------------------- faults
    def on_faults(self, request: Request) -> dict[str, Any]:
        faults, now, seed = self.em.faults, self.em.clock.now(), self.em.config().seed
        if request.method in ("POST", "PATCH"):
            data = self._json(request)
            body: FaultsBody = parse(FaultsBody, {"rules": data} if isinstance(data, list) else data)
            if request.method == "POST":
                faults.set(body.rules, now, seed)
            else:
                faults.add(body.rules, now, seed)
        elif request.method == "DELETE":
            removed = faults.remove(request.args.get("id"))
            return {"removed": removed, "rules": faults.rules()}
        return {"rules": faults.rules()}

    # --------------------------------------------------------------- clock
    def on_clock(self, request: Request) -> dict[str, Any]:
        clock = self.em.clock
        if request.method == "POST":
            body: ClockBody = parse(ClockBody, self._json(request))
            if body.freeze is not None:
                clock.freeze(body.freeze)
            if body.advance:
                self.em.advance(body.advance)
        return {"now": clock.now(), "frozen": clock.frozen}

    # -------------------------------------------------------------- config
    def on_config(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            patch = self._json(request)
            if not isinstance(patch, dict):
                raise ControlError(400, "config must be a JSON object")
            try:
                self.em.update_config(patch)
            except ValidationError as exc:
                raise ControlError(400, "invalid EmulatorConfig document", errors(exc)) from None
        return self.em.config().model_dump(by_alias=True, exclude={"credentials"}) | {
            # secrets never leave through the control plane
            "credentials": [
                c.model_dump(by_alias=True, exclude={"access_key_secret", "security_token"})
                for c in self.em.config().credentials
            ]
        }

    # ------------------------------------------------------------------ FC
    def on_functions(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            spec: FunctionSpec = parse(FunctionSpec, self._json(request))
            self.em.fc.register(spec)
        return {"functions": [f.model_dump(by_alias=True) for f in self.em.fc.functions()]}

    def on_fc_invocations(self, request: Request) -> dict[str, Any]:
        return {"invocations": self.em.fc.invocations(), "asyncFailures": self.em.fc.async_failures()}

    def on_fc_wait(self, request: Request) -> dict[str, Any]:
        body: WaitBody = parse(WaitBody, self._json(request, {}))
        return {"idle": self.em.fc.wait_idle(body.timeout)}

    def on_quiesce(self, request: Request) -> dict[str, Any]:
        body: WaitBody = parse(WaitBody, self._json(request, {}))
        return {"quiet": self.em.wait_quiet(body.timeout)}

    # ----------------------------------------------------- CloudMonitor, notifications
    def on_cms_events(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body: SeedSystemEvents = parse(SeedSystemEvents, self._json(request))
            return {"stored": self.em.cms.add_events(body.events)}
        return {"systemEvents": self.em.cms.events(), "now": self.em.clock.now()}

    def on_cms_metrics(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body: SeedDatapoints = parse(SeedDatapoints, self._json(request))
            return {"stored": self.em.cms.add_datapoints(body.datapoints)}
        return {"datapoints": self.em.cms.datapoints(), "now": self.em.clock.now()}

    def on_robots(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body: SeedRobots = parse(SeedRobots, self._json(request))
            return {"configured": self.em.notify.configure_robots(body.robots), "robots": self.em.notify.robots()}
        return {"robots": self.em.notify.robots()}

    def on_notifications(self, request: Request) -> dict[str, Any]:
        if request.method == "DELETE":
            self.em.notify.clear_notifications()
            return {"cleared": True}
        try:
            since = int(request.args.get("since", "0"))
        except ValueError:
            raise ControlError(400, "since must be an integer") from None
        return {"notifications": self.em.notify.notifications(max(0, since))}
    # ----------------------------------------------------------- ecs, dns
    def on_instances(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            seed: SeedInstances = parse(SeedInstances, self._json(request))
            return {"seeded": self.em.ecs.seed_instances(seed.instances)}
        return {"instances": self.em.ecs.instances()}

    def on_instance(self, request: Request, rid: str) -> dict[str, Any]:
        if request.method == "PATCH":
            body: HoldBody = parse(HoldBody, self._json(request))
            try:
                return self.em.ecs.hold_starting(rid, body.stuck)
            except KeyError:
                raise ControlError(404, f"no instance {rid}") from None
        return _found(self.em.ecs.instance(rid), f"no instance {rid}")

    def on_disks(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            seed: SeedDisks = parse(SeedDisks, self._json(request))
            try:
                return {"seeded": self.em.ecs.seed_disks(seed.disks)}
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
        return {"disks": self.em.ecs.disks()}

    def on_disk(self, request: Request, rid: str) -> dict[str, Any]:
        return _found(self.em.ecs.disk(rid), f"no disk {rid}")

    def on_standby(self, request: Request) -> dict[str, Any]:
        spec: StandbySpec = parse(StandbySpec, self._json(request, {}))
        return {"seeded": self.em.ecs.seed_standby(self.em.ebs.snapshot(), spec)}

    def on_dns_records(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            seed: SeedRecords = parse(SeedRecords, self._json(request))
            return {"seeded": self.em.dns.seed_records(seed.records)}
        return {"records": self.em.dns.records()}

    def on_dns_record(self, request: Request, rid: str) -> dict[str, Any]:
        return _found(self.em.dns.record(rid), f"no record {rid}")

    def on_drills(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body: DrillKnobsBody = parse(DrillKnobsBody, self._json(request))
            self.em.ebs.set_drill_knobs(
                body.target, execute_failures=body.execute_failures, clear_failures=body.clear_failures
            )
            return {"knobs": body.model_dump(by_alias=True)}
        return {"drills": self.em.ebs.drills()}


def _found(doc: dict[str, Any] | None, missing: str) -> dict[str, Any]:
    if doc is None:
        raise ControlError(404, missing)
    return doc


def _reply(status: int, body: Any) -> Response:
    return Response(json.dumps(body, default=str), status=status, content_type="application/json")
