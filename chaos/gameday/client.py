"""How the runner drives an emulator: in-process (:class:`LocalControl`) or over ``/_emulator`` (:class:`HttpControl`).

Both offer the same small surface, so a scenario runs the same against the embedded emulator and
against one started elsewhere (``--endpoint``). Request-count triggers (a flip after the Nth call)
are exact in-process: they run inside the ledger append of request N, before its answer leaves.
Over HTTP they poll the ledger, so they land a few milliseconds after request N.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from chaos.emulator.app import Emulator
from chaos.emulator.cms.models import DatapointSeed, SystemEventSeed
from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord
from chaos.emulator.faults import FaultRule
from chaos.emulator.fc import FunctionSpec
from chaos.emulator.notify.models import RobotSpec

HTTP_TIMEOUT = 30.0
POLL_SECONDS = 0.005  # HTTP triggers only: how often the ledger is read while waiting for request N


@dataclass
class RequestTrigger:
    """Run ``fire`` once, right after the ``count``th ebs request (of ``action``, if given) is recorded."""

    count: int
    action: str | None
    fire: Callable[[], None]
    seen: int = 0
    done: bool = False


class EmulatorControl(Protocol):
    url: str  # http://host:port, what the function's EBS_ENDPOINT/FC_ENDPOINT point at
    in_process: bool

    def reset(self) -> None: ...
    def configure(self, patch: dict[str, Any]) -> None: ...
    def seed(self, pairs: list[PairRecord], groups: list[GroupRecord]) -> None: ...
    def generate(self, spec: FleetSpec) -> None: ...
    def set_faults(self, rules: list[FaultRule]) -> None: ...
    def add_faults(self, rules: list[FaultRule]) -> None: ...
    def clear_faults(self) -> None: ...
    def fault_rules(self) -> list[dict[str, Any]]: ...
    def clear_ledger(self) -> None: ...
    def flip(self, kind: str, rid: str, status: str, complete_to: str | None) -> None: ...
    def advance(self, seconds: float) -> None: ...
    def pairs(self) -> list[dict[str, Any]]: ...
    def groups(self) -> list[dict[str, Any]]: ...
    def ledger(self) -> dict[str, list[dict[str, Any]]]: ...
    def register(self, spec: FunctionSpec) -> None: ...
    def fc_invocations(self) -> list[dict[str, Any]]: ...
    def fc_async_failures(self) -> list[dict[str, Any]]: ...
    def fc_wait_idle(self, timeout: float) -> bool: ...
    def add_system_events(self, events: list[SystemEventSeed]) -> None: ...
    def add_datapoints(self, datapoints: list[DatapointSeed]) -> None: ...
    def configure_robots(self, robots: list[RobotSpec]) -> None: ...
    def notifications(self) -> list[dict[str, Any]]: ...

    def wait_quiet(self, timeout: float) -> bool: ...
    def on_request(self, trigger: RequestTrigger) -> None: ...
    def close(self) -> None: ...
    # the recovery world: ECS instances and disks, alidns records
    def seed_instances(self, instances: list[dict[str, Any]]) -> None: ...
    def seed_dns_records(self, records: list[dict[str, Any]]) -> None: ...
    def hold_starting(self, instance_id: str, stuck: bool) -> None: ...
    def instances(self) -> list[dict[str, Any]]: ...
    def disks(self) -> list[dict[str, Any]]: ...
    def dns_records(self) -> list[dict[str, Any]]: ...

    def set_drill_knobs(self, target: str, execute_failures: int, clear_failures: int) -> None: ...


def _seed_order(pairs: list[PairRecord], groups: list[GroupRecord]) -> tuple[list[GroupRecord], list[PairRecord]]:
    """Groups go in empty first (pairs name them), then pairs carrying ReplicaGroupId link themselves."""
    return [g.model_copy(update={"PairIds": []}) for g in groups], pairs


class LocalControl:
    """An :class:`Emulator` in this process (served on a loopback port for the SDKs)."""

    in_process = True

    def __init__(self, emulator: Emulator, url: str) -> None:
        self.em = emulator
        self.url = url
        self._triggers: list[RequestTrigger] = []
        self._lock = threading.Lock()
        self._hooked = False

    def reset(self) -> None:
        self.em.reset(config=True)

    def configure(self, patch: dict[str, Any]) -> None:
        self.em.update_config(patch)

    def seed(self, pairs: list[PairRecord], groups: list[GroupRecord]) -> None:
        empty, linked = _seed_order(pairs, groups)
        self.em.backend.seed_groups(empty)
        self.em.backend.seed_pairs(linked)

    def generate(self, spec: FleetSpec) -> None:
        self.em.backend.generate(spec)

    def set_faults(self, rules: list[FaultRule]) -> None:
        self.em.faults.set(rules, self.em.clock.now(), self.em.config().seed)

    def add_faults(self, rules: list[FaultRule]) -> None:
        self.em.faults.add(rules, self.em.clock.now(), self.em.config().seed)

    def clear_faults(self) -> None:
        self.em.faults.remove()

    def fault_rules(self) -> list[dict[str, Any]]:
        return self.em.faults.rules()

    def clear_ledger(self) -> None:
        self.em.ledger.clear()

    def flip(self, kind: str, rid: str, status: str, complete_to: str | None) -> None:
        self.em.backend.flip("group" if kind == "group" else "pair", rid, status, complete_to=complete_to)

    def advance(self, seconds: float) -> None:
        self.em.advance(seconds)

    def pairs(self) -> list[dict[str, Any]]:
        with self.em.backend.lock:
            self.em.backend.settle()
            return [p.api() for _, p in sorted(self.em.backend.pairs.items())]

    def groups(self) -> list[dict[str, Any]]:
        with self.em.backend.lock:
            self.em.backend.settle()
            return [g.api() for _, g in sorted(self.em.backend.groups.items())]

    def ledger(self) -> dict[str, list[dict[str, Any]]]:
        return self.em.ledger.snapshot()

    def register(self, spec: FunctionSpec) -> None:
        self.em.fc.register(spec)

    def fc_invocations(self) -> list[dict[str, Any]]:
        return self.em.fc.invocations()

    def fc_async_failures(self) -> list[dict[str, Any]]:
        return self.em.fc.async_failures()

    def fc_wait_idle(self, timeout: float) -> bool:
        return self.em.fc.wait_idle(timeout)

    def add_system_events(self, events: list[SystemEventSeed]) -> None:
        self.em.cms.add_events(events)

    def add_datapoints(self, datapoints: list[DatapointSeed]) -> None:
        self.em.cms.add_datapoints(datapoints)

    def configure_robots(self, robots: list[RobotSpec]) -> None:
        self.em.notify.configure_robots(robots)

    def notifications(self) -> list[dict[str, Any]]:
        return self.em.notify.notifications()

    def wait_quiet(self, timeout: float) -> bool:
        return self.em.wait_quiet(timeout)

    def on_request(self, trigger: RequestTrigger) -> None:
        with self._lock:
            self._triggers.append(trigger)
            if self._hooked:
                return
            self._hooked = True
        ledger = self.em.ledger
        original = ledger.record_request

        def record_request(entry: dict[str, Any]) -> int:
            seq = original(entry)
            # still inside the emulator's request handling: the client has not seen answer N yet
            self._fire(entry)
            return seq

        # an instance attribute shadows the method for this emulator only; close() removes it
        setattr(ledger, "record_request", record_request)  # noqa: B010 - mypy forbids assigning a method

    def _fire(self, entry: dict[str, Any]) -> None:
        due: list[RequestTrigger] = []
        with self._lock:
            for t in self._triggers:
                if t.done or (t.action is not None and entry.get("action") != t.action):
                    continue
                t.seen += 1
                if t.seen >= t.count:
                    t.done = True
                    due.append(t)
        for t in due:
            t.fire()

    def close(self) -> None:
        with self._lock:
            self._triggers.clear()
            if self._hooked:
                self._hooked = False
                self.em.ledger.__dict__.pop("record_request", None)

    # ------------------------------------------------------------ recovery world
    def seed_instances(self, instances: list[dict[str, Any]]) -> None:
        from chaos.emulator.ecs.models import InstanceRecord

        self.em.ecs.seed_instances([InstanceRecord.model_validate(i) for i in instances])

    def seed_dns_records(self, records: list[dict[str, Any]]) -> None:
        from chaos.emulator.dns.models import DomainRecord

        self.em.dns.seed_records([DomainRecord.model_validate(r) for r in records])

    def hold_starting(self, instance_id: str, stuck: bool) -> None:
        self.em.ecs.hold_starting(instance_id, stuck)

    def instances(self) -> list[dict[str, Any]]:
        return self.em.ecs.instances()

    def disks(self) -> list[dict[str, Any]]:
        return self.em.ecs.disks()

    def dns_records(self) -> list[dict[str, Any]]:
        return self.em.dns.records()

    def set_drill_knobs(self, target: str, execute_failures: int, clear_failures: int) -> None:
        self.em.backend.set_drill_knobs(target, execute_failures=execute_failures, clear_failures=clear_failures)


@dataclass
class HttpControl:
    """An emulator reached through its ``/_emulator`` control plane (``replica-failover emulator serve``)."""

    url: str
    in_process: bool = False
    _session: requests.Session = field(default_factory=requests.Session)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if "://" not in self.url:
            self.url = f"http://{self.url}"

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        resp = self._session.request(
            method, f"{self.url}/_emulator/{path}", json=body, params=params, timeout=HTTP_TIMEOUT
        )
        if resp.status_code >= 400:
            try:
                doc = resp.json()
                detail = f"{doc.get('error')} {doc.get('details') or ''}".strip()
            except ValueError:
                detail = resp.text[:300]
            raise RuntimeError(f"emulator control plane {method} /_emulator/{path}: HTTP {resp.status_code} {detail}")
        return resp.json()

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "health"))

    def reset(self) -> None:
        self._call("POST", "reset", {"config": True})

    def configure(self, patch: dict[str, Any]) -> None:
        self._call("POST", "config", patch)

    def seed(self, pairs: list[PairRecord], groups: list[GroupRecord]) -> None:
        empty, linked = _seed_order(pairs, groups)
        if empty:
            self._call("POST", "groups", {"groups": [g.model_dump() for g in empty]})
        if linked:
            self._call("POST", "pairs", {"pairs": [p.model_dump() for p in linked]})

    def generate(self, spec: FleetSpec) -> None:
        self._call("POST", "fleet", spec.model_dump(by_alias=True))

    def set_faults(self, rules: list[FaultRule]) -> None:
        self._call("POST", "faults", [r.model_dump(by_alias=True, exclude_none=True) for r in rules])

    def add_faults(self, rules: list[FaultRule]) -> None:
        self._call("PATCH", "faults", [r.model_dump(by_alias=True, exclude_none=True) for r in rules])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def fault_rules(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults")["rules"])

    def clear_ledger(self) -> None:
        self._call("DELETE", "ledger")

    def flip(self, kind: str, rid: str, status: str, complete_to: str | None) -> None:
        body: dict[str, Any] = {"Status": status}
        if complete_to:
            body["completeTo"] = complete_to
        self._call("PATCH", f"{'groups' if kind == 'group' else 'pairs'}/{rid}", body)

    def advance(self, seconds: float) -> None:
        self._call("POST", "clock", {"advance": seconds})

    def pairs(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "pairs")["pairs"])

    def groups(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "groups")["groups"])

    def ledger(self) -> dict[str, list[dict[str, Any]]]:
        return dict(self._call("GET", "ledger"))

    def register(self, spec: FunctionSpec) -> None:
        self._call("POST", "functions", spec.model_dump(by_alias=True))

    def fc_invocations(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "fc/invocations")["invocations"])

    def fc_async_failures(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "fc/invocations")["asyncFailures"])

    def fc_wait_idle(self, timeout: float) -> bool:
        return bool(self._call("POST", "fc/wait", {"timeout": timeout})["idle"])

    def add_system_events(self, events: list[SystemEventSeed]) -> None:
        body = [e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in events]
        self._call("POST", "cms/system-events", {"events": body})

    def add_datapoints(self, datapoints: list[DatapointSeed]) -> None:
        body = [d.model_dump(mode="json", by_alias=True, exclude_none=True) for d in datapoints]
        self._call("POST", "cms/metrics", {"datapoints": body})

    def configure_robots(self, robots: list[RobotSpec]) -> None:
        self._call("POST", "robots", {"robots": [r.model_dump(exclude_none=True) for r in robots]})

    def notifications(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "notifications")["notifications"])

    def wait_quiet(self, timeout: float) -> bool:
        return bool(self._call("POST", "quiesce", {"timeout": timeout})["quiet"])

    def on_request(self, trigger: RequestTrigger) -> None:
        def watch() -> None:
            since = 0
            while not self._stop.is_set() and not trigger.done:
                try:
                    new = self._call("GET", "ledger", params={"since": str(since)})["requests"]
                except (requests.RequestException, RuntimeError):
                    return
                since += len(new)
                for entry in new:
                    if trigger.action is None or entry.get("action") == trigger.action:
                        trigger.seen += 1
                if trigger.seen >= trigger.count:
                    trigger.done = True
                    trigger.fire()
                    return
                self._stop.wait(POLL_SECONDS)

        thread = threading.Thread(target=watch, name="gameday-trigger", daemon=True)
        self._threads.append(thread)
        thread.start()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._stop = threading.Event()
        self._session.close()

    # ------------------------------------------------------------ recovery world
    def seed_instances(self, instances: list[dict[str, Any]]) -> None:
        if instances:
            self._call("POST", "instances", {"instances": instances})

    def seed_dns_records(self, records: list[dict[str, Any]]) -> None:
        if records:
            self._call("POST", "dns/records", {"records": records})

    def hold_starting(self, instance_id: str, stuck: bool) -> None:
        self._call("PATCH", f"instances/{instance_id}", {"stuck": stuck})

    def instances(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "instances")["instances"])

    def disks(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "disks")["disks"])

    def dns_records(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "dns/records")["records"])

    def set_drill_knobs(self, target: str, execute_failures: int, clear_failures: int) -> None:
        body = {"target": target, "executeFailures": execute_failures, "clearFailures": clear_failures}
        self._call("POST", "drills", body)
