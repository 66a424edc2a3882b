"""``replica-failover fanout bench``: a fleet failed over by fan-out, through real FC async invocations.

The case one invocation cannot carry: at N = 20,000 pairs, L = 300 ms and a region rate of
Q = 200 requests/s, one invocation with C = 16 calls in flight reaches C / L = 53 requests/s, so
its own floor is ``ceil(N / C) * L`` = 375 s whatever the rate. Fanned out, the workers together
can use the whole rate.

Method:

* **Processes.** The emulator runs in a child process (``emulator serve``) with the function's code
  directory on its path, FC's ``fc.isolation = "process"`` (every invocation in a process of its
  own, its peak RSS recorded) and ``fc.asyncConcurrency`` high enough that every worker runs at
  once. The bench registers the function with its real environment (fan-out on, the region's rate
  in FAILOVER_RATE_LIMIT, FC's endpoint the emulator) and async-invokes it with a manual failover
  event through FC 3.0 (alibabacloud-fc20230330), or FC 2.0 (aliyun-fc2). That invocation is the
  coordinator; it dispatches the workers through FC, as in production.
* **What is timed.** From the coordinator's start (its attempt's start in FC's records, so the
  coordinator's own process start and import are inside) to the last ``failovered`` transition in
  the ledger, both on the emulator's clock.
* **The bound.** chaos/bench_bound.py with the fleet's concurrency (workers x C) and with the
  workers' own planning describes (each reads its batch's ids, 100 a call) counted as calls
  through the bucket. For contrast, one invocation's bound at the same N, L, Q and C, and,
  with ``--measure-single``, one invocation measured by ``replica-failover bench``'s method.
* **From the ledger and FC's records.** Effects per target, calls per target and throttled answers
  from the ledger; workers, their attempts and peak RSS from FC's invocation records; each
  worker's share history from its returned result (FC 3.0).

Loopback only; the emulator process is stopped before this returns.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from chaos.bench import DR, PRIMARY, EmulatorProcess

FC2: Final = "2016-08-15"
FC3: Final = "2023-03-30"
FC3_NAME = "replica-failover"  # s.yaml's FC 3.0 function
FC2_NAMES = ("replica-failover", "failover")
COORDINATOR_TASK = "bench-fleet-coordinator"
WAIT_SLICE = 30.0  # seconds per /_emulator/fc/wait call


@dataclass(frozen=True)
class FleetConfig:
    pairs: int = 20_000
    latency_ms: float = 300.0
    rate_limit: float = 200.0  # requests/s: the region's bucket (burst = rate) and FAILOVER_RATE_LIMIT
    concurrency: int = 16  # FAILOVER_CONCURRENCY of every invocation
    batch_size: int = 2000  # FAILOVER_BATCH_SIZE: targets per worker
    api_version: Literal["2016-08-15", "2023-03-30"] = FC3
    seed: int = 1
    async_concurrency: int = 64  # the emulator's fc.asyncConcurrency: at least the workers
    timeout: float = 900.0  # the function's timeout, s
    share_refresh_seconds: float = 5.0
    measure_single: bool = False

    def check(self) -> None:
        if not 1 <= self.pairs <= 100_000:
            raise ValueError("--pairs must be within 1..100000")
        if self.latency_ms < 0 or self.rate_limit <= 0 or not 1 <= self.concurrency <= 256:
            raise ValueError("--latency-ms >= 0, --rate-limit > 0 and 1 <= --concurrency <= 256")
        if not 1 <= self.batch_size <= 2000:
            raise ValueError("--batch-size must be within 1..2000 (a batch event's limit)")
        if not 1 <= self.async_concurrency <= 256:
            raise ValueError("--async-concurrency must be within 1..256")
        if math.ceil(self.pairs / self.batch_size) > self.async_concurrency:
            raise ValueError("more workers than --async-concurrency: the shares assume every worker runs at once")


def names(api: str) -> tuple[str, str]:
    return (FC3_NAME, FC3_NAME) if api == FC3 else FC2_NAMES


def function_env(cfg: FleetConfig, url: str) -> dict[str, str]:
    service, function = names(cfg.api_version)
    return {
        "FAILOVER_PRIMARY_REGIONS": PRIMARY,
        "FAILOVER_DR_REGION": DR,
        "EBS_ENDPOINT": url,
        "FAILOVER_MAX_TARGETS": str(cfg.pairs),  # the blast-radius cap is the operator's: here, the fleet
        "FAILOVER_CONCURRENCY": str(cfg.concurrency),
        "FAILOVER_RETRY_BUDGET": str(min(100_000, 2 * cfg.pairs + 100)),
        "FAILOVER_MAX_ATTEMPTS": "12",
        "FAILOVER_VERIFY": "false",
        "FAILOVER_DEADLINE_MARGIN_SECONDS": "5",
        "FAILOVER_READ_TIMEOUT_SECONDS": "10",
        "FAILOVER_BATCH_SIZE": str(cfg.batch_size),
        "FAILOVER_RATE_LIMIT": f"{cfg.rate_limit:g}",
        "FAILOVER_SHARE_REFRESH_SECONDS": f"{cfg.share_refresh_seconds:g}",
        "FC_API_VERSION": cfg.api_version,
        "FC_ENDPOINT": url,
        "FAILOVER_SERVICE": service,
        "FAILOVER_FUNCTION": function,
    }


def bounds(cfg: FleetConfig, workers: int) -> dict[str, Any]:
    """The fleet's bound (workers x C in flight, the workers' planning describes through the bucket)
    and one invocation's (C in flight), both burst-aware."""
    from chaos.bench_bound import bound

    latency = cfg.latency_ms / 1000
    extra = planning_calls(cfg.pairs, workers)
    fleet = bound(cfg.pairs, latency_s=latency, rate=cfg.rate_limit, concurrency=cfg.concurrency * max(1, workers),
                  looks=extra).as_dict()  # fmt: skip
    fleet["workerPlanningCalls"] = extra
    single = bound(cfg.pairs, latency_s=latency, rate=cfg.rate_limit, concurrency=cfg.concurrency).as_dict()
    return {"fleet": fleet, "single": single}


