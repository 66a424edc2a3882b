"""Throughput and added latency of the emulator on loopback.

    python benchmarks/emulator_bench.py [--requests N] [--clients C] [--pairs P]
                                        [--client-mode process|thread] [--json]

Method (docs/emulator.md, "Performance"):

1. Start the emulator with ``chaos.emulator.server.start`` on 127.0.0.1 and seed a fleet of P pairs
   (two routes into cn-shanghai, a third of them in groups).
2. Drive it with C concurrent clients issuing a realistic mix: 70 % ``DescribeDiskReplicaPairs``
   pages (token mode, MaxResults=50, walking to the last page and starting over) and 30 %
   ``FailoverDiskReplicaPair`` with a ClientToken per pair (the first call per pair is an effect,
   repeats are replays). Three phases, N requests each:

   * ``noop``: the same raw signed HTTP client against a no-op HTTP/1.1 keep-alive server
     (stdlib ``http.server``, fixed JSON answer): the floor of Python HTTP on this machine;
   * ``raw``: raw signed HTTP (``requests.Session`` per client, HMAC-SHA1 RPC signing written here);
   * ``sdk``: the real legacy SDK (``aliyunsdkcore.AcsClient`` + ``aliyunsdkebs`` request classes).

   ``raw`` minus ``noop`` is the emulator's added cost; ``sdk`` minus ``raw`` is SDK overhead.
3. Clients run in a separate process by default (``--client-mode process``) so they do not compete
   with the server for the GIL; with two cores the server then has one core to itself.
   ``--client-mode thread`` runs them in this process, as a pytest run would.

Reported per phase: requests/s, client-observed latency p50/p95/p99, the ledger's server-side
``durationMs`` p50/p95/p99 (time inside the emulator's ebs handler) and errors by code. Loops are
bounded, everything stays on 127.0.0.1 and every server is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

HOST = "127.0.0.1"
REGION = "cn-shanghai"  # every generated pair replicates into it: the secondary region
VERSION = "2021-07-30"
DESCRIBE_SHARE = 0.7
PAGE_SIZE = 50
TARGET_RPS = 1000.0
TARGET_ADDED_P99_MS = 5.0


# --------------------------------------------------------------------------- statistics
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return round(ordered[rank - 1], 3)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": round(max(values), 3) if values else 0.0,
    }


# ------------------------------------------------------------------------------ clients
@dataclass
class Workload:
    """What one phase's client side does; JSON-serialisable so a child process can run it."""

    client: str  # requests | lean | sdk
    endpoint: str
    requests: int
    clients: int
    pair_ids: list[str]
    access_key_id: str
    access_key_secret: str
    token_prefix: str
    seed: int = 0


@dataclass
class LoadResult:
    seconds: float
    cpu_seconds: float = 0.0  # CPU time of the client side (its process, or this one in thread mode)
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


def signed_query(params: dict[str, str], access_key_id: str, secret: str) -> str:
    """HMAC-SHA1 RPC signing (SignatureVersion 1.0), as aliyunsdkcore does it."""
    full = {
        **params,
        "Version": VERSION,
        "Format": "JSON",
        "Timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "AccessKeyId": access_key_id,
    }
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(full.items()))
    to_sign = f"POST&{_enc('/')}&{_enc(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    full["Signature"] = base64.b64encode(digest).decode()
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in full.items())


class _Plan:
    """One client's deterministic sequence of calls."""

    def __init__(self, work: Workload, client: int) -> None:
        self.rng = random.Random(work.seed * 1_000 + client)
        self.work = work
        self.next_token = ""
        self.pairs = work.pair_ids[client :: work.clients] or work.pair_ids

    def next_call(self) -> tuple[str, dict[str, str]]:
        if self.rng.random() < DESCRIBE_SHARE:
            params = {"RegionId": REGION, "MaxResults": str(PAGE_SIZE)}
            if self.next_token:
                params["NextToken"] = self.next_token
            return "DescribeDiskReplicaPairs", params
        # each client owns a slice of the fleet, as a sharded failover run would: two clients
        # never race on one ClientToken (that answers LastTokenProcessing, by design)
        pid = self.rng.choice(self.pairs)
        token = f"{self.work.token_prefix}-{pid}"
        return "FailoverDiskReplicaPair", {"RegionId": REGION, "ReplicaPairId": pid, "ClientToken": token}

    def observe(self, action: str, body: dict[str, Any]) -> None:
        if action == "DescribeDiskReplicaPairs":
            self.next_token = str(body.get("NextToken") or "")


