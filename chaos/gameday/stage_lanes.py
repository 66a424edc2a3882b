"""The recovery's lanes on the game-day timeline: compute (disks, instances) and traffic (DNS records).

The storage lanes (pairs and groups) are :mod:`chaos.gameday.timeline`'s; this module takes the ECS and
alidns entries of the ledger (their ``service`` field) out of that path and builds one lane per disk,
instance and domain record: every call on it, every effect (``AttachDisk``, ``StartInstances``,
``UpdateDomainRecord``) and every transition the clock completed (``In_use``, ``Running``). Each lane
carries its ``stage``, so a report can show the three lanes storage -> compute -> traffic in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.gameday.journal import TargetTimeline, TimelineEvent

RECOVERY_SERVICES = ("ecs", "alidns")
LANE_KIND = {"disk": "disk", "instance": "instance", "domainRecord": "record"}
STAGE = {"disk": "compute", "instance": "compute", "record": "traffic"}
# ledger request parameters that name the one resource a call acts on
TARGET_PARAMS = (("DiskId", "disk"), ("InstanceId", "instance"), ("InstanceId.1", "instance"), ("RecordId", "record"))


def split_ledger(
    ledger: Mapping[str, list[dict[str, Any]]],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """(ebs's entries, ECS and alidns entries); requests of both keep anchoring the clock."""
    storage: dict[str, list[dict[str, Any]]] = {}
    recovery: dict[str, list[dict[str, Any]]] = {}
    for name, entries in ledger.items():
        if not isinstance(entries, list):
            continue
        storage[name] = [e for e in entries if e.get("service") not in RECOVERY_SERVICES]
        recovery[name] = [e for e in entries if e.get("service") in RECOVERY_SERVICES]
    return storage, recovery


def _target(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(lane kind, id) of a request: the resource its parameters name (an AttachDisk goes on the disk)."""
    params = entry.get("params")
    if not isinstance(params, Mapping):
        params = {}
    for key, kind in TARGET_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value:
            return kind, value
    return None


def stage_lanes(recovery: Mapping[str, list[dict[str, Any]]], to_rel: Any) -> list[TargetTimeline]:
    """One lane per disk, instance and record; ``to_rel`` maps emulator time to seconds since the start."""
    events: dict[tuple[str, str], list[TimelineEvent]] = {}
    effects: dict[tuple[str, str], int] = {}
    final: dict[tuple[str, str], str] = {}
    for r in recovery.get("requests", []):
        key = _target(r)
        if key is None or str(r.get("action", "")).startswith("Describe"):
            continue  # reads name many resources at once; they belong to the run
        status = r.get("status") if isinstance(r.get("status"), int) else None
        code = r.get("code") if isinstance(r.get("code"), str) else None
        t = to_rel(float(r.get("time") or 0.0))
        label = " ".join(str(p) for p in (r.get("action"), status if status is not None else "no answer", code) if p)
        events.setdefault(key, []).append(
            TimelineEvent(t=t, kind="call", label=label, status=status, code=code, detail={"action": r.get("action")})
        )
    for kind_name in ("effects", "transitions"):
        for e in recovery.get(kind_name, []):
            lane_kind = LANE_KIND.get(str(e.get("targetType")))
            if lane_kind is None:
                continue
            key = (lane_kind, str(e.get("targetId")))
            detail = {k: e[k] for k in ("action", "from", "to", "instanceId") if e.get(k) is not None}
            events.setdefault(key, []).append(
                TimelineEvent(
                    t=to_rel(float(e.get("time") or 0.0)),
                    kind="effect" if kind_name == "effects" else "transition",
                    label=f"{e.get('action', '')} {e.get('from')} -> {e.get('to')}".strip(),
                    detail=detail,
                )
            )
            if kind_name == "effects":
                effects[key] = effects.get(key, 0) + 1
            final[key] = str(e.get("to"))
    lanes = []
    for key in sorted(events, key=lambda k: (("disk", "instance", "record").index(k[0]), k[1])):
        evs = sorted(events[key], key=lambda ev: (ev.t, ("call", "effect", "transition").index(ev.kind)))
        lanes.append(
            TargetTimeline(
                kind=key[0],  # one of the widened lane kinds
                id=key[1],
                eligible=True,  # the recovery's own resources: acting on them is the point
                final_status=final.get(key, "unknown"),
                effects=effects.get(key, 0),
                events=evs,
                stage=STAGE[key[0]],
            )
        )
    return lanes