def planning_calls(n: int, workers: int) -> int:
    """The describes the workers plan with: each reads its batch's ids, 100 a call (fanout/reads.py)."""
    if workers <= 1:
        return 0
    size = math.ceil(n / workers)
    sizes = [size] * (n // size) + ([n % size] if n % size else [])
    return sum(math.ceil(s / 100) for s in sizes)


# ------------------------------------------------------------------------------ the run
def prepare(emu: EmulatorProcess, cfg: FleetConfig) -> list[str]:
    emu.control("POST", "reset", {"config": True})
    delays = dict(emu.control("GET", "config")["transitionDelays"])
    delays["failovering"] = 0.0  # failovered the moment the call is applied: that instant is what is timed
    emu.control(
        "POST",
        "config",
        {
            "latencyMs": cfg.latency_ms,
            "rateLimits": [{"action": "*", "rate": cfg.rate_limit}],
            "transitionDelays": delays,
            "fc": {"asyncConcurrency": cfg.async_concurrency, "isolation": "process"},
        },
    )
    fleet = emu.control("POST", "fleet", {"pairs": cfg.pairs, "routes": [[PRIMARY, DR]], "seed": cfg.seed})
    service, function = names(cfg.api_version)
    emu.control(
        "POST",
        "functions",
        {
            "service": service,
            "name": function,
            "handler": "index:handler",
            "timeout": cfg.timeout,
            "memorySize": 512,
            "environment": function_env(cfg, emu.url),
            "maxAsyncRetryAttempts": 3,
        },
    )
    return [str(p) for p in fleet["pairs"]]


def invoke_coordinator(url: str, cfg: FleetConfig, event: bytes) -> str:
    """Async-invoke the function with the incident, through the FC API the config names; its request id."""
    from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

    service, function = names(cfg.api_version)
    if cfg.api_version == FC3:
        from alibabacloud_fc20230330 import models
        from alibabacloud_fc20230330.client import Client
        from alibabacloud_tea_openapi.utils_models import Config
        from darabonba.runtime import RuntimeOptions

        proto, _, host = url.partition("://")
        client = Client(Config(access_key_id=DEFAULT_ACCESS_KEY_ID, access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
                               endpoint=host, protocol=proto, read_timeout=30_000, connect_timeout=5_000))  # fmt: skip
        resp = client.invoke_function_with_options(
            function,
            models.InvokeFunctionRequest(body=event),
            models.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=COORDINATOR_TASK),
            RuntimeOptions(),
        )
        return str((resp.headers or {}).get("x-fc-request-id", ""))
    import fc2

    fc = fc2.Client(endpoint=url, accessKeyID=DEFAULT_ACCESS_KEY_ID, accessKeySecret=DEFAULT_ACCESS_KEY_SECRET,
                    Timeout=30)  # fmt: skip
    resp2 = fc.invoke_function(service, function, event, headers={"x-fc-invocation-type": "Async"})
    return str(resp2.headers.get("X-Fc-Request-Id", ""))


