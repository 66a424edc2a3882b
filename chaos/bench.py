"""``replica-failover bench``: how close the failover function runs to the cloud API's lower bound.

Method (docs/performance.md has the long form and the figures):

* **Three processes.** The emulator runs as ``replica-failover emulator serve --port 0`` in a child
  process and is driven through its HTTP ``/_emulator/`` control plane; the function runs in a
  second child (``python -m chaos.bench --child``) that imports the FC entry module ``index`` and
  calls ``index.handler(event, context)`` exactly as FC would, with its real environment knobs.
  Why: this machine has two cores and CPython one GIL per process. In one process the emulator's
  HTTP server and the function's 16 SDK threads would queue behind each other's bytecode, and the
  figure would measure that contention rather than the function. Separate processes give each side
  its own core, make the function's peak RSS its own, and keep this orchestrator (which parses the
  ledger) out of both.
* **What is timed.** From the moment the function process hands the event to the handler until the
  last target's transition to ``failovered`` in the emulator's ledger (``transitionDelays.failovering
  = 0``, so ``failovered`` is the instant the API applied the call). ``FAILOVER_VERIFY=false``: the
  state is read from the emulator, not polled by the function. The emulator clock's offset from
  this host's wall clock is measured once per run and subtracted.
* **The bound.** chaos/bench_bound.py: ``pages * L + max((M - B) / Q, ceil(M / C) * L) + L``, with
  the bucket's burst B and M the writes and looks the injected faults make unavoidable (their
  expectation for ``bound``; the ones that fired, from the ledger, for each run's ``floor``).
* **Faults.** ``--fault-rate F``: each ``FailoverDiskReplicaPair`` call, retries included, answers
  504 ``RequestTimeout`` with probability F, half of them before the change is applied and half
  after (a lost acknowledgement). Two seeded rules, the second drawn only when the first did not
  fire, with probability ``(F/2) / (1 - F/2)``, so each half is F/2 of all calls.
* **Baseline.** The same fleet, reset and re-seeded, failed over by a naive sequential loop over the
  legacy SDK (describe pages, then one ``FailoverDiskReplicaPair`` at a time, retrying a failed call
  with the same ClientToken), in its own process, timed the same way.
* **Cold start.** Median over fresh interpreters of ``import index`` (from functions/failover)
  against a bare ``import aliyunsdkcore.client``, each timed inside its interpreter.

Loopback only; every child process is stopped (SIGTERM, then SIGKILL) before this returns.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PRIMARY, DR = "cn-hangzhou", "cn-shanghai"
HOST = "127.0.0.1"
PAGE_SIZE = 500  # what the function asks DescribeDiskReplicaPairs for (ebs.py)
STARTUP_TIMEOUT = 30.0
CHILD_SLACK_SECONDS = 120.0


@dataclass(frozen=True)
class BenchConfig:
    pairs: int = 1000
    latency_ms: float = 50.0
    rate_limit: float = 100.0  # requests/s, one bucket for every ebs action; 0: no limit
    fault_rate: float = 0.0
    concurrency: int = 16
    seed: int = 1
    baseline: bool = True
    cold_start_runs: int = 11
    cold_start_python: str | None = None  # measure cold start on another interpreter (the runtime's)
    max_attempts: int = 12


# ------------------------------------------------------------------------------ emulator process
class EmulatorProcess:
    """``replica-failover emulator serve --port 0`` in a child process, driven over /_emulator/."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        # a file, not a pipe: a pipe nobody reads could fill and stall the server; closed in stop()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            [sys.executable, "-m", "chaos.cli", "emulator", "serve", "--host", HOST, "--port", "0", "--region", DR],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=None if env is None else dict(env),
        )
        line = _read_line(self.proc, STARTUP_TIMEOUT)
        try:
            self.url = str(json.loads(line)["endpoint"])
        except (ValueError, KeyError):
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line!r} {self.stderr()}") from None
        import requests

        self._session = requests.Session()

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode(errors="replace")

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self._session.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=120)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} /_emulator/{path}: {resp.status_code} {resp.text[:500]}")
        return resp.json()

    def clock_offset(self) -> float:
        """Emulator clock minus this host's wall clock, from the fastest of five round trips."""
        best: tuple[float, float] | None = None
        for _ in range(5):
            before = time.time()
            now = float(self.control("GET", "clock")["now"])
            after = time.time()
            if best is None or after - before < best[0]:
                best = (after - before, now - (before + after) / 2)
        assert best is not None
        return best[1]

    def cpu_seconds(self) -> float | None:
        """user + system CPU of the emulator process so far (Linux /proc; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, or "" after ``timeout`` (readline alone could block forever)."""
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    return out[0] if out else ""


