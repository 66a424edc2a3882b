"""Plan-time checks of the recovery map against described resources, and the dry run's before -> after.

Pure: takes the plan's targets and the records DescribeDiskReplicaPairs/-Groups, DescribeInstances,
DescribeDisks and DescribeDomainRecords (or DescribeZoneRecords) returned, as dicts. Findings carry a
severity and the target they belong to, so the plan can report them per target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from replica_failover.recovery.map import Record, RecoveryMap
from replica_failover.recovery.steps import Attach, Layout, Switch

Severity = Literal["error", "warning", "info"]
TargetRef = tuple[Literal["pair", "group"], str]
# Starting: a start already under way, e.g. an earlier invocation's; the start step waits for Running.
# A retry that lands then must resume, not fail the target.
STANDBY_STATUSES = frozenset({"Stopped", "Starting", "Running"})


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Finding(_Model):
    severity: Severity
    code: str  # stable: standby-missing, zone-mismatch, standby-status, claimed-twice, disk-attached-elsewhere...
    target: str | None  # the pair/group it belongs to; None for record-level findings
    subject: str  # the instance, disk or record concerned
    message: str


class Change(_Model):
    step: str  # attach:d-1, start:i-1, switch:alidns:www.example.com/A
    subject: str
    before: str
    after: str


class Review(_Model):
    findings: tuple[Finding, ...]
    changes: tuple[Change, ...]

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def for_target(self, target_id: str) -> list[Finding]:
        return [f for f in self.findings if f.target == target_id]


def _index(records: Iterable[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {str(r.get(key)): r for r in records if r.get(key)}


def target_disks(
    ref: TargetRef, pairs: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], str, list[str]]:
    """(secondary disk ids, DestinationZoneId, problems) of a pair or of every member of a group."""
    kind, tid = ref
    if kind == "pair":
        pair = pairs.get(tid)
        if pair is None:
            return [], "", [f"pair {tid} was not described"]
        disk = str(pair.get("DestinationDiskId") or "")
        return ([disk] if disk else []), str(pair.get("DestinationZoneId") or ""), ([] if disk else ["no disk"])
    group = groups.get(tid)
    if group is None:
        return [], "", [f"group {tid} was not described"]
    members = [str(p) for p in group.get("PairIds") or []]
    members += [pid for pid, p in pairs.items() if p.get("ReplicaGroupId") == tid and pid not in members]
    disks, problems = [], []
    for pid in members:
        pair = pairs.get(pid)
        disk = str(pair.get("DestinationDiskId") or "") if pair else ""
        if disk:
            disks.append(disk)
        else:
            problems.append(f"member pair {pid} was not described")
    return disks, str(group.get("DestinationZoneId") or ""), problems


def match_record(record: Record, described: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The described records ``record`` names: by RecordId when set, else by domain + RR + type."""
    out = []
    for d in described:
        rid = str(d.get("RecordId") or "")
        if record.record_id is not None:
            if rid == record.record_id:
                out.append(d)
            continue
        rr = str(d.get("RR") or d.get("Rr") or "")
        domain = str(d.get("DomainName") or d.get("ZoneName") or record.domain)
        zone = str(d.get("ZoneId") or "")
        if rr == record.rr and str(d.get("Type")) == record.type and domain == record.domain:
            if record.provider == "privatezone" and zone and zone != record.zone_id:
                continue
            out.append(d)
    return out


def records_in_scope(rmap: RecoveryMap, targets: Sequence[TargetRef]) -> tuple[Record, ...]:
    """Records this recovery switches: those waiting for a standby of one of its targets, and those
    that wait for nothing (they switch with every recovery)."""
    standbys = {rmap.standby_for(tid) for _, tid in targets} - {None}
    return tuple(r for r in rmap.records if not r.after or standbys & set(r.after))