Caller = Callable[[str, dict[str, str]], tuple[int, dict[str, Any]]]


def _raw_caller(work: Workload) -> Caller:
    import requests

    session = requests.Session()
    base = f"http://{work.endpoint}/?"

    def call(action: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        query = signed_query({**params, "Action": action}, work.access_key_id, work.access_key_secret)
        resp = session.post(base + query, timeout=10)
        return resp.status_code, dict(resp.json())

    return call


def _lean_caller(work: Workload) -> Caller:
    """Raw signed HTTP over one persistent ``http.client`` connection: the cheapest Python client."""
    import http.client

    host, port = work.endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def call(action: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        query = signed_query({**params, "Action": action}, work.access_key_id, work.access_key_secret)
        try:
            conn.request("POST", "/?" + query, headers={"Content-Length": "0"})
            resp = conn.getresponse()
            return resp.status, dict(json.loads(resp.read()))
        except (OSError, http.client.HTTPException):
            conn.close()  # reconnects on the next call
            raise

    return call


def _sdk_caller(work: Workload) -> Caller:
    import importlib

    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from aliyunsdkcore.client import AcsClient

    client = AcsClient(work.access_key_id, work.access_key_secret, REGION, timeout=10, connect_timeout=5)
    classes = {
        action: getattr(importlib.import_module(f"aliyunsdkebs.request.v20210730.{action}Request"), f"{action}Request")
        for action in ("DescribeDiskReplicaPairs", "FailoverDiskReplicaPair")
    }

    def call(action: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = classes[action]()
        request.set_endpoint(work.endpoint)
        for key, value in params.items():
            request.add_query_param(key, value)
        try:
            return 200, dict(json.loads(client.do_action_with_exception(request)))
        except ServerException as exc:
            return int(exc.get_http_status()), {"Code": exc.get_error_code()}
        except ClientException as exc:
            return 0, {"Code": exc.get_error_code()}

    return call


def run_load(work: Workload) -> LoadResult:
    """C threads, N requests in all (bounded), each timed on the client side."""
    make = {"sdk": _sdk_caller, "lean": _lean_caller}.get(work.client, _raw_caller)
    shares = [work.requests // work.clients + (1 if i < work.requests % work.clients else 0)
              for i in range(work.clients)]  # fmt: skip
    latencies: list[list[float]] = [[] for _ in range(work.clients)]
    errors: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    lock = threading.Lock()
    go = threading.Barrier(work.clients + 1)

    def client(n: int) -> None:
        caller, plan, mine = make(work), _Plan(work, n), latencies[n]
        go.wait()
        for _ in range(shares[n]):
            action, params = plan.next_call()
            started = time.perf_counter()
            try:
                status, body = caller(action, params)
            except Exception as exc:  # transport failure: counted, never fatal
                status, body = 0, {"Code": type(exc).__name__}
            mine.append((time.perf_counter() - started) * 1000)
            with lock:
                actions[action] += 1
                if status != 200:
                    errors[str(body.get("Code") or status)] += 1
            if status == 200:
                plan.observe(action, body)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(work.clients)]
    for t in threads:
        t.start()
    go.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    flat = [x for part in latencies for x in part]
    return LoadResult(round(seconds, 4), round(cpu, 4), flat, dict(errors), dict(actions))


def run_load_in_child(work: Workload) -> LoadResult:
    """The same load from a fresh interpreter, so client threads do not share the server's GIL."""
    proc = subprocess.run(  # noqa: S603 - our own script, fixed argv
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        input=json.dumps(asdict(work)), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"client process failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return LoadResult(**json.loads(proc.stdout))


# ---------------------------------------------------------------------- no-op baseline
class _NoopHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = json.dumps({"RequestId": "00000000-0000-0000-0000-000000000000", "NextToken": ""}).encode()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _NoopServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


# ------------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class Phase:
    name: str
    target: str  # noop | emulator
    client: str  # requests | lean | sdk
    concurrent: bool  # C clients, or one client calling sequentially (the latency phases)


PHASES = {
    p.name: p
    for p in (
        # throughput at C clients
        Phase("noop", "noop", "requests", True),
        Phase("raw", "emulator", "requests", True),
        Phase("lean-noop", "noop", "lean", True),
        Phase("lean", "emulator", "lean", True),
        Phase("sdk", "emulator", "sdk", True),
        # added latency: one client, no queueing, same client against both servers
        Phase("noop-1", "noop", "requests", False),
        Phase("raw-1", "emulator", "requests", False),
    )
}


def _phase_report(load: LoadResult, ledger_ms: list[float] | None, server_cpu: float, mode: str) -> dict[str, Any]:
    count = len(load.latencies_ms)
    return {
        "requests": count,
        "seconds": load.seconds,
        "rps": round(count / load.seconds, 1) if load.seconds else 0.0,
        "client_ms": summary(load.latencies_ms),
        # the ledger's durationMs: time inside the emulator's ebs handler
        "server_ms": summary(ledger_ms) if ledger_ms is not None else None,
        # CPU per request; the server's is only separable when clients run in their own process
        "client_cpu_us": round(load.cpu_seconds / count * 1e6, 1) if count else 0.0,
        "server_cpu_us": round(server_cpu / count * 1e6, 1) if count and mode == "process" else None,
        "errors": load.errors,
        "actions": load.actions,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the figures (also printed). Importable for the smoke test."""
    parser = argparse.ArgumentParser(
        prog="emulator_bench.py", description="Throughput and added latency of the emulator on loopback."
    )
    parser.add_argument("--requests", type=int, default=5000, help="requests per phase (default 5000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--pairs", type=int, default=500, help="pairs in the seeded fleet (default 500)")
    parser.add_argument("--client-mode", choices=("process", "thread"), default="process",
                        help="clients in a child process (no GIL shared with the server) or threads")  # fmt: skip
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma list of {','.join(PHASES)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="print nothing (for tests)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # the client side of --client-mode process: spec on stdin, result on stdout
        result = asdict(run_load(Workload(**json.load(sys.stdin))))
        print(json.dumps(result))
        return result
    if args.requests < 1 or args.clients < 1 or args.pairs < 1:
        parser.error("--requests, --clients and --pairs must be positive")
    names = [p for p in args.phases.split(",") if p]
    if not names or any(p not in PHASES for p in names):
        parser.error(f"--phases: choose from {','.join(PHASES)}")

    from chaos.emulator.app import Emulator
    from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
    from chaos.emulator.ebs.models import FleetSpec
    from chaos.emulator.server import start

    runner = run_load_in_child if args.client_mode == "process" else run_load
    emulator = Emulator(region=REGION)
    fleet = emulator.backend.generate(
        FleetSpec(pairs=args.pairs, group_size=4, grouped_fraction=0.33, seed=1,
                  routes=[("cn-hangzhou", REGION), ("cn-beijing", REGION)], tags={"app": "bench"})
    )  # fmt: skip
    handle = start(emulator, HOST, 0)
    noop = _NoopServer((HOST, 0), _NoopHandler)
    noop_thread = threading.Thread(target=noop.serve_forever, name="noop", daemon=True)
    noop_thread.start()
    endpoints = {"noop": f"{HOST}:{noop.server_address[1]}", "emulator": handle.endpoint}
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"requests": args.requests, "clients": args.clients, "pairs": args.pairs,
                     "clientMode": args.client_mode, "describeShare": DESCRIBE_SHARE, "pageSize": PAGE_SIZE},
        "phases": {},
    }  # fmt: skip
    try:
        for name in names:
            phase = PHASES[name]
            work = Workload(
                client=phase.client, endpoint=endpoints[phase.target], requests=args.requests,
                clients=args.clients if phase.concurrent else 1, pair_ids=fleet["pairs"],
                access_key_id=DEFAULT_ACCESS_KEY_ID, access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
                token_prefix=f"bench-{name}",
            )  # fmt: skip
            since = emulator.ledger.counts()["requests"]
            server_cpu = time.process_time()
            load = runner(work)
            server_cpu = time.process_time() - server_cpu
            ledger_ms = None
            if phase.target == "emulator":
                emulator.ledger.wait_for_requests(since + len(load.latencies_ms), timeout=10)
                ledger_ms = [float(r["durationMs"]) for r in emulator.ledger.snapshot(since=since)["requests"]]
            report["phases"][name] = _phase_report(load, ledger_ms, server_cpu, args.client_mode)
    finally:
        handle.stop()
        noop.shutdown()
        noop.server_close()
        noop_thread.join(timeout=10)

    got = report["phases"]
    report["errors"] = sum(sum(p["errors"].values()) for p in got.values())
    report["effects"] = emulator.ledger.counts()["effects"]
    if "noop-1" in got and "raw-1" in got:
        report["added_ms"] = {q: round(got["raw-1"]["client_ms"][q] - got["noop-1"]["client_ms"][q], 3)
                              for q in ("p50", "p95", "p99")}  # fmt: skip
    # what one core could serve: load-independent, unlike req/s on a machine shared with others
    cpu = [got[n]["server_cpu_us"] for n in ("raw", "lean", "sdk", "raw-1") if n in got and got[n]["server_cpu_us"]]
    if cpu:
        report["server_cpu_us_per_request"] = round(min(cpu), 1)
        report["server_capacity_rps"] = round(1e6 / min(cpu))
    best = max((got[n]["rps"] for n in ("raw", "lean", "sdk") if n in got), default=None)
    if best is not None:
        report["targets"] = {"rps>=1000": best >= TARGET_RPS}
    if "added_ms" in report:
        report.setdefault("targets", {})["addedP99<=5ms"] = report["added_ms"]["p99"] <= TARGET_ADDED_P99_MS
    if not args.quiet:
        print(json.dumps(report, indent=2) if args.json else render(report))
    return report


def render(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        f"emulator benchmark: {s['requests']} requests/phase, {s['clients']} clients ({s['clientMode']}), "
        f"{s['pairs']} pairs, {report['machine']['cpus']} CPUs, Python {report['machine']['python']}",
        f"{'phase':<10} {'req/s':>7} {'client p50':>10} {'p95':>7} {'p99':>7} {'server p50':>10} {'p95':>6} "
        f"{'p99':>6} {'cpu/req client':>14} {'server':>7} {'errors':>6}",
    ]
    for name, p in report["phases"].items():
        c, srv = p["client_ms"], p["server_ms"]
        server_cols = (f"{srv['p50']:>10.3f} {srv['p95']:>6.2f} {srv['p99']:>6.2f}" if srv
                       else f"{'-':>10} {'-':>6} {'-':>6}")  # fmt: skip
        scpu = f"{p['server_cpu_us']:>5.0f}us" if p["server_cpu_us"] is not None else f"{'-':>7}"
        lines.append(
            f"{name:<10} {p['rps']:>7.0f} {c['p50']:>10.3f} {c['p95']:>7.2f} {c['p99']:>7.2f} {server_cols} "
            f"{p['client_cpu_us']:>12.0f}us {scpu} {sum(p['errors'].values()):>6}"
        )
    if "added_ms" in report:
        a = report["added_ms"]
        lines.append(f"added by the emulator (raw-1 minus noop-1, client-observed): "
                     f"p50 {a['p50']} ms, p95 {a['p95']} ms, p99 {a['p99']} ms")  # fmt: skip
    if "targets" in report:
        lines.append("targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in report["targets"].items()))
    if "server_capacity_rps" in report:
        lines.append(f"server CPU per request: {report['server_cpu_us_per_request']} us "
                     f"(one core serves about {report['server_capacity_rps']} req/s)")  # fmt: skip
    lines.append(f"errors: {report['errors']}; effects applied: {report['effects']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