@contextmanager
def emulator_process() -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess()
    try:
        yield emu
    finally:
        emu.stop()


# ------------------------------------------------------------------------------ scenario
def fault_rules(rate: float, seed: int) -> list[dict[str, Any]]:
    """F of failover calls answer 504: F/2 before apply, F/2 after (conditional on the first not firing)."""
    if rate <= 0:
        return []
    half = rate / 2
    error = {"status": 504, "code": "RequestTimeout"}
    return [
        {"id": "504-before", "action": "FailoverDiskReplicaPair", "probability": half, "phase": "before",
         "seed": seed * 2 + 1, "error": error},
        {"id": "504-after", "action": "FailoverDiskReplicaPair", "probability": min(1.0, half / (1 - half)),
         "phase": "after", "seed": seed * 2 + 2, "error": error},
    ]  # fmt: skip


def prepare(emu: EmulatorProcess, cfg: BenchConfig) -> list[str]:
    """Fresh state: config (latency, flow control, instant failovering), the fleet, the fault rules."""
    emu.control("POST", "reset", {"config": True})
    delays = dict(emu.control("GET", "config")["transitionDelays"])
    delays["failovering"] = 0.0  # failovered the moment the call is applied: that instant is what we time
    emu.control(
        "POST",
        "config",
        {
            "latencyMs": cfg.latency_ms,
            "rateLimits": [{"action": "*", "rate": cfg.rate_limit}] if cfg.rate_limit > 0 else [],
            "transitionDelays": delays,
        },
    )
    fleet = emu.control("POST", "fleet", {"pairs": cfg.pairs, "routes": [[PRIMARY, DR]], "seed": cfg.seed})
    emu.control("POST", "faults", {"rules": fault_rules(cfg.fault_rate, cfg.seed)})
    return [str(p) for p in fleet["pairs"]]


def bound_seconds(cfg: BenchConfig) -> dict[str, Any]:
    """The burst- and fault-aware bound (chaos/bench_bound.py), with the faults' expected forced calls."""
    from chaos.bench_bound import bound

    return bound(
        cfg.pairs,
        latency_s=cfg.latency_ms / 1000,
        rate=cfg.rate_limit,
        concurrency=cfg.concurrency,
        fault_rate=cfg.fault_rate,
    ).as_dict()


def function_env(cfg: BenchConfig, url: str) -> dict[str, str]:
    """The function's real knobs; the retry budget is sized to the fleet so it is never what stops a run."""
    return {
        "FAILOVER_PRIMARY_REGIONS": PRIMARY,
        "FAILOVER_DR_REGION": DR,
        "EBS_ENDPOINT": url,
        "FAILOVER_MAX_TARGETS": str(max(1, min(100_000, cfg.pairs))),
        "FAILOVER_CONCURRENCY": str(cfg.concurrency),
        "FAILOVER_RETRY_BUDGET": str(min(100_000, 2 * cfg.pairs + 100)),
        "FAILOVER_MAX_ATTEMPTS": str(cfg.max_attempts),
        "FAILOVER_VERIFY": "false",
        "FAILOVER_DEADLINE_MARGIN_SECONDS": "5",
        "FAILOVER_READ_TIMEOUT_SECONDS": "10",
    }


def function_timeout(cfg: BenchConfig) -> float:
    b = float(bound_seconds(cfg)["seconds"])
    return round(60 + 4 * b * (1 + 2 * cfg.fault_rate), 1)


