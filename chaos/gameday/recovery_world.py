"""The recovery world of a game day: standby instances, DNS records and the plan file the function reads.

:func:`seed_recovery` puts ``scenario.recovery`` into the emulator after the fleet: a tagged standby per
group and loose pair (the emulator's own generator, minus ``exclude``), the listed instances, the DNS
records at their production values, and the instances held in ``Starting``. :func:`plan_file` writes
the recovery plan into the function's code directory for the run, because ``FAILOVER_RECOVERY_PLAN``
names a file shipped with the function (a path relative to its code directory), and removes it after.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chaos.gameday.client import EmulatorControl
from chaos.gameday.scenario import Recovery, Scenario

PLAN_ENV = "FAILOVER_RECOVERY_PLAN"
PLAN_PREFIX = ".gameday-recovery-plan-"


def standby_documents(sc: Scenario, pairs: list[dict[str, Any]], groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The generated standbys (tagged ``replica-failover:standby-for``) and the listed instances."""
    from chaos.emulator.ecs.fleet import StandbySpec, standby_instances

    rec = sc.recovery
    if rec is None:
        return []
    out: list[dict[str, Any]] = []
    if rec.standby is not None:
        spec = StandbySpec(prefix=rec.standby.prefix, region=sc.dr_region)
        excluded = set(rec.standby.exclude)
        for inst in standby_instances({"pairs": pairs, "groups": groups}, spec):
            if not any(t.TagValue in excluded for t in inst.Tags):
                out.append(inst.model_dump())
    for i in rec.instances:
        tags = [{"TagKey": "replica-failover:standby-for", "TagValue": i.standby_for}] if i.standby_for else []
        out.append(
            {
                "InstanceId": i.id,
                "InstanceName": i.id,
                "RegionId": sc.dr_region,
                "ZoneId": i.zone or f"{sc.dr_region}-b",
                "Status": i.status,
                "Tags": tags,
            }
        )
    return out


def record_documents(rec: Recovery) -> list[dict[str, Any]]:
    return [
        {"RecordId": r.id, "DomainName": r.domain, "RR": r.rr, "Type": r.type, "Value": r.value, "TTL": 60}
        for r in rec.records
    ]


def plan_document(rec: Recovery) -> dict[str, Any]:
    """The recovery plan file's content (the function's recovery-map format, version 1)."""
    return {
        "version": 1,
        "standbys": [{"instanceId": s.instance_id, "takes": list(s.takes)} for s in rec.plan_standbys],
        "records": [
            {
                "domain": r.domain,
                "rr": r.rr,
                "type": r.type,
                "recordId": r.id,
                "value": r.dr_value,
                "after": list(r.after),
                "ttl": 60,
            }
            for r in rec.records
            if r.in_plan
        ],
    }


def unknown_references(sc: Scenario, known_targets: set[str]) -> list[str]:
    """Recovery fields naming a target outside the fleet, or an instance the world will not have, as messages.

    An ``exclude`` or ``takes`` with a typo would quietly change nothing; a ``stuck``/``unstick`` naming no
    instance would hold nothing. ``records[].after`` may name a missing instance on purpose (standby-missing).
    """
    rec = sc.recovery
    if rec is None:
        return []
    named: list[tuple[str, str]] = []
    if rec.standby is not None:
        named += [(f"recovery.standby.exclude[{i}]", rid) for i, rid in enumerate(rec.standby.exclude)]
    for i, s in enumerate(rec.plan_standbys):
        named += [(f"recovery.planStandbys[{i}].takes", rid) for rid in s.takes]
    named += [
        (f"recovery.instances[{i}].standbyFor", d.standby_for) for i, d in enumerate(rec.instances) if d.standby_for
    ]
    problems = [f"{where}: target {rid} is not in the fleet" for where, rid in named if rid not in known_targets]
    prefix = rec.standby.prefix if rec.standby is not None else None
    instances = {i.id for i in rec.instances}
    held = [("recovery.stuck", iid) for iid in rec.stuck] + [
        (f"method.actions[{n}].release.unstick", iid)
        for n, a in enumerate(sc.method.actions)
        if a.release is not None
        for iid in a.release.unstick
    ]
    for where, iid in held:
        generated = prefix is not None and iid.startswith(prefix) and iid[len(prefix) :] in known_targets
        if iid not in instances and not generated:
            problems.append(f"{where}: instance {iid} is neither listed nor a generated standby")
    return problems


def seed_recovery(control: EmulatorControl, sc: Scenario) -> None:
    """Seed standbys, instances and records after the fleet (standbys sit in their pair's DR zone)."""
    rec = sc.recovery
    if rec is None:
        return
    control.seed_instances(standby_documents(sc, control.pairs(), control.groups()))
    control.seed_dns_records(record_documents(rec))
    for iid in rec.stuck:
        control.hold_starting(iid, True)


@contextlib.contextmanager
def plan_file(sc: Scenario, code_dir: Path | None) -> Iterator[str | None]:
    """The plan written into ``code_dir`` for the run; yields its name relative to it (None: no recovery)."""
    if sc.recovery is None or code_dir is None:
        yield None
        return
    name = f"{PLAN_PREFIX}{secrets.token_hex(6)}.json"
    path = code_dir / name
    path.write_text(json.dumps(plan_document(sc.recovery), indent=2), encoding="utf-8")
    try:
        yield name
    finally:
        path.unlink(missing_ok=True)