def wait_idle(emu: EmulatorProcess, seconds: float) -> bool:
    for _ in range(max(1, math.ceil(seconds / WAIT_SLICE))):
        if emu.control("POST", "fc/wait", {"timeout": WAIT_SLICE})["idle"]:
            return True
    return False


def run_fleet(cfg: FleetConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    cfg.check()
    say = progress or (lambda _phase: None)
    from chaos.template import code_dir

    path = os.pathsep.join(p for p in (str(code_dir()), os.environ.get("PYTHONPATH", "")) if p)
    from pydantic.alias_generators import to_camel

    report: dict[str, Any] = {"config": {to_camel(k): v for k, v in asdict(cfg).items()}}
    say("starting the emulator")
    emu = EmulatorProcess(env={**os.environ, "PYTHONPATH": path})
    try:
        say(f"seeding {cfg.pairs} pairs")
        targets = prepare(emu, cfg)
        event = {"action": "failover", "primaryRegion": PRIMARY, "reason": "fleet bench", "incidentId": "fleet-1"}
        cpu_before = emu.cpu_seconds()
        say(f"invoking the coordinator through FC {cfg.api_version}")
        request_id = invoke_coordinator(emu.url, cfg, json.dumps(event).encode())
        say("waiting for the workers")
        idle = wait_idle(emu, 2 * cfg.timeout + 60)
        cpu_after = emu.cpu_seconds()
        say("reading the ledger")
        ledger = emu.control("GET", "ledger")
        invocations = emu.control("GET", "fc/invocations")
        report["fleet"] = analyse(ledger, invocations, targets, request_id, cfg)
        report["fleet"]["fcIdle"] = idle
        report["fleet"]["emulatorCpuSeconds"] = (
            round(cpu_after - cpu_before, 3) if cpu_before is not None and cpu_after is not None else None
        )
        report["bound"] = bounds(cfg, int(report["fleet"]["workers"]))
        elapsed = report["fleet"]["timeToAllFailoveredSeconds"]
        report["fleet"]["ratioToBound"] = (
            None if elapsed is None else round(elapsed / report["bound"]["fleet"]["seconds"], 3)
        )
        report["single"] = {"measured": False, "boundSeconds": report["bound"]["single"]["seconds"]}
        if cfg.measure_single:
            say("one invocation, no fan-out, same N/L/Q/C (minutes)")
            report["single"] = measure_single(emu, cfg)
    finally:
        emu.stop()
    return report


def measure_single(emu: EmulatorProcess, cfg: FleetConfig) -> dict[str, Any]:
    from chaos.bench import BenchConfig, run_once

    single = BenchConfig(pairs=cfg.pairs, latency_ms=cfg.latency_ms, rate_limit=cfg.rate_limit,
                         concurrency=cfg.concurrency, seed=cfg.seed, baseline=False, cold_start_runs=0)  # fmt: skip
    figures = run_once(emu, single, "function")
    keep = ("timeToAllFailoveredSeconds", "ratioToBound", "apiCallsPerTarget", "throttles", "effectsPerTarget",
            "missedTargets", "peakRssMb", "status")  # fmt: skip
    return {"measured": True, **{k: figures.get(k) for k in keep}}


# ------------------------------------------------------------------------------ measuring
def _ebs(request: Mapping[str, Any]) -> bool:
    return str(request.get("action", "")).startswith(("Describe", "Failover"))


def analyse(
    ledger: Mapping[str, list[dict[str, Any]]],
    invocations: Mapping[str, list[dict[str, Any]]],
    targets: list[str],
    request_id: str,
    cfg: FleetConfig,
) -> dict[str, Any]:
    """The run's figures, from the ledger (the API's view) and FC's records (the workers)."""
    wanted = set(targets)
    function = names(cfg.api_version)[1]
    records = [r for r in invocations["invocations"] if r["type"] == "Async" and r["function"] == function]
    coordinator = next((r for r in records if r["requestId"] == request_id), records[0] if records else None)
    workers = [r for r in records if r is not coordinator and r["status"] != "Rejected"]
    start = _attempt_start(coordinator)
    done: dict[str, float] = {}
    for t in ledger["transitions"]:
        if t.get("to") == "failovered" and t["targetId"] in wanted:
            done[t["targetId"]] = min(done.get(t["targetId"], math.inf), float(t["time"]))
    missed = len(wanted - set(done))
    elapsed = round(max(done.values()) - start, 3) if done and not missed and start is not None else None
    requests = [r for r in ledger["requests"] if _ebs(r)]
    throttled = sum(1 for r in requests if str(r.get("code") or "").startswith("Throttling"))
    effects = Counter(str(e["targetId"]) for e in ledger["effects"] if e["targetId"] in wanted)
    per_target = Counter(effects[t] for t in targets)
    rss = [_peak(w) for w in workers]
    rss_known = [r for r in rss if r is not None]
    n = max(1, len(targets))
    return {
        "apiVersion": cfg.api_version,
        "timeToAllFailoveredSeconds": elapsed,
        "missedTargets": missed,
        "workers": len(workers),
        "workerAttempts": sum(len(w["attempts"]) for w in workers),
        "workerStatuses": dict(Counter(str(w["status"]) for w in workers)),
        "coordinatorStatus": coordinator["status"] if coordinator else None,
        "coordinatorPeakRssMb": _peak(coordinator) if coordinator else None,
        "apiCalls": len(requests),
        "callsPerTarget": round(len(requests) / n, 4),
        "writeCalls": sum(1 for r in requests if str(r["action"]).startswith("Failover")),
        "describeCalls": sum(1 for r in requests if str(r["action"]).startswith("Describe")),
        "throttled": throttled,
        "throttledShare": round(throttled / len(requests), 4) if requests else None,
        "effectsPerTarget": {
            "min": min(per_target, default=0),
            "max": max(per_target, default=0),
            "exactlyOne": per_target.get(1, 0),
        },
        "peakRssMbPerWorker": {
            "max": max(rss_known, default=None),
            "median": round(statistics.median(rss_known), 1) if rss_known else None,
            "measured": len(rss_known),
        },
        "shares": _shares(workers),
        "timeline": _timeline(coordinator, workers, start, max(done.values()) if done else None),
    }


def _timeline(
    coordinator: Mapping[str, Any] | None, workers: list[dict[str, Any]], start: float | None, last: float | None
) -> dict[str, Any] | None:
    """Where the time went, seconds after the coordinator's start (FC's records, the emulator's clock)."""
    if coordinator is None or start is None:
        return None

    def at(value: Any) -> float | None:
        return None if value is None else round(float(value) - start, 3)

    starts = [a["start"] for w in workers for a in w["attempts"][:1] if a.get("start") is not None]
    ends = [w["attempts"][-1]["end"] for w in workers if w["attempts"] and w["attempts"][-1].get("end") is not None]
    handler = [a["durationMs"] / 1000 for w in workers for a in w["attempts"] if a.get("durationMs") is not None]
    return {
        "coordinatorEnd": at(coordinator["attempts"][0].get("end")) if coordinator["attempts"] else None,
        "firstWorkerStart": at(min(starts, default=None)),
        "lastWorkerStart": at(max(starts, default=None)),
        "firstWorkerEnd": at(min(ends, default=None)),
        "lastWorkerEnd": at(max(ends, default=None)),
        "lastFailovered": at(last),
        "workerHandlerSecondsMax": round(max(handler), 3) if handler else None,
    }


def _attempt_start(record: Mapping[str, Any] | None) -> float | None:
    if not record or not record["attempts"]:
        return None
    start = record["attempts"][0].get("start")
    return float(start) if start is not None else None


def _peak(record: Mapping[str, Any] | None) -> float | None:
    values = [float(a["peakRssMb"]) for a in (record or {}).get("attempts", []) if a.get("peakRssMb") is not None]
    return max(values) if values else None


def _shares(workers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the workers returned about their share (FC 3.0 keeps each worker's result)."""
    fans = []
    for w in workers:
        try:
            doc = json.loads(w.get("returnPayload") or "null")
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("fanout"), dict):
            fans.append(doc["fanout"])
    if not fans:
        return None
    return {
        "initial": sorted({f.get("rateShare") for f in fans if f.get("rateShare") is not None}),
        "finalMax": max((f.get("finalShare") or 0.0 for f in fans), default=None),
        "raised": sum(1 for f in fans if (f.get("finalShare") or 0) > (f.get("rateShare") or 0)),
        "refreshes": sum(int(f.get("shareRefreshes") or 0) for f in fans),
        "refreshErrors": sum(int(f.get("shareRefreshErrors") or 0) for f in fans),
    }


# ------------------------------------------------------------------------------ output
def render(report: Mapping[str, Any]) -> str:
    cfg, fig, b = report["config"], report["fleet"], report["bound"]
    rss, eff = fig["peakRssMbPerWorker"], fig["effectsPerTarget"]
    single = report["single"]
    lines = [
        f"fleet: N={cfg['pairs']} L={cfg['latencyMs']:g} ms Q={cfg['rateLimit']:g} req/s C={cfg['concurrency']} "
        f"batch={cfg['batchSize']} FC {fig['apiVersion']}",
        f"bound (fleet: {fig['workers']} workers x C in flight, {b['fleet']['workerPlanningCalls']} planning "
        f"describes of the workers counted): {b['fleet']['seconds']:.2f} s",
        f"measured (coordinator start -> last failovered): {_num(fig['timeToAllFailoveredSeconds'], '.2f')} s",
        f"ratio: {_num(fig['ratioToBound'], '.3f')} (target <= 1.15)",
        f"workers: {fig['workers']} ({fig['workerAttempts']} attempts, {fig['workerStatuses']}), "
        f"missed targets: {fig['missedTargets']}",
        f"calls per target: {fig['callsPerTarget']:.4f} ({fig['writeCalls']} writes, {fig['describeCalls']} describes)",
        f"effects per target: min {eff['min']} max {eff['max']} ({eff['exactlyOne']} targets with exactly one)",
        f"peak RSS per worker: max {_num(rss['max'], '.1f')} MB, median {_num(rss['median'], '.1f')} MB "
        f"({rss['measured']} measured; target <= 128 MB); coordinator {_num(fig['coordinatorPeakRssMb'], '.1f')} MB",
        f"throttled answers: {fig['throttled']} ({_num(fig['throttledShare'], '.2%')})",
        f"shares: {fig['shares']}",
    ]
    if single.get("measured"):
        lines.append(
            f"one invocation, no fan-out (measured): {_num(single['timeToAllFailoveredSeconds'], '.2f')} s, "
            f"{_num(single['ratioToBound'], '.3f')} x its bound {b['single']['seconds']:.2f} s"
        )
    else:
        lines.append(
            f"one invocation, no fan-out (its bound, not measured; C / L caps it): {b['single']['seconds']:.2f} s"
        )
    return "\n".join(lines)


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)