# ------------------------------------------------------------------------------ child processes
def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """``python -m chaos.bench --child`` with ``spec`` on stdin; its report comes back through a file."""
    with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
        out = Path(tmp) / "report.json"
        proc = subprocess.run(
            [sys.executable, "-m", "chaos.bench", "--child"],
            input=json.dumps({**spec, "out": str(out)}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"bench child ({spec['mode']}) failed ({proc.returncode}): {proc.stderr[-3000:]}")
        report: dict[str, Any] = json.loads(out.read_text())
        return report


def child_main() -> None:
    """The child side: run the function (or the naive loop) once and write what it saw."""
    spec = json.load(sys.stdin)
    if spec["mode"] == "naive-recovery":
        from chaos.bench_recovery import child_naive

        report = child_naive(spec)
    else:
        report = _child_function(spec) if spec["mode"] == "function" else _child_naive(spec)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report["peakRssMb"] = round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB
    report["cpuSeconds"] = round(usage.ru_utime + usage.ru_stime, 3)
    Path(spec["out"]).write_text(json.dumps(report))


def _child_function(spec: dict[str, Any]) -> dict[str, Any]:
    from chaos.emulator.config import DEFAULT_ACCOUNT_ID, Credential
    from chaos.emulator.fc import FunctionSpec, make_context
    from chaos.template import ensure_importable

    os.environ.update(spec["env"])
    ensure_importable(Path(spec["codeDir"]))
    fn = FunctionSpec(service="replica-failover", name="failover", handler="index:handler", timeout=spec["timeout"])
    context = make_context(
        fn,
        request_id="bench",
        credential=Credential.model_validate(spec["credential"]),
        region=DR,
        account_id=DEFAULT_ACCOUNT_ID,
    )
    event = json.dumps(spec["event"]).encode()
    import index  # the FC entry module, imported as FC would before the first invocation

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the function logs JSON lines to stdout (FC ships them to SLS): still written, just not kept
    real_stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 - closed in finally
    received = time.time()
    try:
        result: dict[str, Any] = json.loads(index.handler(event, context))
    except Exception as exc:  # PendingWork carries the result; anything else is reported as is
        carried = getattr(exc, "result", None)
        result = carried if isinstance(carried, dict) else {"status": "error", "reason": repr(exc)}
    finally:
        returned = time.time()
        sys.stdout.close()
        sys.stdout = real_stdout
    return {
        "received": received,
        "returned": returned,
        "rssBeforeInvokeMb": round(rss_before, 1),
        "status": result.get("status"),
        "reason": result.get("reason"),
        "summary": result.get("summary"),
        "apiCalls": result.get("apiCalls"),
        "writeCalls": result.get("writeCalls"),
        "retries": result.get("retries"),
        "retryBudgetLeft": result.get("retryBudgetLeft"),
    }


def _child_naive(spec: dict[str, Any]) -> dict[str, Any]:
    """What an operator's script does: list, then fail over one pair at a time, retrying in place."""
    import uuid

    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from aliyunsdkcore.auth.credentials import StsTokenCredential
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkebs.request.v20210730.DescribeDiskReplicaPairsRequest import DescribeDiskReplicaPairsRequest
    from aliyunsdkebs.request.v20210730.FailoverDiskReplicaPairRequest import FailoverDiskReplicaPairRequest

    c = spec["credential"]
    cred = StsTokenCredential(c["accessKeyId"], c["accessKeySecret"], c["securityToken"])
    client = AcsClient(region_id=DR, credential=cred, auto_retry=False, timeout=10, connect_timeout=3)
    endpoint = spec["endpoint"]
    calls, errors = 0, Counter[str]()

    def call(request: Any) -> dict[str, Any]:
        nonlocal calls
        request.set_endpoint(endpoint)
        for _ in range(20):  # bounded: a call that fails 20 times in a row is left undone
            calls += 1
            try:
                return dict(json.loads(client.do_action_with_exception(request)))
            except (ServerException, ClientException) as exc:
                code = str(exc.get_error_code())
                errors[code] += 1
                if code.startswith("Throttling"):
                    time.sleep(1.0)
        return {}

    received = time.time()
    pairs: list[dict[str, Any]] = []
    token = ""
    for _ in range(10_000):  # pages
        req = DescribeDiskReplicaPairsRequest()
        req.set_Site("backup")
        req.set_MaxResults(PAGE_SIZE)
        if token:
            req.set_NextToken(token)
        page = call(req)
        pairs.extend(page.get("ReplicaPairs") or [])
        token = str(page.get("NextToken") or "")
        if not token:
            break
    for pair in pairs:
        if pair.get("SourceRegion") != PRIMARY or pair.get("Status") in ("failovering", "failovered"):
            continue
        req = FailoverDiskReplicaPairRequest()
        req.set_ReplicaPairId(pair["ReplicaPairId"])
        req.set_ClientToken(uuid.uuid4().hex)  # one token per pair, kept across its retries
        call(req)
    return {"received": received, "returned": time.time(), "apiCalls": calls, "errors": dict(errors)}


# ------------------------------------------------------------------------------ measuring
def _pctl(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))], 2)