def review(
    rmap: RecoveryMap,
    targets: Sequence[TargetRef],
    *,
    pairs: Iterable[Mapping[str, Any]] = (),
    groups: Iterable[Mapping[str, Any]] = (),
    instances: Iterable[Mapping[str, Any]] = (),
    disks: Iterable[Mapping[str, Any]] = (),
    dns_records: Iterable[Mapping[str, Any]] = (),
    conflicts: Iterable[str] = (),
) -> Review:
    pair_ix, group_ix = _index(pairs, "ReplicaPairId"), _index(groups, "ReplicaGroupId")
    inst_ix, disk_ix = _index(instances, "InstanceId"), _index(disks, "DiskId")
    described = list(dns_records)
    findings: list[Finding] = []
    changes: list[Change] = []

    def add(sev: Severity, code: str, target: str | None, subject: str, message: str) -> None:
        findings.append(Finding(severity=sev, code=code, target=target, subject=subject, message=message))

    for text in conflicts:
        add("error", "claimed-twice", None, text.split(":", 1)[0], text)

    started: set[str] = set()
    for ref in targets:
        tid = ref[1]
        standby = rmap.standby_for(tid)
        if standby is None:
            add("info", "no-standby", tid, tid, "no standby takes this target: storage only")
            continue
        disk_ids, zone, problems = target_disks(ref, pair_ix, group_ix)
        for p in problems:
            add("warning", "target-undescribed", tid, tid, p)
        inst = inst_ix.get(standby)
        status = str(inst.get("Status") or "") if inst else ""
        if inst is None:
            add("error", "standby-missing", tid, standby, f"standby {standby} does not exist in the DR region")
        else:
            if status not in STANDBY_STATUSES:
                add(
                    "error",
                    "standby-status",
                    tid,
                    standby,
                    f"standby is {status or 'without status'}, not Stopped, Starting or Running",
                )
            inst_zone = str(inst.get("ZoneId") or "")
            if zone and inst_zone != zone:
                add(
                    "error",
                    "zone-mismatch",
                    tid,
                    standby,
                    f"standby is in {inst_zone or '?'}, the secondary disks in {zone}",
                )
        for disk_id in disk_ids:
            disk = disk_ix.get(disk_id)
            before = "not described"
            if disk is None:
                add("warning", "disk-undescribed", tid, disk_id, f"secondary disk {disk_id} was not described")
            else:
                holder = str(disk.get("InstanceId") or "")
                before = f"{disk.get('Status')}" + (f" on {holder}" if holder else "")
                if holder and holder != standby:
                    add("error", "disk-attached-elsewhere", tid, disk_id, f"attached to {holder}, not to {standby}")
            changes.append(
                Change(step=f"attach:{disk_id}", subject=disk_id, before=before, after=f"In_use on {standby}")
            )
        if inst is not None and standby not in started:
            started.add(standby)
            changes.append(Change(step=f"start:{standby}", subject=standby, before=status, after="Running"))

    standbys = {s.instance_id for s in rmap.standbys}
    for rec in records_in_scope(rmap, targets):
        found = match_record(rec, described)
        for iid in rec.after:
            if iid not in standbys and iid not in inst_ix:
                add(
                    "error",
                    "unknown-instance",
                    None,
                    rec.key,
                    f"waits for {iid}, which is no standby and was not found",
                )
        if not found:
            add("error", "record-missing", None, rec.key, "no such record")
        elif len(found) > 1:
            ids = ", ".join(sorted(str(d.get("RecordId")) for d in found))
            add("error", "record-ambiguous", None, rec.key, f"matches records {ids}: set recordId")
        else:
            got = found[0]
            rr, rtype = str(got.get("RR") or got.get("Rr") or ""), str(got.get("Type") or "")
            if (rr, rtype) != (rec.rr, rec.type):
                add("error", "record-mismatch", None, rec.key, f"record {got.get('RecordId')} is {rr} {rtype}")
            current = str(got.get("Value") or "")
            changes.append(Change(step=f"switch:{rec.key}", subject=rec.key, before=current, after=rec.value))
    return Review(findings=tuple(findings), changes=tuple(changes))


def build_layout(
    rmap: RecoveryMap,
    targets: Sequence[TargetRef],
    pairs: Iterable[Mapping[str, Any]],
    groups: Iterable[Mapping[str, Any]] = (),
) -> Layout:
    """The steps of this recovery (steps.py): each secondary disk of a target with a standby, and the
    records in scope."""
    pair_ix, group_ix = _index(pairs, "ReplicaPairId"), _index(groups, "ReplicaGroupId")
    attaches: list[Attach] = []
    for ref in targets:
        standby = rmap.standby_for(ref[1])
        if standby is None:
            continue
        disk_ids, _, _ = target_disks(ref, pair_ix, group_ix)
        attaches += [Attach(disk_id=d, target_id=ref[1], instance_id=standby) for d in disk_ids]
    switches = tuple(Switch(key=r.key, value=r.value, after=r.after) for r in records_in_scope(rmap, targets))
    return Layout(attaches=tuple(attaches), switches=switches, hook=rmap.hook is not None)
