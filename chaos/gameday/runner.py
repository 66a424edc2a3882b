"""Run one scenario: set the world up, check the hypothesis, deliver the trigger, apply the method, judge.

Phases: emulator (embedded, or external over ``/_emulator``) -> configure + seed -> register the
template's functions in the FC emulator -> steady state *before* -> faults and timed actions armed ->
trigger (every event copy through its channel) -> FC queue drained -> clock settled (transient states
complete on the emulator clock, never by sleeping) -> steady state *after* -> journal and reports.

``--target fc://<service>/<function>`` swaps the function for a deployed one, invoked synchronously
through aliyun-fc2 (its result is the evidence); with ``--endpoint`` as well, fleet, faults and
ledger still come from that emulator, without it only what the function's results say can be judged.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from chaos.emulator.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_STS_ACCESS_KEY_ID,
    DEFAULT_STS_ACCESS_KEY_SECRET,
    DEFAULT_STS_SECURITY_TOKEN,
    Credential,
    default_credentials,
)
from chaos.emulator.ebs.models import GroupRecord, PairRecord, Tag
from chaos.emulator.ebs.urls import REQUIRED
from chaos.emulator.fc import FunctionSpec, make_context
from chaos.gameday import capture
from chaos.gameday.client import EmulatorControl, HttpControl, LocalControl, RequestTrigger
from chaos.gameday.expectations import (
    Observations,
    TargetKey,
    eligible_targets,
    evaluate,
    state_of,
    steady_state_before,
)
from chaos.gameday.journal import ExpectationResult, InvocationRecord, RunJournal, TargetTimeline
from chaos.gameday.scenario import Action, Channel, EventDef, Scenario, load_scenario
from chaos.template import DEFAULT_TEMPLATE, FunctionDef, ensure_importable, read_template

# Game-day defaults under the scenario's own env: the template's 2 s verify poll would dominate a run
# whose transitions are instant; everything else is the template's production value.
GAMEDAY_ENV = {"FAILOVER_VERIFY_POLL_SECONDS": "0.05"}
# failovering completes at once unless a scenario says otherwise (emulator.transitionDelays)
GAMEDAY_EMULATOR = {"transitionDelays": {"failovering": 0.0}}
SETTLE_SECONDS = 3600.0  # emulator time advanced after the run: every transient state completes
DRAIN_TIMEOUT = 60.0  # bound on waiting for the FC queue; a stuck run fails, it does not hang
SECRET_ENV = frozenset({"WEBHOOK_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"})
ProgressFn = Callable[[str, int, int], None]  # (phase, done, total)


class RunError(RuntimeError):
    """The run could not be carried out (not a violated expectation): bad target, unreachable emulator."""


@dataclass(frozen=True)
class FcTarget:
    service: str
    function: str

    @classmethod
    def parse(cls, text: str) -> FcTarget:
        rest = text.removeprefix("fc://")
        service, sep, function = rest.partition("/")
        if not text.startswith("fc://") or not sep or not service or not function or "/" in function:
            raise RunError(f"--target takes fc://<service>/<function>, got {text!r}")
        return cls(service, function)


@dataclass
class RunOptions:
    seed: int | None = None
    report_dir: Path | None = None
    endpoint: str | None = None  # external emulator (http://host:port)
    target: FcTarget | None = None
    fc_endpoint: str | None = None
    progress: ProgressFn | None = None


@dataclass
class RunOutcome:
    journal: RunJournal
    reports: dict[str, Path] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.journal.verdict == "pass"

    @property
    def violations(self) -> list[ExpectationResult]:
        return [e for e in self.journal.expectations if not e.ok]


@dataclass
class _Delivery:
    index: int
    step: int
    rep: int
    channel: Channel
    label: str
    payload: bytes
    event: EventDef
    started_at: float = 0.0
    duration_ms: float | None = None
    status: str = "pending"
    raised: bool = False
    result: dict[str, Any] | None = None
    error: str | None = None
    request_id: str | None = None  # FC request id whose captured result is the outcome


def run_file(path: Path, options: RunOptions | None = None) -> RunOutcome:
    scenario = load_scenario(path)
    return run_scenario(scenario, name=path.stem, base_dir=path.parent, options=options)


def run_scenario(
    scenario: Scenario, *, name: str, base_dir: Path | None = None, options: RunOptions | None = None
) -> RunOutcome:
    opts = options or RunOptions()
    if opts.seed is not None:
        scenario = scenario.model_copy(update={"seed": opts.seed})
    logs = io.StringIO()
    # the function logs JSON lines to stdout (FC ships them to SLS); here they go to the report directory,
    # not over the progress display
    with _emulator(opts, scenario) as control, contextlib.redirect_stdout(logs):
        run = _Run(scenario, name, base_dir or Path.cwd(), opts, control, logs)
        journal = run.execute()
    reports: dict[str, Path] = {}
    if opts.report_dir is not None:
        from chaos.gameday.report import write_reports  # another module's; imported when reports are wanted

        out_dir = opts.report_dir / name
        reports = dict(write_reports(journal, out_dir))
        log_path = out_dir / "function-log.jsonl"
        log_path.write_text(logs.getvalue(), encoding="utf-8")
        reports["log"] = log_path
    return RunOutcome(journal, reports)


@contextlib.contextmanager
def _emulator(opts: RunOptions, scenario: Scenario) -> Iterator[EmulatorControl | None]:
    if opts.endpoint:
        http = HttpControl(opts.endpoint)
        try:
            http.health()
        except Exception as exc:
            raise RunError(f"no emulator control plane at {http.url}: {exc}") from None
        try:
            yield http
        finally:
            http.close()
        return
    if opts.target is not None:
        yield None  # a staging account: nothing to seed, nothing to read but the results
        return
    from chaos.emulator.app import Emulator
    from chaos.emulator.server import start

    handle = start(Emulator(region=scenario.dr_region))
    local = LocalControl(handle.emulator, handle.url)
    try:
        yield local
    finally:
        local.close()
        handle.stop()


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        name: str,
        base_dir: Path,
        opts: RunOptions,
        control: EmulatorControl | None,
        logs: IO[str],
    ) -> None:
        self.sc = scenario
        self.logs = logs
        self.name = name
        self.base_dir = base_dir
        self.opts = opts
        self.control = control
        self.target = opts.target
        self.progress: ProgressFn = opts.progress or (lambda phase, done, total: None)
        template_path = scenario.function.template or DEFAULT_TEMPLATE
        functions = read_template(template_path if template_path.is_absolute() else base_dir / template_path)
        if scenario.function.name not in functions:
            raise RunError(f"no function {scenario.function.name!r} in {template_path}")
        self.fn: FunctionDef = functions[scenario.function.name]
        self.webhook_fn: FunctionDef | None = functions.get(scenario.function.webhook)
        self.service = self.target.service if self.target else self.fn.service
        self.function_name = self.target.function if self.target else self.fn.name
        self.fired_flips: dict[TargetKey, str] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ env
    @property
    def url(self) -> str:
        return self.control.url if self.control else ""

    def function_env(self) -> dict[str, str]:
        env = {**GAMEDAY_ENV, "FAILOVER_DR_REGION": self.sc.dr_region, **self.sc.function.env}
        if self.control is not None:
            env["EBS_ENDPOINT"] = self.url
            env["FC_ENDPOINT"] = self.url
        return env

    def failover_spec(self) -> FunctionSpec:
        spec = self.fn.spec(
            {
                **self.function_env(),
                "GAMEDAY_HANDLER": self.fn.import_ref(),
                "GAMEDAY_CODE_URI": str(self.fn.code_uri),
                "GAMEDAY_INITIALIZER": self.fn.import_ref(self.fn.initializer) if self.fn.initializer else "",
            }
        )
        update: dict[str, Any] = {
            "handler": "chaos.gameday.capture:failover",
            "initializer": "chaos.gameday.capture:initialize",
        }
        if self.sc.function.timeout is not None:
            update["timeout"] = self.sc.function.timeout
        if self.sc.function.max_async_retry_attempts is not None:
            update["max_async_retry_attempts"] = self.sc.function.max_async_retry_attempts
        return spec.model_copy(update=update)

    def webhook_spec(self) -> FunctionSpec:
        if self.webhook_fn is None:
            raise RunError(f"no webhook function {self.sc.function.webhook!r} in the template")
        env = {
            "WEBHOOK_SECRET": self.sc.function.webhook_secret,
            "FC_ENDPOINT": self.url,
            "FAILOVER_SERVICE": self.fn.service,
            "FAILOVER_FUNCTION": self.fn.name,
            "GAMEDAY_HANDLER": self.webhook_fn.import_ref(),
            "GAMEDAY_CODE_URI": str(self.webhook_fn.code_uri),
        }
        return self.webhook_fn.spec(env).model_copy(
            update={"handler": "chaos.gameday.capture:webhook", "initializer": None}
        )

    # ---------------------------------------------------------------- setup
    def setup(self) -> None:
        control = self.control
        if control is None:
            return
        if self.target is None:
            control.reset()
        else:  # the deployed function is registered there: keep it, start from a clean ledger and fleet
            control.clear_faults()
        patch: dict[str, Any] = {**GAMEDAY_EMULATOR, "seed": self.sc.seed, **self.sc.emulator}
        if self.sc.method.ram_deny:
            patch["credentials"] = _restricted_credentials(self.sc.method.ram_deny)
        control.configure(patch)
        pairs, groups = _fleet_records(self.sc)
        control.seed(pairs, groups)
        if self.sc.fleet.generate is not None:
            spec = self.sc.fleet.generate
            if "seed" not in spec.model_fields_set:
                spec = spec.model_copy(update={"seed": self.sc.seed})
            control.generate(spec)
        if self.target is None:
            ensure_importable(self.fn.code_uri)
            control.register(self.failover_spec())
            if "webhook" in self.sc.channels():
                control.register(self.webhook_spec())
        if self.target is not None:
            control.clear_ledger()

    # ------------------------------------------------------------------ run
    def execute(self) -> RunJournal:
        started_wall, t0 = time.time(), time.monotonic()
        self.progress("seeding the fleet", 0, 1)
        self.setup()
        control = self.control
        initial_pairs = control.pairs() if control else []
        initial_groups = control.groups() if control else []
        initial = state_of(initial_pairs, initial_groups)
        effects_before = len(control.ledger().get("effects", [])) if control else 0
        declared = self.sc.expect.eligible
        if control is None and declared == "auto":
            declared = "none"  # no fleet to derive it from; ledger checks are off anyway

        before_eligible = eligible_targets(
            initial_pairs, initial_groups, primary=self.sc.primary_region, dr=self.sc.dr_region, declared=declared
        )
        before = steady_state_before(before_eligible, initial, effects_before) if control else []

        deliveries = self._deliveries()
        self.progress("trigger", 0, len(deliveries))
        trigger_start = time.monotonic()
        timers = self._arm()
        try:
            self._deliver(deliveries)
            drained = self._drain()
        finally:
            for timer in timers:
                timer.cancel()
        trigger_seconds = time.monotonic() - trigger_start
        self._join_abandoned()
        self.progress("judging", len(deliveries), len(deliveries))

        final_pairs, final_groups, ledger, rules, fc_records, failures = [], [], {}, [], [], []
        if control is not None:
            # a write held past the client's read timeout may still land: count it before judging
            control.wait_quiet(DRAIN_TIMEOUT)
            control.advance(SETTLE_SECONDS)
            final_pairs, final_groups = control.pairs(), control.groups()
            ledger = control.ledger()
            rules = control.fault_rules()
            fc_records = [
                r for r in control.fc_invocations() if (r.get("service"), r.get("function")) == self._fc_key()
            ]
            failures = control.fc_async_failures()
        attempts = self._collect(deliveries)
        eligible = eligible_targets(
            initial_pairs,
            initial_groups,
            primary=self.sc.primary_region,
            dr=self.sc.dr_region,
            flips=self.fired_flips,
            declared=declared,
        )
        final = state_of(final_pairs, final_groups)
        obs = Observations(
            primary=self.sc.primary_region,
            eligible=eligible,
            initial=initial,
            final=final,
            ledger=ledger,
            ledger_available=control is not None,
            invocation_status=[
                (f"#{d.index} {d.label} ({d.channel})", d.status, d.event.expect_status) for d in deliveries
            ],
            final_results=[d.result for d in deliveries if d.result is not None],
            attempt_results=attempts,
            fault_rules=rules,
            fc_records=fc_records,
            async_failures=failures,
            trigger_seconds=trigger_seconds,
        )
        results = [*before, *evaluate(self.sc.expect, obs)]
        if not drained:
            results.append(
                ExpectationResult(
                    name="fc-queue-drained",
                    ok=False,
                    expected=f"FC async queue idle within {DRAIN_TIMEOUT:g} s",
                    measured=False,
                    message="async invocations were still queued or running",
                )
            )
        verdict = "pass" if all(r.ok for r in results) else "fail"
        figures = _figures(obs, deliveries, fc_records)
        return RunJournal(
            scenario=self.name,
            title=self.sc.title,
            description=self.sc.description,
            seed=self.sc.seed,
            started_wall=started_wall,
            duration_s=round(time.monotonic() - t0, 3),
            verdict=verdict,
            negative=self.sc.negative,
            function_env={k: ("***" if k in SECRET_ENV else v) for k, v in self.function_env().items()},
            fleet={
                "pairs": len(final_pairs),
                "groups": len(final_groups),
                "eligible": len(eligible),
                "ineligible": len(final) - len(eligible),
                "primaryRegion": self.sc.primary_region,
                "drRegion": self.sc.dr_region,
            },
            figures=figures,
            expectations=results,
            invocations=[
                InvocationRecord(
                    index=d.index,
                    channel=d.channel,
                    event_name=d.label,
                    started_at=round(d.started_at - started_wall, 3),
                    duration_ms=d.duration_ms,
                    status=d.status,
                    raised=d.raised,
                    result=d.result,
                    error=d.error,
                )
                for d in deliveries
            ],
            faults=rules,
            timelines=_timelines(ledger, obs.final_results, started_wall, eligible, final),
            ledger=ledger,
        )

    def _fc_key(self) -> tuple[str, str]:
        return (self.service, self.function_name)

    # ------------------------------------------------------------- trigger
    def _deliveries(self) -> list[_Delivery]:
        out: list[_Delivery] = []
        for step, event in enumerate(self.sc.trigger.events):
            channel = event.channel or self.sc.trigger.channel
            if self.target is not None:
                # a deployed function is only reachable through FC, and only a synchronous invocation hands
                # its result back: on a staging account the result is the evidence
                channel = "fc-sync"
            payload = event.payload(self.base_dir)
            for rep in range(event.repeat):
                for copy in range(event.copies):
                    label = event.label(step)
                    if event.repeat > 1 or event.copies > 1:
                        label += f" [{rep + 1}.{copy + 1}]"
                    out.append(_Delivery(len(out), step, rep, channel, label, payload, event))
        return out

    def _deliver(self, deliveries: list[_Delivery]) -> None:
        done = 0
        waves: dict[tuple[int, int], list[_Delivery]] = {}
        for d in deliveries:
            waves.setdefault((d.step, d.rep), []).append(d)
        for (step, rep), wave in sorted(waves.items()):
            if rep == 0:
                self._before_event(step)
            elif any(d.channel in ("fc-async", "webhook") for d in wave):
                self._drain()  # a re-notification comes after the first one was handled
            with ThreadPoolExecutor(max_workers=len(wave), thread_name_prefix="gameday-invoke") as pool:
                for _ in pool.map(self._deliver_one, wave):
                    done += 1
                    self.progress("trigger", done, len(deliveries))

    def _deliver_one(self, d: _Delivery) -> None:
        d.started_at = time.time()
        t0 = time.monotonic()
        try:
            if d.channel == "direct":
                self._direct(d)
            elif d.channel == "webhook" and self.target is None:
                self._webhook(d)
            else:
                self._fc(d, asynchronous=d.channel in ("fc-async", "webhook"))
        except Exception as exc:  # a delivery that blew up is an outcome to judge, not a crash of the run
            d.status, d.error = "error", f"{type(exc).__name__}: {exc}"[:500]
        d.duration_ms = round((time.monotonic() - t0) * 1000, 1)

    def _direct(self, d: _Delivery) -> None:
        from replica_failover.handler import PendingWork, handle

        spec = self.failover_spec()
        context = make_context(
            spec,
            request_id=str(uuid.uuid4()),
            credential=Credential(
                access_key_id=DEFAULT_STS_ACCESS_KEY_ID,
                access_key_secret=DEFAULT_STS_ACCESS_KEY_SECRET,
                security_token=DEFAULT_STS_SECURITY_TOKEN,
            ),
            region=self.sc.dr_region,
            account_id=DEFAULT_ACCOUNT_ID,
        )
        # the same entry point FC calls, with the function's env passed in rather than via os.environ,
        # so concurrent copies and FC-hosted functions never race over the process environment
        try:
            d.result = handle(d.payload, context, env={**spec.environment}, log_stream=self.logs)
        except PendingWork as exc:
            d.result, d.raised = dict(exc.result), True
        d.status = str(d.result.get("status"))

    def _fc_client(self) -> Any:
        import fc2

        if self.target is not None:
            env = os.environ
            key, secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"), env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            if not key or not secret or not self.opts.fc_endpoint:
                raise RunError("--target needs --fc-endpoint and ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET")
            kwargs: dict[str, Any] = {"endpoint": self.opts.fc_endpoint, "accessKeyID": key, "accessKeySecret": secret}
            token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN")
            if token:
                kwargs["securityToken"] = token
        else:
            kwargs = {
                "endpoint": self.url,
                "accessKeyID": DEFAULT_ACCESS_KEY_ID,
                "accessKeySecret": DEFAULT_ACCESS_KEY_SECRET,
            }
        timeout = (self.sc.function.timeout or self.fn.timeout) + 10
        return fc2.Client(Timeout=timeout, **kwargs)

    def _fc(self, d: _Delivery, *, asynchronous: bool) -> None:
        import fc2

        headers = {"x-fc-invocation-type": "Async" if asynchronous else "Sync"}
        try:
            resp = self._fc_client().invoke_function(
                self.service, self.function_name, payload=d.payload, headers=headers
            )
        except fc2.FcError as exc:
            d.request_id = getattr(exc, "request_id", None) or _request_id_of(exc)
            d.status, d.raised, d.error = "error", True, str(exc)[:500]
            return
        d.request_id = resp.headers.get("X-Fc-Request-Id")
        if asynchronous:
            d.status = "accepted"
            return
        try:
            body = json.loads(resp.data)
        except ValueError:
            body = None
        if isinstance(body, dict):
            d.result, d.status = body, str(body.get("status"))
        else:
            d.status, d.error = "error", f"not a result document: {resp.data[:200]!r}"

    def _webhook(self, d: _Delivery) -> None:
        import fc2

        event = d.event
        text = d.payload.decode("utf-8")
        content_type = event.content_type or ("application/json" if text.lstrip().startswith("{") else "")
        envelope = {
            "body": text,
            "contentType": content_type or "application/x-www-form-urlencoded",
            "token": self.sc.function.webhook_secret if event.token is None else event.token,
        }
        assert self.webhook_fn is not None
        try:
            resp = self._fc_client().invoke_function(
                self.webhook_fn.service,
                self.webhook_fn.name,
                payload=json.dumps(envelope).encode(),
                headers={"x-fc-invocation-type": "Sync"},
            )
        except fc2.FcError as exc:
            d.status, d.error = "webhook-error", str(exc)[:500]
            return
        answer = json.loads(resp.data)
        code = int(answer.get("status", 500))
        if code != 202:
            d.status, d.error = f"http-{code}", json.dumps(answer.get("body"))[:300]
            return
        d.request_id = str((answer.get("body") or {}).get("invocationRequestId") or "") or None
        d.status = "accepted"

    def _drain(self) -> bool:
        if self.control is None:
            return True
        return self.control.fc_wait_idle(DRAIN_TIMEOUT)

    def _join_abandoned(self) -> None:
        """A timed-out handler thread keeps running (FC cannot kill it): let it finish its late calls."""
        if self.control is None or not self.control.in_process:
            return
        prefix = f"fc-{self.service}-{self.function_name}-"
        for thread in threading.enumerate():
            if thread.name.startswith(prefix):
                thread.join(DRAIN_TIMEOUT)

    def _collect(self, deliveries: list[_Delivery]) -> list[dict[str, Any]]:
        """Captured results of FC attempts; an async delivery's outcome is its last attempt's result."""
        attempts: list[dict[str, Any]] = []
        for d in deliveries:
            if d.channel == "direct" and d.result is not None:
                attempts.append(d.result)
                continue
            if not d.request_id:
                if d.result is not None:
                    attempts.append(d.result)
                continue
            captured = capture.take(d.request_id)
            attempts.extend(e["result"] for e in captured if e.get("result") is not None)
            if captured:
                last = captured[-1]
                d.raised = bool(last.get("raised"))
                if last.get("result") is not None:
                    d.result = last["result"]
                    d.status = str(last["result"].get("status"))
                elif d.status in ("accepted", "error"):
                    d.status, d.error = "error", str(last.get("error"))
            elif d.result is not None:
                attempts.append(d.result)
            elif d.status == "accepted":
                d.status = self._fc_status(d.request_id)
        return attempts

    def _fc_status(self, request_id: str) -> str:
        if self.control is None:
            return "accepted"  # a deployed async invocation: FC does not hand the result back
        for r in self.control.fc_invocations():
            if r.get("requestId") == request_id:
                return f"fc-{str(r.get('status')).lower()}"
        return "accepted"

    # -------------------------------------------------------------- method
    def _arm(self) -> list[threading.Timer]:
        control = self.control
        if control is None:
            return []
        if self.sc.method.faults:
            control.set_faults(self.sc.method.faults)
        timers: list[threading.Timer] = []
        for action in self.sc.method.actions:
            when = action.when
            if when.requests is not None:
                control.on_request(RequestTrigger(when.requests, when.action, _bind(self._apply, action)))
            elif when.at_seconds is not None:
                timer = threading.Timer(when.at_seconds, self._apply, args=(action,))
                timer.daemon = True
                timer.start()
                timers.append(timer)
        return timers

    def _before_event(self, step: int) -> None:
        for action in self.sc.method.actions:
            if action.when.before_event == step:
                self._apply(action)

    def _apply(self, action: Action) -> None:
        control = self.control
        if control is None:
            return
        if action.flip is not None:
            f = action.flip
            control.flip(f.kind, f.target, f.status, f.complete_to)
            with self._lock:
                self.fired_flips[(f.kind, f.target)] = f.status
        if action.clear_faults:
            control.clear_faults()
        if action.add_faults:
            control.add_faults(action.add_faults)
        if action.advance_clock:
            control.advance(action.advance_clock)


def _bind(fn: Callable[[Action], None], action: Action) -> Callable[[], None]:
    return lambda: fn(action)


def _request_id_of(exc: Exception) -> str | None:
    try:
        doc = json.loads(str(getattr(exc, "message", "") or exc))
    except ValueError:
        return None
    rid = doc.get("RequestId") if isinstance(doc, dict) else None
    return str(rid) if rid else None


def _restricted_credentials(denied: list[str]) -> list[dict[str, Any]]:
    """The emulator's default keys, the function role's narrowed to every ebs action but ``denied``."""
    deny = {a.removeprefix("ebs:") for a in denied}
    allowed = sorted(f"ebs:{a}" for a in REQUIRED if a not in deny)
    out = []
    for cred in default_credentials():
        narrowed = (
            cred.model_copy(update={"allowed_actions": allowed})
            if cred.access_key_id == DEFAULT_STS_ACCESS_KEY_ID
            else cred
        )
        out.append(narrowed.model_dump(by_alias=True))
    return out


def _fleet_records(sc: Scenario) -> tuple[list[PairRecord], list[GroupRecord]]:
    listed = {p.id: p for p in sc.fleet.pairs}
    pairs: list[PairRecord] = []
    groups: list[GroupRecord] = []
    member_of: dict[str, str] = {p.id: p.group for p in sc.fleet.pairs if p.group}
    for g in sc.fleet.groups:
        for pid in g.pairs:
            member_of[pid] = g.id
    route = {g.id: g for g in sc.fleet.groups}
    for g in sc.fleet.groups:
        groups.append(
            GroupRecord(
                ReplicaGroupId=g.id,
                GroupName=g.id,
                SourceRegionId=g.source,
                DestinationRegionId=g.destination,
                Status=g.status,
                Tags=[Tag(TagKey=k, TagValue=v) for k, v in g.tags.items()],
            )
        )
    for pid, gid in member_of.items():
        if pid not in listed:  # a member named only by its group takes the group's route and state
            g = route[gid]
            pairs.append(
                PairRecord(
                    ReplicaPairId=pid,
                    SourceRegion=g.source,
                    DestinationRegion=g.destination,
                    Status=g.status,
                    ReplicaGroupId=gid,
                )
            )
    for p in sc.fleet.pairs:
        pairs.append(
            PairRecord(
                ReplicaPairId=p.id,
                PairName=p.id,
                SourceRegion=p.source,
                DestinationRegion=p.destination,
                Status=p.status,
                ReplicaGroupId=member_of.get(p.id, ""),
                Tags=[Tag(TagKey=k, TagValue=v) for k, v in p.tags.items()],
            )
        )
    return pairs, groups


def _figures(obs: Observations, deliveries: list[_Delivery], fc_records: list[dict[str, Any]]) -> dict[str, Any]:
    requests = obs.ledger.get("requests", [])
    effects = obs.ledger.get("effects", [])
    attempts = sum(len(r.get("attempts") or []) for r in fc_records)
    return {
        "apiCalls": obs.api_calls(),
        "writeCalls": obs.write_calls(),
        "effects": len(effects) if obs.ledger_available else None,
        "retries": obs.retries(),
        "faultsFired": obs.faults_fired(),
        "replays": sum(1 for r in requests if r.get("replayed")),
        "throttled": sum(1 for r in requests if str(r.get("code") or "").startswith("Throttling")),
        "invocations": len(deliveries),
        "fcAttempts": attempts,
        "fcReinvocations": max(0, attempts - len(fc_records)),
        "eligible": len(obs.eligible),
        "failedOver": sum(1 for k in obs.eligible if obs.final.get(k) == "failovered"),
        "durationS": round(obs.trigger_seconds, 3),
    }


def _timelines(
    ledger: dict[str, list[dict[str, Any]]],
    results: list[dict[str, Any]],
    started_wall: float,
    eligible: set[TargetKey],
    final: dict[TargetKey, str],
) -> list[TargetTimeline]:
    from chaos.gameday.timeline import build_timelines  # another module's; imported at use

    return build_timelines(ledger, results, started_wall=started_wall, eligible=eligible, final_status=final)