def _throttled(request: Mapping[str, Any]) -> bool:
    return str(request.get("code") or "").startswith("Throttling")


def analyse(
    ledger: Mapping[str, list[dict[str, Any]]], targets: list[str], received: float, offset: float, cfg: BenchConfig
) -> dict[str, Any]:
    """Figures of one run from the emulator's ledger (the API's view, not the function's)."""
    wanted = set(targets)
    requests = ledger["requests"]
    writes = [r for r in requests if str(r.get("action", "")).startswith("Failover")]
    throttled = [r for r in requests if _throttled(r)]
    effects = Counter(str(e["targetId"]) for e in ledger["effects"] if e["targetId"] in wanted)
    done: dict[str, float] = {}
    for t in ledger["transitions"]:
        if t.get("to") == "failovered" and t["targetId"] in wanted:
            done[t["targetId"]] = min(done.get(t["targetId"], math.inf), float(t["time"]) - offset)
    missed = sorted(wanted - set(done))
    late = [r for r in requests if float(r.get("wallTime", 0)) > received + 5]
    n = max(1, len(targets))
    bound = bound_seconds(cfg)
    elapsed = (max(done.values()) - received) if done and not missed else None
    served = [float(r["durationMs"]) for r in writes if r.get("code") is None]
    from chaos.bench_bound import floor_from_ledger

    floor = floor_from_ledger(
        requests, wanted, latency_s=cfg.latency_ms / 1000, rate=cfg.rate_limit, concurrency=cfg.concurrency
    ).as_dict()  # this run's bound: the writes and looks the faults that fired made unavoidable
    return {
        "floor": floor,
        "ratioToFloor": None if elapsed is None else round(elapsed / floor["seconds"], 3),
        "timeToAllFailoveredSeconds": None if elapsed is None else round(elapsed, 3),
        "ratioToBound": None if elapsed is None else round(elapsed / bound["seconds"], 3),
        "missedTargets": len(missed),
        "apiCalls": len(requests),
        "apiCallsPerTarget": round(len(requests) / n, 4),
        "writeCalls": len(writes),
        "describeCalls": sum(1 for r in requests if str(r.get("action", "")).startswith("Describe")),
        "retries": len(writes) - len(targets) if not missed else len(writes) - len(done),
        "throttles": len(throttled),
        "throttleShareAfter5s": round(sum(1 for r in late if _throttled(r)) / len(late), 4) if late else None,
        "callsAfter5s": len(late),
        "faults": sum(1 for r in requests if r.get("fault")),
        "replayed": sum(1 for r in requests if r.get("replayed")),
        "effectsPerTarget": {
            "min": min((effects[t] for t in targets), default=0),
            "max": max((effects[t] for t in targets), default=0),
        },
        "serverMsP50": _pctl(served, 50),
        "serverMsP99": _pctl(served, 99),
    }


