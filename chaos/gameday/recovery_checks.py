"""The recovery's checks, judged from the emulator's ledger and the ECS and DNS state after the run.

The ledger holds every effect (``AttachDisk``: a disk ``Available -> Attaching``; ``StartInstances``:
an instance ``Stopped -> Starting``; ``UpdateDomainRecord``: a domain record's value) and every
transition the clock completed (a disk ``-> In_use``, an instance ``-> Running``, a pair or group
``-> failovered``), each with its emulator time. Order is judged on those times:

* no attach before the disk's pair (or its group) reads ``failovered``;
* no start before every disk attached to the instance reads ``In_use``;
* no switch before every instance the record waits for reads ``Running``.

The RTO figure is emulator seconds from the first API request of the run to the last record switched.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chaos.gameday.scenario import Recovery, RecoveryExpect

MAX_NAMED = 8
STEP_ACTIONS = {"disk": "AttachDisk", "instance": "StartInstances", "domainRecord": "UpdateDomainRecord"}


@dataclass
class RecoveryView:
    """The recovery's evidence: the ledger's ECS/DNS entries, the end state, and which disk is whose."""

    declared: Recovery
    ledger: dict[str, list[dict[str, Any]]]
    instances: list[dict[str, Any]] = field(default_factory=list)
    disks: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)  # the function's final results, in order

    def reported(self) -> dict[str, Any]:
        """The last final result's ``recovery`` part (the function's own account), or {}."""
        for res in reversed(self.results):
            rec = res.get("recovery")
            if isinstance(rec, dict):
                return rec
        return {}

    def step_effects(self) -> list[dict[str, Any]]:
        """ECS and alidns effects of the three recovery steps (a DetachDisk is not a step)."""
        return [
            e
            for e in self.ledger.get("effects", [])
            if e.get("service") in ("ecs", "alidns") and (e.get("targetType"), e.get("action")) in STEP_ACTIONS.items()
        ]

    def reached(self, target_type: str, to: str) -> dict[str, float]:
        """Target id -> the first time the ledger shows it reaching ``to`` (a transition or an effect)."""
        out: dict[str, float] = {}
        for kind in ("transitions", "effects"):
            for e in self.ledger.get(kind, []):
                if e.get("targetType") == target_type and e.get("to") == to:
                    rid = str(e["targetId"])
                    out[rid] = min(out.get(rid, float("inf")), float(e["time"]))
        return out

    def disk_owner(self) -> dict[str, list[str]]:
        """Secondary disk id -> the replication targets whose failover frees it: the pair, then its group."""
        out: dict[str, list[str]] = {}
        for p in self.pairs:
            did = str(p.get("DestinationDiskId") or "")
            if did:
                out[did] = [str(p["ReplicaPairId"])] + ([str(p["ReplicaGroupId"])] if p.get("ReplicaGroupId") else [])
        return out

    def rto_seconds(self) -> float | None:
        requests = self.ledger.get("requests", [])
        switches = [float(e["time"]) for e in self.step_effects() if e.get("targetType") == "domainRecord"]
        if not requests or not switches:
            return None
        first = min(float(r.get("time", switches[0])) for r in requests)
        return round(max(switches) - first, 3)

    def figures(self) -> dict[str, Any]:
        counts = Counter(str(e.get("targetType")) for e in self.step_effects())
        return {
            "recoveryAttaches": counts["disk"],
            "recoveryStarts": counts["instance"],
            "recoverySwitches": counts["domainRecord"],
            "rtoS": self.rto_seconds(),
            "reportedRtoS": self.reported().get("rtoSeconds"),
        }


@dataclass(frozen=True)
class Finding:
    ok: bool
    expected: str
    measured: Any
    message: str = ""
    offenders: Any = None


def _short(items: Iterable[str]) -> str:
    names = list(items)
    more = f" (+{len(names) - MAX_NAMED} more)" if len(names) > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more


def one_effect_per_step(v: RecoveryView) -> Finding:
    counts = Counter((str(e["targetType"]), str(e["targetId"])) for e in v.step_effects())
    twice = {f"{STEP_ACTIONS[k]}:{rid}": n for (k, rid), n in counts.items() if n > 1}
    starting = {r.id: r.value for r in v.declared.records if r.in_plan and r.value != r.dr_value}
    switched = {rid for (k, rid) in counts if k == "domainRecord"}
    return Finding(
        not twice,
        "<= 1 AttachDisk per disk, <= 1 StartInstances per instance, <= 1 UpdateDomainRecord per record",
        {STEP_ACTIONS[k]: sum(1 for kk, _ in counts if kk == k) for k in STEP_ACTIONS}
        | {"recordsSwitched": f"{len(switched & set(starting))} of {len(starting)}"},
        "repeated: " + _short(f"{k} x{n}" for k, n in sorted(twice.items())),
        twice,
    )


def order_respected(v: RecoveryView) -> Finding:
    failovered = v.reached("pair", "failovered") | v.reached("group", "failovered")
    in_use = v.reached("disk", "In_use")
    running = v.reached("instance", "Running")
    owners = v.disk_owner()
    bad: list[str] = []
    steps = sorted(v.step_effects(), key=lambda e: float(e["time"]))
    attached_to: dict[str, list[str]] = defaultdict(list)  # every disk the recovery attached, by instance
    for e in steps:
        if e["targetType"] == "disk":
            attached_to[str(e.get("instanceId"))].append(str(e["targetId"]))
    for e in steps:
        t, rid = float(e["time"]), str(e["targetId"])
        if e["targetType"] == "disk":
            ready = min((failovered[o] for o in owners.get(rid, []) if o in failovered), default=None)
            if ready is None or t < ready:
                bad.append(f"AttachDisk {rid} at {t:.3f} before its pair/group read failovered ({ready})")
        elif e["targetType"] == "instance":
            for did in attached_to.get(rid, []):
                done = in_use.get(did)
                if done is None or t < done:
                    bad.append(f"StartInstances {rid} at {t:.3f} before disk {did} read In_use ({done})")
        else:
            record = next((r for r in v.declared.records if r.id == rid), None)
            for iid in record.after if record else []:
                up = running.get(iid)
                if up is None or t < up:
                    bad.append(f"UpdateDomainRecord {rid} at {t:.3f} before {iid} read Running ({up})")
    bad = list(dict.fromkeys(bad))
    return Finding(
        not bad and bool(steps),
        "attach after failovered, start after its disks are In_use, switch after its instances run",
        f"{len(steps) - len(bad)} of {len(steps)} step effect(s) in order",
        "; ".join(bad[:MAX_NAMED]) if bad else "no recovery step took effect: nothing to judge",
        bad,
    )


def service_restored(v: RecoveryView, x: RecoveryExpect) -> Finding:
    values = {str(r["RecordId"]): str(r.get("Value")) for r in v.records}
    status = {str(i["InstanceId"]): str(i.get("Status")) for i in v.instances}
    planned = [r for r in v.declared.records if r.in_plan]
    wanted = set(x.restored_records) if x.restored_records is not None else {r.id for r in planned}
    problems: dict[str, str] = {}
    for r in v.declared.records:
        if r.id in wanted:
            if values.get(r.id) != r.dr_value:
                problems[f"record {r.id}"] = f"{values.get(r.id, 'missing')} (want {r.dr_value})"
            for iid in r.after:
                if status.get(iid) != "Running":
                    problems[f"instance {iid}"] = status.get(iid, "missing")
        if r.id in x.untouched_records and values.get(r.id) != r.value:
            problems[f"record {r.id}"] = f"{values.get(r.id, 'missing')} (want it left at {r.value})"
    owners = v.disk_owner()
    for d in v.disks:
        if set(owners.get(str(d["DiskId"]), [])) & set(x.unattached_disks_of) and d.get("InstanceId"):
            problems[f"disk {d['DiskId']}"] = f"attached to {d['InstanceId']} (its standby was reported)"
    return Finding(
        not problems,
        f"{len(wanted)} record(s) at their DR value, the instances behind them Running"
        + (f", {len(x.untouched_records)} left alone" if x.untouched_records else ""),
        f"{len(problems)} problem(s)",
        "; ".join(f"{k}: {val}" for k, val in list(problems.items())[:MAX_NAMED]),
        problems,
    )


def rto_within(v: RecoveryView, x: RecoveryExpect) -> Finding:
    rto, limit = v.rto_seconds(), x.max_rto_seconds or 0.0
    return Finding(
        rto is not None and rto <= limit,
        f"RTO <= {limit:g} s (first request to last record switched, emulator clock)",
        rto,
        "no record was switched" if rto is None else f"RTO {rto:.2f} s",
    )


def findings_reported(v: RecoveryView, x: RecoveryExpect) -> Finding:
    """Each target named in ``findings`` is reported by the function with (at least) those review codes."""
    got: dict[str, set[str]] = {}
    for f in v.reported().get("findings") or []:
        if isinstance(f, dict):
            got.setdefault(str(f.get("target")), set()).add(str(f.get("code")))
    missing = {t: sorted(set(codes) - got.get(t, set())) for t, codes in x.findings.items()}
    missing = {t: codes for t, codes in missing.items() if codes}
    return Finding(
        not missing,
        "; ".join(f"{t}: {', '.join(c)}" for t, c in x.findings.items()),
        {t: sorted(c) for t, c in got.items()},
        "not reported: " + "; ".join(f"{t}: {', '.join(c)}" for t, c in missing.items()),
        missing,
    )
