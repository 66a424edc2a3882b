"""Plan time of the recovery stages, read-only: load the recovery map (file + standby tags), describe
the standbys, the secondary disks and the DNS records, review them (validate.py) and lay out the
steps of the targets the review did not stop, as a :class:`~replica_failover.recovery.stage.Stage`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from replica_failover.credentials import Credentials
from replica_failover.ebs import ApiFailure, EbsApi
from replica_failover.log import JsonLogger
from replica_failover.recovery import TAGS_ENV, steps
from replica_failover.recovery.dns import DnsApi
from replica_failover.recovery.ecs import EcsApi
from replica_failover.recovery.hook import HookApi
from replica_failover.recovery.map import combine, map_from_env, standbys_from_tags
from replica_failover.recovery.report import RecoveryResult
from replica_failover.recovery.stage import Stage
from replica_failover.recovery.validate import Review, build_layout, match_record, records_in_scope, review

if TYPE_CHECKING:
    from replica_failover.plan import Plan

CODE_PATH_ENV = "FC_FUNC_CODE_PATH"  # FC's code directory; the package's parent when unset
TargetRef = tuple[Any, str]
CONFIG_ERROR = "ConfigError"  # the error code of a recovery map that does not load: nothing is written


def code_dir(env: Mapping[str, str]) -> Path:
    value = env.get(CODE_PATH_ENV, "").strip()
    return Path(value) if value else Path(__file__).resolve().parents[2]


def _targets(plan: Plan) -> list[TargetRef]:
    return [(i.kind, i.id) for i in plan.items if i.decision in ("failover", "alreadyFailedOver")]


def keep_records(
    plan: Plan, pairs: Iterable[Mapping[str, Any]], groups: Iterable[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The described pairs and groups the recovery needs (the plan's targets and their members)."""
    refs = _targets(plan)
    gids = {t for k, t in refs if k == "group"}
    pids = {t for k, t in refs if k == "pair"}
    kept_groups = [g for g in groups if g.get("ReplicaGroupId") in gids]
    members = {str(p) for g in kept_groups for p in g.get("PairIds") or []}
    kept_pairs = [
        p
        for p in pairs
        if p.get("ReplicaPairId") in pids or p.get("ReplicaPairId") in members or p.get("ReplicaGroupId") in gids
    ]
    return kept_pairs, kept_groups