def run_once(emu: EmulatorProcess, cfg: BenchConfig, mode: str) -> dict[str, Any]:
    from chaos.emulator.config import (
        DEFAULT_STS_ACCESS_KEY_ID,
        DEFAULT_STS_ACCESS_KEY_SECRET,
        DEFAULT_STS_SECURITY_TOKEN,
    )
    from chaos.template import code_dir

    targets = prepare(emu, cfg)
    offset = emu.clock_offset()
    credential = {"accessKeyId": DEFAULT_STS_ACCESS_KEY_ID, "accessKeySecret": DEFAULT_STS_ACCESS_KEY_SECRET,
                  "securityToken": DEFAULT_STS_SECURITY_TOKEN}  # fmt: skip
    spec: dict[str, Any] = {"mode": mode, "credential": credential, "endpoint": emu.url.split("://", 1)[1]}
    if mode == "function":
        event = {"action": "failover", "primaryRegion": PRIMARY, "reason": "bench", "incidentId": "bench-1"}
        spec.update(env=function_env(cfg, emu.url), timeout=function_timeout(cfg), event=event, codeDir=str(code_dir()))
        timeout = function_timeout(cfg) + CHILD_SLACK_SECONDS
    else:  # sequential: N calls at L each, and every retry on top
        timeout = CHILD_SLACK_SECONDS + 4 * cfg.pairs * (cfg.latency_ms / 1000 + 0.01) * (1 + 2 * cfg.fault_rate)
    cpu_before = emu.cpu_seconds()
    child = run_child(spec, timeout)
    cpu_after = emu.cpu_seconds()
    figures = analyse(emu.control("GET", "ledger"), targets, float(child["received"]), offset, cfg)
    figures["handlerSeconds"] = round(float(child["returned"]) - float(child["received"]), 3)
    figures["emulatorCpuSeconds"] = (
        round(cpu_after - cpu_before, 3) if cpu_before is not None and cpu_after is not None else None
    )
    figures["processCpuSeconds"] = child.get("cpuSeconds")
    figures["peakRssMb"] = child.get("peakRssMb")
    for key in ("status", "reason", "summary", "retryBudgetLeft", "rssBeforeInvokeMb", "errors"):
        if key in child:
            figures[key] = child[key]
    return figures


# ------------------------------------------------------------------------------ cold start
# Each probe runs in the function's code directory, which is how the code gets on its sys.path
# (``python -c`` puts the working directory first, as FC's runtime does with /code): the probe
# interpreter may be a bare runtime-image Python that has no chaos package to import a helper from.
_IMPORT_TIMER = "import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
# What FC does on a new instance, up to the first answer: import the entry module, run the
# initializer, handle one event. The event is a resolved alarm (a no-op), so no API call and no
# network: what is timed is the function's own cold path, with every boundary model built.
_FIRST_ANSWER_TIMER = """
import json, time, types
t = time.perf_counter()
import index
ctx = types.SimpleNamespace(region={dr!r}, request_id="cold-start", account_id={account!r},
                            function=types.SimpleNamespace(timeout=60), credentials=None)
index.initialize(ctx)
out = json.loads(index.handler({event!r}, ctx))
elapsed = (time.perf_counter() - t) * 1000
assert out["status"] == "noop" and out["apiCalls"] == 0, out
print(elapsed)
"""

def resolved_alarm() -> Path:
    """The project's sample of a CloudMonitor alarm back to OK (a no-op for the function), in the
    events/ directory beside the template, as in the repository."""
    from chaos.template import locate_template

    return locate_template().parent / "events" / "alert-ok.json"

COLD_START_ENV = {"FAILOVER_PRIMARY_REGIONS": PRIMARY, "FAILOVER_DR_REGION": DR, "FAILOVER_LOG_LEVEL": "ERROR"}


