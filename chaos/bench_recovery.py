"""``replica-failover bench --recovery``: the end-to-end RTO of a service recovery against its bound.

The fleet: P loose pairs replicating cn-hangzhou -> cn-shanghai, M Stopped standby instances in the
pairs' DR zone (standby k takes every pair i with i mod M = k) and R alidns records (record r waits for
every standby k with k mod R = r), declared in a recovery plan file written into the function's code
directory for the run (``FAILOVER_RECOVERY_PLAN``).

* **What is timed.** The RTO: from the moment the handler receives the event to the last
  ``UpdateDomainRecord`` effect in the emulator's ledger (the clock offset measured and subtracted, as
  for the storage bench). A run that leaves a record unswitched has no RTO (``missedRecords``).
* **Flow control.** A token bucket of Q requests/s per (access key, action): every API action has
  its own budget, as the cloud's per-API flow control does.
* **The bound.** Stage by stage, each stage at its own best: the storage bound, then
  ``max(P/Q, ceil(P/C)*L)`` for the attaches plus the ``Attaching`` delay, ``ceil(M/100)*L`` for the
  batched starts plus the ``Starting`` delay, ``max(R/Q, ceil(R/C)*L)`` for the switches. That is the
  storage bound plus the critical path attach -> start -> record; the reads a careful recovery needs
  between stages are not in it.
* **Baseline.** The same fleet, re-seeded, recovered by :func:`naive_recovery`: what an operator's
  script does, one step at a time with the official SDKs, polling each state every half second.

The emulator and each side run in their own processes (see :mod:`chaos.bench`).
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chaos.bench import (
    CHILD_SLACK_SECONDS,
    DR,
    PRIMARY,
    BenchConfig,
    EmulatorProcess,
    bound_seconds,
    emulator_process,
    function_env,
    run_child,
)

ZONE = f"{DR}-b"  # where the emulator puts a pair's secondary disk unless told otherwise
DOMAIN = "bench.example.com"
MAX_START_IDS = 100  # StartInstances InstanceId.N
POLL_SECONDS = 0.5  # the naive script's poll interval
ACTIONS = (
    "DescribeDiskReplicaPairs", "DescribeDiskReplicaGroups", "FailoverDiskReplicaPair", "FailoverDiskReplicaGroup",
    "DescribeDisks", "DescribeInstances", "DescribeInstanceStatus", "AttachDisk", "StartInstances",
    "DescribeDomainRecords", "DescribeDomainRecordInfo", "UpdateDomainRecord",
)  # fmt: skip


@dataclass(frozen=True)
class RecoveryBenchConfig:
    pairs: int = 200
    instances: int = 50
    records: int = 10
    latency_ms: float = 50.0
    rate_limit: float = 100.0  # requests/s per action; 0: no limit
    concurrency: int = 16
    attach_seconds: float = 2.0  # emulator Attaching -> In_use
    start_seconds: float = 10.0  # emulator Starting -> Running
    baseline: bool = True
    invocations: int = 5  # a pending result is re-invoked, as FC's async retry would

    def validate(self) -> None:
        if not 1 <= self.pairs <= 10_000:
            raise ValueError("--pairs must be within 1..10000")
        if not 1 <= self.instances <= self.pairs:
            raise ValueError("--instances must be within 1..pairs (each standby takes at least one pair)")
        if not 1 <= self.records <= self.instances:
            raise ValueError("--records must be within 1..instances (each record waits for at least one standby)")

    def storage(self) -> BenchConfig:
        return BenchConfig(pairs=self.pairs, latency_ms=self.latency_ms, rate_limit=self.rate_limit,
                           concurrency=self.concurrency, baseline=False, cold_start_runs=0)  # fmt: skip


# ------------------------------------------------------------------------------ the fleet
def pair_ids(cfg: RecoveryBenchConfig) -> list[str]:
    return [f"pair-rb-{i:05d}" for i in range(cfg.pairs)]


def instance_ids(cfg: RecoveryBenchConfig) -> list[str]:
    return [f"i-rb-{k:04d}" for k in range(cfg.instances)]


def record_ids(cfg: RecoveryBenchConfig) -> list[str]:
    return [str(7000 + r) for r in range(cfg.records)]


def plan(cfg: RecoveryBenchConfig) -> dict[str, Any]:
    """The recovery plan file (the function's recovery-map format, version 1)."""
    pids, iids = pair_ids(cfg), instance_ids(cfg)
    return {
        "version": 1,
        "standbys": [{"instanceId": iid, "takes": pids[k :: cfg.instances]} for k, iid in enumerate(iids)],
        "records": [
            {"domain": DOMAIN, "rr": f"svc{r}", "type": "A", "recordId": rid, "value": f"10.9.0.{r + 1}",
             "after": iids[r :: cfg.records], "ttl": 60}
            for r, rid in enumerate(record_ids(cfg))
        ],
    }  # fmt: skip


def seed(emu: EmulatorProcess, cfg: RecoveryBenchConfig) -> None:
    """Fresh state: latency, per-action flow control, the ECS delays, pairs, standbys and records."""
    emu.control("POST", "reset", {"config": True})
    delays = dict(emu.control("GET", "config")["transitionDelays"])
    delays.update(failovering=0.0, Attaching=cfg.attach_seconds, Starting=cfg.start_seconds)
    limits = [{"action": a, "rate": cfg.rate_limit} for a in ACTIONS] if cfg.rate_limit > 0 else []
    emu.control("POST", "config", {"latencyMs": cfg.latency_ms, "rateLimits": limits, "transitionDelays": delays})
    pairs = [{"ReplicaPairId": pid, "PairName": pid, "SourceRegion": PRIMARY, "DestinationRegion": DR,
              "Status": "normal"} for pid in pair_ids(cfg)]  # fmt: skip
    emu.control("POST", "pairs", {"pairs": pairs})
    instances = [{"InstanceId": iid, "InstanceName": iid, "RegionId": DR, "ZoneId": ZONE, "Status": "Stopped"}
                 for iid in instance_ids(cfg)]  # fmt: skip
    emu.control("POST", "instances", {"instances": instances})
    records = [{"RecordId": rid, "DomainName": DOMAIN, "RR": f"svc{r}", "Type": "A", "Value": f"10.0.0.{r + 1}",
                "TTL": 60} for r, rid in enumerate(record_ids(cfg))]  # fmt: skip
    emu.control("POST", "dns/records", {"records": records})


def bound(cfg: RecoveryBenchConfig) -> dict[str, float]:
    latency = cfg.latency_ms / 1000

    def stage(n: int) -> float:
        by_rate = n / cfg.rate_limit if cfg.rate_limit > 0 else 0.0
        return max(by_rate, math.ceil(n / cfg.concurrency) * latency)

    storage = bound_seconds(cfg.storage())["seconds"]
    attach = stage(cfg.pairs) + cfg.attach_seconds
    start = math.ceil(cfg.instances / MAX_START_IDS) * latency + cfg.start_seconds
    switch = stage(cfg.records)
    return {
        "seconds": round(storage + attach + start + switch, 3),
        "storage": storage,
        "attach": round(attach, 3),
        "start": round(start, 3),
        "switch": round(switch, 3),
    }


# ------------------------------------------------------------------------------ the naive script
def naive_recovery(endpoint: str, credential: Mapping[str, str], recovery_plan: Mapping[str, Any]) -> dict[str, Any]:
    """An operator's script: each step in turn, one call at a time, polling each state it waits for."""
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from aliyunsdkcore.auth.credentials import StsTokenCredential
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest
    from aliyunsdkebs.request.v20210730.DescribeDiskReplicaPairsRequest import DescribeDiskReplicaPairsRequest
    from aliyunsdkebs.request.v20210730.FailoverDiskReplicaPairRequest import FailoverDiskReplicaPairRequest
    from aliyunsdkecs.request.v20140526.AttachDiskRequest import AttachDiskRequest
    from aliyunsdkecs.request.v20140526.DescribeDisksRequest import DescribeDisksRequest
    from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest
    from aliyunsdkecs.request.v20140526.StartInstancesRequest import StartInstancesRequest

    cred = StsTokenCredential(credential["accessKeyId"], credential["accessKeySecret"], credential["securityToken"])
    client = AcsClient(region_id=DR, credential=cred, auto_retry=False, timeout=10, connect_timeout=3)
    calls, errors = 0, Counter[str]()

    def call(request: Any) -> dict[str, Any]:
        nonlocal calls
        request.set_endpoint(endpoint)
        for _ in range(20):  # bounded: a call failing 20 times in a row is left undone
            calls += 1
            try:
                return dict(json.loads(client.do_action_with_exception(request)))
            except (ServerException, ClientException) as exc:
                code = str(exc.get_error_code())
                errors[code] += 1
                if code.startswith("Throttling"):
                    time.sleep(1.0)
                elif code in ("IncorrectDiskStatus", "IncorrectInstanceStatus", "DomainRecordDuplicate"):
                    return {}
        return {}

    def wait_until(done: Callable[[], bool], limit: float = 600.0) -> None:
        give_up = time.monotonic() + limit
        while not done() and time.monotonic() < give_up:
            time.sleep(POLL_SECONDS)

    def disk(did: str) -> dict[str, Any]:
        req = DescribeDisksRequest()
        req.set_DiskIds(json.dumps([did]))
        found = (call(req).get("Disks") or {}).get("Disk") or []
        return dict(found[0]) if found else {}

    def instance(iid: str) -> dict[str, Any]:
        req = DescribeInstancesRequest()
        req.set_InstanceIds(json.dumps([iid]))
        found = (call(req).get("Instances") or {}).get("Instance") or []
        return dict(found[0]) if found else {}

    received = time.time()
    req = DescribeDiskReplicaPairsRequest()
    req.set_Site("backup")
    req.set_MaxResults(500)
    pairs: dict[str, dict[str, Any]] = {}
    token = ""
    for _ in range(10_000):  # pages
        if token:
            req.set_NextToken(token)
        page = call(req)
        pairs.update({str(p["ReplicaPairId"]): p for p in page.get("ReplicaPairs") or []})
        token = str(page.get("NextToken") or "")
        if not token:
            break
    owner = {pid: s["instanceId"] for s in recovery_plan["standbys"] for pid in s["takes"]}
    for pid in owner:  # storage, one pair at a time
        fo = FailoverDiskReplicaPairRequest()
        fo.set_ReplicaPairId(pid)
        fo.set_ClientToken(secrets.token_hex(16))
        call(fo)
    for pid, iid in owner.items():  # compute: wait for the disk, attach it
        did = str(pairs.get(pid, {}).get("DestinationDiskId") or "")
        if not did:
            continue
        wait_until(lambda did=did: disk(did).get("Status") == "Available")  # type: ignore[misc]
        attach = AttachDiskRequest()
        attach.set_InstanceId(iid)
        attach.set_DiskId(did)
        attach.set_DeleteWithInstance(False)
        call(attach)
    disks_of: dict[str, list[str]] = {}
    for pid, iid in owner.items():
        disks_of.setdefault(iid, []).append(str(pairs.get(pid, {}).get("DestinationDiskId") or ""))
    for iid, dids in disks_of.items():  # start each standby once its disks are attached
        wait_until(lambda dids=dids: all(disk(d).get("Status") == "In_use" for d in dids if d))  # type: ignore[misc]
        start = StartInstancesRequest()
        start.set_InstanceIds([iid])
        call(start)
    for rec in recovery_plan["records"]:  # traffic: each record once its instances run
        for iid in rec["after"]:
            wait_until(lambda iid=iid: instance(iid).get("Status") == "Running")  # type: ignore[misc]
        update = CommonRequest(version="2015-01-09", action_name="UpdateDomainRecord", product="Alidns")
        update.set_method("POST")
        for key, value in (("RecordId", rec["recordId"]), ("RR", rec["rr"]), ("Type", rec["type"]),
                           ("Value", rec["value"])):  # fmt: skip
            update.add_query_param(key, value)
        call(update)
    return {"received": received, "returned": time.time(), "apiCalls": calls, "errors": dict(errors)}


# ------------------------------------------------------------------------------ measuring
def analyse(
    ledger: Mapping[str, list[dict[str, Any]]], cfg: RecoveryBenchConfig, received: float, offset: float
) -> dict[str, Any]:
    """The RTO and the per-step effect counts, from the ledger (the API's view)."""
    effects = ledger["effects"]

    def steps(kind: str) -> Counter[str]:
        return Counter(str(e["targetId"]) for e in effects if e.get("targetType") == kind and e.get("service"))

    switches = [float(e["time"]) - offset for e in effects if e.get("targetType") == "domainRecord"]
    switched = steps("domainRecord")
    missed = [rid for rid in record_ids(cfg) if rid not in switched]
    rto = round(max(switches) - received, 3) if switches and not missed else None
    b = bound(cfg)["seconds"]
    requests = ledger["requests"]
    per_step = {"attach": steps("disk"), "start": steps("instance"), "switch": switched}
    return {
        "rtoSeconds": rto,
        "ratioToBound": None if rto is None else round(rto / b, 3),
        "missedRecords": len(missed),
        "apiCalls": len(requests),
        "throttles": sum(1 for r in requests if str(r.get("code") or "").startswith("Throttling")),
        "effects": {k: sum(c.values()) for k, c in per_step.items()},
        "maxEffectsPerStep": max((max(c.values(), default=0) for c in per_step.values()), default=0),
    }


def run_side(emu: EmulatorProcess, cfg: RecoveryBenchConfig, mode: str) -> dict[str, Any]:
    from chaos.emulator.config import (
        DEFAULT_STS_ACCESS_KEY_ID,
        DEFAULT_STS_ACCESS_KEY_SECRET,
        DEFAULT_STS_SECURITY_TOKEN,
    )
    from chaos.template import code_dir

    seed(emu, cfg)
    offset = emu.clock_offset()
    credential = {"accessKeyId": DEFAULT_STS_ACCESS_KEY_ID, "accessKeySecret": DEFAULT_STS_ACCESS_KEY_SECRET,
                  "securityToken": DEFAULT_STS_SECURITY_TOKEN}  # fmt: skip
    spec: dict[str, Any] = {"credential": credential, "endpoint": emu.url.split("://", 1)[1]}
    timeout = CHILD_SLACK_SECONDS + 4 * bound(cfg)["seconds"]
    if mode == "naive":
        spec.update(mode="naive-recovery", plan=plan(cfg))
        timeout += 4 * cfg.pairs * (cfg.latency_ms / 1000 + POLL_SECONDS) + cfg.instances * POLL_SECONDS
        child = run_child(spec, timeout)
        figures = analyse(emu.control("GET", "ledger"), cfg, float(child["received"]), offset)
        figures["errors"] = child.get("errors")
        figures["peakRssMb"] = child.get("peakRssMb")
        return figures
    directory = code_dir()
    name = f".bench-recovery-plan-{secrets.token_hex(6)}.json"
    (directory / name).write_text(json.dumps(plan(cfg)), encoding="utf-8")
    try:
        env = function_env(cfg.storage(), emu.url)
        # the recovery reads between its stages every poll interval: a tenth of a second keeps it off the RTO
        env.update(ECS_ENDPOINT=emu.url, DNS_ENDPOINT=emu.url, FAILOVER_RECOVERY_PLAN=name,
                   FAILOVER_VERIFY_POLL_SECONDS="0.1")  # fmt: skip
        event = {"action": "failover", "primaryRegion": PRIMARY, "reason": "bench", "incidentId": "bench-rto"}
        spec.update(mode="function", env=env, timeout=60 + 4 * bound(cfg)["seconds"], event=event,
                    codeDir=str(directory))  # fmt: skip
        first: dict[str, Any] | None = None
        statuses = []
        for _ in range(max(1, cfg.invocations)):  # FC re-runs a pending invocation; each run resumes
            child = run_child(spec, timeout)
            first = first or child
            statuses.append(child.get("status"))
            if child.get("status") != "pending":
                break
    finally:
        (directory / name).unlink(missing_ok=True)
    assert first is not None
    figures = analyse(emu.control("GET", "ledger"), cfg, float(first["received"]), offset)
    figures.update(statuses=statuses, reason=child.get("reason"), peakRssMb=child.get("peakRssMb"))
    return figures


def camel(cfg: RecoveryBenchConfig) -> dict[str, Any]:
    from pydantic.alias_generators import to_camel

    return {to_camel(k): v for k, v in asdict(cfg).items()}


def run_recovery_bench(cfg: RecoveryBenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    cfg.validate()
    say = progress or (lambda _phase: None)
    report: dict[str, Any] = {"config": camel(cfg), "bound": bound(cfg), "target": "rto <= 1.2 x bound"}
    say("starting the emulator")
    with emulator_process() as emu:
        say(f"function: recovering {cfg.pairs} pairs, {cfg.instances} instances, {cfg.records} records")
        report["function"] = run_side(emu, cfg, "function")
        if cfg.baseline:
            say("naive script: the same recovery one step at a time")
        report["baseline"] = run_side(emu, cfg, "naive") if cfg.baseline else None
    fn, base = report["function"], report["baseline"]
    report["meetsTarget"] = fn["ratioToBound"] is not None and fn["ratioToBound"] <= 1.2
    if base and fn["rtoSeconds"] and base["rtoSeconds"]:
        report["speedupOverBaseline"] = round(base["rtoSeconds"] / fn["rtoSeconds"], 2)
    return report


def render(report: dict[str, Any]) -> str:
    cfg, b, fn = report["config"], report["bound"], report["function"]
    base = report.get("baseline") or {}
    lines = [
        f"replica-failover bench --recovery: {cfg['pairs']} pairs, {cfg['instances']} instances, "
        f"{cfg['records']} records, latency {cfg['latencyMs']:g} ms, {cfg['rateLimit']:g} req/s per action, "
        f"Attaching {cfg['attachSeconds']:g} s, Starting {cfg['startSeconds']:g} s",
        f"bound: storage {b['storage']} + attach {b['attach']} + start {b['start']} + switch {b['switch']} "
        f"= {b['seconds']} s (target: RTO <= 1.2 x bound)",
        "",
        f"{'':<24}{'function':>14}{'naive script':>14}",
    ]
    for label, key in (("RTO (s)", "rtoSeconds"), ("ratio to bound", "ratioToBound"),
                       ("records not switched", "missedRecords"), ("API calls", "apiCalls"),
                       ("throttles", "throttles"), ("max effects per step", "maxEffectsPerStep"),
                       ("peak RSS (MB)", "peakRssMb")):  # fmt: skip
        a, c = fn.get(key), base.get(key)
        lines.append(f"{label:<24}{'-' if a is None else a!s:>14}{'-' if c is None else c!s:>14}")
    lines.append(f"function invocations: {', '.join(str(s) for s in fn.get('statuses') or [])} ({fn.get('reason')})")
    if "speedupOverBaseline" in report:
        lines.append(f"speed-up over the naive script: {report['speedupOverBaseline']}x")
    lines.append(f"meets the target: {'yes' if report.get('meetsTarget') else 'no'}")
    return "\n".join(lines)


def child_naive(spec: dict[str, Any]) -> dict[str, Any]:
    return naive_recovery(spec["endpoint"], spec["credential"], spec["plan"])