def prepare(
    *,
    env: Mapping[str, str],
    credentials: Credentials,
    ebs: EbsApi,
    plan: Plan,
    pairs: Sequence[Mapping[str, Any]],
    groups: Sequence[Mapping[str, Any]],
    log: JsonLogger,
    observed_at: float | None,
    started: float,
    connect_timeout: float,
    read_timeout: float,
    fc_endpoint: str | None = None,
    fc_service: str = "",
) -> Stage | RecoveryResult:
    """Read-only: the stage to run, or a failed RecoveryResult when the map or a read stops it."""
    dr = plan.dr_region
    timeouts = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
    # EBS_ENDPOINT is only ever set for the emulator, which serves every product on one port
    emulator = env.get("EBS_ENDPOINT") or None
    ecs = EcsApi(credentials, endpoint=env.get("ECS_ENDPOINT") or emulator, **timeouts)
    dns = DnsApi(
        credentials,
        endpoint=env.get("DNS_ENDPOINT") or emulator,
        pvtz_endpoint=env.get("PVTZ_ENDPOINT") or emulator,
        **timeouts,
    )
    origin = observed_at if observed_at is not None else started
    rto_from: Literal["alarm", "invocation"] = "alarm" if observed_at is not None else "invocation"

    def failed(
        reason: str, codes: Iterable[str] = (), ram: str | None = None, decision: steps.ErrorDecision | None = None
    ) -> RecoveryResult:
        # a read that failed transiently (or was throttled) is retried by FC with the whole invocation
        again = decision is not None and decision.kind != "failed"
        return RecoveryResult(
            status="pending" if again else "failed",
            reason=reason,
            error_codes=sorted(codes),
            permission=[ram] if ram else [],
            observed_at=round(origin, 3),
            rto_from=rto_from,
        )

    from replica_failover.errors import ConfigError

    try:
        file_map = map_from_env(code_dir(env), env)
        tagged_raw: list[dict[str, Any]] = []
        if env.get(TAGS_ENV, "").strip().lower() in ("1", "true", "yes"):
            tagged_raw = ecs.tagged_standbys(dr)
    except ConfigError as exc:
        return failed(str(exc), [CONFIG_ERROR])
    except ApiFailure as f:
        d = steps.on_error("DescribeInstances", f.code, f.status)
        return failed(f"could not read standby tags in {dr}: {f}", [f.code], d.ram_action, d)
    tagged, tag_problems = standbys_from_tags(tagged_raw)
    for p in tag_problems:
        log.warning("recovery-tag", problem=p)
    rmap, conflicts = combine(file_map, tagged)
    targets = _targets(plan)
    if not targets:  # records that wait for nothing still switch only with a recovery
        return RecoveryResult(
            status="completed", reason="no target fails over: nothing to recover", observed_at=round(origin, 3),
            rto_from=rto_from,
        )  # fmt: skip
    full = build_layout(rmap, targets, pairs, groups)
    instance_ids = [*full.instances, *(i for s in full.switches for i in s.after)]
    action = "DescribeInstances"
    try:
        instances = ecs.describe_instances(dr, instance_ids) if instance_ids else []
        action = "DescribeDisks"
        disks = ecs.describe_disks(dr, [a.disk_id for a in full.attaches]) if full.attaches else []
    except ApiFailure as f:
        d = steps.on_error(action, f.code, f.status)
        return failed(f"could not describe standbys or secondary disks in {dr}: {f}", [f.code], d.ram_action, d)
    described: list[dict[str, Any]] = []
    unread: set[str] = set()
    in_scope = records_in_scope(rmap, targets)
    for rec in in_scope:
        try:
            described += dns.find(dr, rec)
        except ApiFailure as f:
            d = steps.on_error("DescribeDomainRecords", f.code, f.status)
            if d.kind == "failed":
                return failed(f"could not read DNS record {rec.key}: {f}", [f.code], d.ram_action)
            unread.add(rec.key)  # the API is down for now: resolved in a later round
            log.warning("recovery-read", action="DescribeDomainRecords", record=rec.key, error=str(f))
    rv = review(
        rmap,
        targets,
        pairs=pairs,
        groups=groups,
        instances=instances,
        disks=disks,
        dns_records=described,
        conflicts=conflicts,
    )
    if unread:
        keep = tuple(f for f in rv.findings if not (f.subject in unread and f.code == "record-missing"))
        rv = Review(findings=keep, changes=rv.changes)
    # a disk attached elsewhere stays in the layout: its step reads it and settles as a conflict
    stopped = {
        f.target for f in rv.findings if f.severity == "error" and f.target and f.code != "disk-attached-elsewhere"
    }
    layout = build_layout(rmap, [t for t in targets if t[1] not in stopped], pairs, groups)
    forced: dict[str, tuple[str, str | None]] = {}
    for finding in rv.findings:
        if finding.severity != "error" or finding.target not in stopped | {None}:
            continue
        why = f"{finding.code}: {finding.message}"
        if finding.target:
            forced.setdefault(f"target:{finding.target}", (why, None))
        elif finding.subject in {r.key for r in in_scope}:
            forced[f"switch:{finding.subject}"] = (why, None)
    lost = {s for t in stopped if (s := rmap.standby_for(t)) is not None}
    for sw in layout.switches:
        waits = sorted(lost & set(sw.after))
        if waits:
            forced.setdefault(sw.step, (f"waits for {', '.join(waits)}, stopped at plan time", None))
    hook_api = None
    if rmap.hook is not None:
        if fc_endpoint and (rmap.hook.service or fc_service):
            hook_api = HookApi(
                credentials, rmap.hook, endpoint=fc_endpoint, service=fc_service, timeout=connect_timeout + read_timeout
            )
        else:
            for sw in layout.switches:
                forced.setdefault(sw.step, ("the pre-switch hook has no FC endpoint or service to invoke", None))
    records = {r.key: r for r in in_scope}
    record_ids: dict[str, str] = {}
    for rec in in_scope:
        match = match_record(rec, described)
        if len(match) == 1:
            record_ids[rec.key] = str(match[0].get("RecordId"))
    return Stage(
        dr=dr,
        rmap=rmap,
        review=rv,
        layout=layout,
        records=records,
        record_ids=record_ids,
        forced=forced,
        ecs=ecs,
        dns=dns,
        ebs=ebs,
        log=log,
        observed_at=origin,
        rto_from=rto_from,
        hook_api=hook_api,
        hook_state="pending" if layout.hook else "none",
        storage=[(i.id, i.status) for i in plan.items if i.decision == "failover"],
    )