def cold_start(runs: int, python: str | None = None) -> dict[str, Any] | None:
    """Median over ``runs`` fresh interpreters each: importing the handler module vs the bare SDK client,
    and the handler's first answer (import + initializer + one no-op event).

    ``python``: the interpreter to measure on (default: this one), e.g. a virtualenv built from
    functions/failover/requirements.txt on the runtime image's Python version.

    Both sides import from bytecode. pip compiled the SDK's ``.pyc`` at install time, while this
    project's modules may have none (``PYTHONDONTWRITEBYTECODE=1``, a read-only code directory);
    comparing compiled against from-source would measure the compiler. So every interpreter here
    shares a private ``PYTHONPYCACHEPREFIX``, filled by one untimed import of each module first: what a
    deployment package built with ``compileall`` gives the function.
    """
    if runs <= 0:
        return None
    from chaos.template import code_dir

    exe = python or sys.executable
    function_dir = code_dir()
    event = resolved_alarm().read_text()
    account = str(json.loads(event)["userId"])
    codes = {
        "index": _IMPORT_TIMER.format(module="index"),
        "aliyunsdkcore.client": _IMPORT_TIMER.format(module="aliyunsdkcore.client"),
        "firstAnswer": _FIRST_ANSWER_TIMER.format(dr=DR, account=account, event=event),
    }
    samples: dict[str, list[float]] = {name: [] for name in codes}
    with tempfile.TemporaryDirectory(prefix="rf-pyc-") as prefix:
        # PYTHONSAFEPATH would keep the working directory (the code directory) off sys.path
        dropped = ("PYTHONDONTWRITEBYTECODE", "PYTHONSAFEPATH")
        env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("FAILOVER_")}
        env.update(COLD_START_ENV, PYTHONPYCACHEPREFIX=prefix)
        for warm in (True, *([False] * runs)):
            for name, code in codes.items():  # interleaved, so drift on the machine hits all alike
                out = subprocess.run(  # noqa: S603 - a chosen interpreter, fixed code
                    [exe, "-c", code],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                    env=env,
                    cwd=function_dir,
                )
                if out.returncode != 0:
                    raise RuntimeError(f"cold-start probe {name} failed on {exe}: {out.stderr[-2000:]}")
                if not warm:
                    samples[name].append(float(out.stdout.strip().splitlines()[-1]))
    handler, sdk = statistics.median(samples["index"]), statistics.median(samples["aliyunsdkcore.client"])
    version = subprocess.run(  # noqa: S603
        [exe, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return {
        "runs": runs,
        "python": version,
        "handlerImportMs": round(handler, 1),
        "sdkImportMs": round(sdk, 1),
        "ratio": round(handler / sdk, 3),
        "firstAnswerMs": round(statistics.median(samples["firstAnswer"]), 1),
        "handlerSamplesMs": [round(x, 1) for x in samples["index"]],
        "sdkSamplesMs": [round(x, 1) for x in samples["aliyunsdkcore.client"]],
        "firstAnswerSamplesMs": [round(x, 1) for x in samples["firstAnswer"]],
    }


# ------------------------------------------------------------------------------ driver
def camel_config(cfg: BenchConfig) -> dict[str, Any]:
    """The config with the report's key style (camelCase, like every figure)."""
    from pydantic.alias_generators import to_camel

    return {to_camel(k): v for k, v in asdict(cfg).items()}


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The report; ``progress`` is told each phase as it starts (the whole run takes minutes at N = 1,000)."""
    if cfg.pairs < 1 or cfg.pairs > 100_000:
        raise ValueError("--pairs must be within 1..100000 (FAILOVER_MAX_TARGETS allows at most 100,000)")
    say = progress or (lambda _phase: None)
    report: dict[str, Any] = {
        "config": camel_config(cfg),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": _cpu_model(),
        },
        "layout": "emulator, function and baseline each in their own process (GIL; 2 cores)",
        "bound": bound_seconds(cfg),
        "demandedRate": round(cfg.concurrency / (cfg.latency_ms / 1000), 1) if cfg.latency_ms > 0 else None,
    }
    say("starting the emulator")
    with emulator_process() as emu:
        say(f"function: failing over {cfg.pairs} pairs")
        report["function"] = run_once(emu, cfg, "function")
        if cfg.baseline:
            say(f"naive loop: failing over {cfg.pairs} pairs one at a time")
        report["baseline"] = run_once(emu, cfg, "naive") if cfg.baseline else None
    fn, base = report["function"], report["baseline"]
    if base and fn["timeToAllFailoveredSeconds"] and base["timeToAllFailoveredSeconds"]:
        report["speedupOverBaseline"] = round(base["timeToAllFailoveredSeconds"] / fn["timeToAllFailoveredSeconds"], 2)
    if cfg.cold_start_runs > 0:
        say(f"cold start: {cfg.cold_start_runs} fresh interpreters per probe")
    report["coldStart"] = cold_start(cfg.cold_start_runs, cfg.cold_start_python)
    return report


def _cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def render(report: dict[str, Any]) -> str:
    cfg, b, fn = report["config"], report["bound"], report["function"]
    rate = f"{cfg['rateLimit']:g} req/s" if cfg["rateLimit"] > 0 else "no limit"
    lines = [
        f"replica-failover bench: {cfg['pairs']} pairs, latency {cfg['latencyMs']:g} ms, rate limit {rate}, "
        f"504s {cfg['faultRate']:.0%} (half after apply), concurrency {cfg['concurrency']}",
        f"machine: {report['machine']['cpus']} CPUs ({report['machine']['processor']}), "
        f"Python {report['machine']['python']}; {report['layout']}",
        f"bound: {b['describePages']} pages * L + max((M-B)/Q {b['byRate']} s, ceil(M/C)*L {b['byConcurrency']} s) + L "
        f"= {b['seconds']} s (M = {b['writes']} writes + {b['looks']} looks, B = {b['burst']:g}); "
        f"demanded rate C/L = {report['demandedRate']} req/s",
        "",
        f"{'':<28}{'function':>14}{'naive loop':>14}",
    ]
    base = report.get("baseline") or {}

    def row(label: str, key: str, fmt: str = "{}") -> None:
        a, c = fn.get(key), base.get(key)
        lines.append(f"{label:<28}{_fmt(a, fmt):>14}{_fmt(c, fmt):>14}")

    row("time to all failovered (s)", "timeToAllFailoveredSeconds", "{:.2f}")
    row("ratio to bound", "ratioToBound", "{:.3f}")
    row("ratio to this run's floor", "ratioToFloor", "{:.3f}")
    row("API calls per target", "apiCallsPerTarget", "{:.3f}")
    row("retries", "retries")
    row("throttles", "throttles")
    row("throttles after 5 s (share)", "throttleShareAfter5s", "{:.2%}")
    row("504s injected", "faults")
    lines.append(f"{'effects per target':<28}{_effects(fn):>14}{_effects(base) if base else '-':>14}")
    row("missed targets", "missedTargets")
    row("handler returned after (s)", "handlerSeconds", "{:.2f}")
    row("peak RSS (MB)", "peakRssMb", "{:.1f}")
    row("process CPU (s)", "processCpuSeconds", "{:.2f}")
    row("emulator CPU (s)", "emulatorCpuSeconds", "{:.2f}")
    row("emulator write p50 (ms)", "serverMsP50", "{:.1f}")
    lines.append(f"function status: {fn.get('status')} ({fn.get('reason')})")
    if "speedupOverBaseline" in report:
        lines.append(f"speed-up over the naive loop: {report['speedupOverBaseline']}x")
    cs = report.get("coldStart")
    if cs:
        lines.append(
            f"cold start (median of {cs['runs']} fresh Python {cs['python']} interpreters): import index "
            f"{cs['handlerImportMs']} ms, import aliyunsdkcore.client {cs['sdkImportMs']} ms, ratio {cs['ratio']}; "
            f"first answer (import + initializer + a no-op event) {cs['firstAnswerMs']} ms"
        )
    return "\n".join(lines)


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def _effects(fig: Mapping[str, Any]) -> str:
    e = fig.get("effectsPerTarget") or {}
    return f"{e.get('min')}..{e.get('max')}" if e else "-"


if __name__ == "__main__":
    if "--child" in sys.argv[1:]:
        child_main()
    else:
        sys.exit("use `replica-failover bench`; this module's own entry point is the benchmark's child process")
