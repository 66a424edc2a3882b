"""Delivery channels: how each copy of a trigger event reaches the function, and how its result comes back.

``direct`` calls the handler in this process; ``fc-sync``/``fc-async`` invoke it through aliyun-fc2
against the emulator's FC API (or a deployed function with ``--target``); ``webhook`` posts to the
HTTP-trigger function, which async-invokes the failover function. An async invocation's result is
read back from :mod:`chaos.gameday.capture` by FC request id; every attempt FC made is kept.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chaos.emulator.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_STS_ACCESS_KEY_ID,
    DEFAULT_STS_ACCESS_KEY_SECRET,
    DEFAULT_STS_SECURITY_TOKEN,
    Credential,
)
from chaos.emulator.fc import make_context
from chaos.gameday import capture
from chaos.gameday.scenario import Channel, EventDef
from chaos.gameday.world import RunError, World

DRAIN_TIMEOUT = 60.0  # bound on waiting for the FC queue; a stuck run fails, it does not hang
ProgressFn = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class Delivery:
    """One copy of one trigger event, and what became of it."""

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
    blocked: str | None = None  # why this copy was not sent (an approve step without a hold message)


def plan_deliveries(world: World) -> list[Delivery]:
    """Every copy of every event, in order: step, then repetition, then concurrent copy."""
    sc = world.sc
    out: list[Delivery] = []
    for step, event in enumerate(sc.trigger.events):
        channel = event.channel or sc.trigger.channel
        if world.target is not None:
            # a deployed function is only reachable through FC, and only a synchronous invocation hands
            # its result back: on a staging account the result is the evidence
            channel = "fc-sync"
        payload = (
            event.payload(world.base_dir, world.project_dir) if world.project_dir else event.payload(world.base_dir)
        )
        for rep in range(event.repeat):
            for copy in range(event.copies):
                label = event.label(step)
                if event.repeat > 1 or event.copies > 1:
                    label += f" [{rep + 1}.{copy + 1}]"
                out.append(Delivery(len(out), step, rep, channel, label, payload, event))
    return out


class Channels:
    """Delivers :class:`Delivery` copies through their channels and collects their outcomes."""

    def __init__(self, world: World, progress: ProgressFn) -> None:
        self.world = world
        self.progress = progress
        self.step_writes: dict[int, int] = {}  # ebs write calls made while a step's deliveries ran

    def deliver(self, deliveries: list[Delivery], before_event: Callable[[int], None]) -> None:
        """Wave by wave (a step's repetition): the copies of a wave run concurrently."""
        done = 0
        waves: dict[tuple[int, int], list[Delivery]] = {}
        for d in deliveries:
            waves.setdefault((d.step, d.rep), []).append(d)
        # steps whose writes are judged are settled (FC queue drained) before the next one starts
        counted = {i for i, e in enumerate(self.world.sc.trigger.events) if e.max_write_calls is not None}
        last_rep = {step: rep for step, rep in sorted(waves)}
        writes_at_start = 0
        for (step, rep), wave in sorted(waves.items()):
            if rep == 0:
                before_event(step)
                if step in counted:
                    writes_at_start = self._writes()
            elif any(d.channel in ("fc-async", "webhook") for d in wave):
                self.drain()  # a re-notification comes after the first one was handled
            with ThreadPoolExecutor(max_workers=len(wave), thread_name_prefix="gameday-invoke") as pool:
                for _ in pool.map(self._deliver_one, wave):
                    done += 1
                    self.progress("trigger", done, len(deliveries))
            if step in counted and rep == last_rep[step]:
                self.drain()
                if self.world.control is not None:
                    self.world.control.wait_quiet(DRAIN_TIMEOUT)
                self.step_writes[step] = self._writes() - writes_at_start

    def _writes(self) -> int:
        from chaos.emulator.ebs.urls import WRITE_ACTIONS

        control = self.world.control
        if control is None:
            return 0
        return sum(1 for r in control.ledger().get("requests", []) if r.get("action") in WRITE_ACTIONS)

    def _deliver_one(self, d: Delivery) -> None:
        d.started_at = time.time()
        t0 = time.monotonic()
        if d.blocked is not None:
            d.status, d.error, d.duration_ms = "error", d.blocked, 0.0
            return
        try:
            if d.channel == "direct":
                self._direct(d)
            elif d.channel == "webhook" and self.world.target is None:
                self._webhook(d)
            else:
                self._fc(d, asynchronous=d.channel in ("fc-async", "webhook"))
        except Exception as exc:  # a delivery that blew up is an outcome to judge, not a crash of the run
            d.status, d.error = "error", f"{type(exc).__name__}: {exc}"[:500]
        d.duration_ms = round((time.monotonic() - t0) * 1000, 1)

    def _direct(self, d: Delivery) -> None:
        from replica_failover.handler import PendingWork, handle

        spec = self.world.failover_spec()
        context = make_context(
            spec,
            request_id=str(uuid.uuid4()),
            credential=Credential(
                access_key_id=DEFAULT_STS_ACCESS_KEY_ID,
                access_key_secret=DEFAULT_STS_ACCESS_KEY_SECRET,
                security_token=DEFAULT_STS_SECURITY_TOKEN,
            ),
            region=self.world.sc.dr_region,
            account_id=DEFAULT_ACCOUNT_ID,
        )
        # the same entry point FC calls, with the function's env passed in rather than via os.environ,
        # so concurrent copies and FC-hosted functions never race over the process environment
        try:
            d.result = handle(d.payload, context, env={**spec.environment}, log_stream=self.world.logs)
        except PendingWork as exc:
            d.result, d.raised = dict(exc.result), True
        d.status = str(d.result.get("status"))

    def _fc_client(self) -> Any:
        import fc2

        world = self.world
        if world.target is not None:
            env = os.environ
            key, secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"), env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            if not key or not secret or not world.fc_endpoint:
                raise RunError("--target needs --fc-endpoint and ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET")
            kwargs: dict[str, Any] = {"endpoint": world.fc_endpoint, "accessKeyID": key, "accessKeySecret": secret}
            token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN")
            if token:
                kwargs["securityToken"] = token
        else:
            kwargs = {
                "endpoint": world.url,
                "accessKeyID": DEFAULT_ACCESS_KEY_ID,
                "accessKeySecret": DEFAULT_ACCESS_KEY_SECRET,
            }
        timeout = (world.sc.function.timeout or world.fn.timeout) + 10
        return fc2.Client(Timeout=timeout, **kwargs)

    def _fc(self, d: Delivery, *, asynchronous: bool) -> None:
        import fc2

        headers = {"x-fc-invocation-type": "Async" if asynchronous else "Sync"}
        try:
            resp = self._fc_client().invoke_function(
                self.world.service, self.world.function_name, payload=d.payload, headers=headers
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

    def _webhook(self, d: Delivery) -> None:
        import fc2

        event, world = d.event, self.world
        text = d.payload.decode("utf-8")
        content_type = event.content_type or ("application/json" if text.lstrip().startswith("{") else "")
        envelope = {
            "body": text,
            "contentType": content_type or "application/x-www-form-urlencoded",
            "token": world.sc.function.webhook_secret if event.token is None else event.token,
        }
        assert world.webhook_fn is not None
        try:
            resp = self._fc_client().invoke_function(
                world.webhook_fn.service,
                world.webhook_fn.name,
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

    def drain(self) -> bool:
        """Wait for the emulator's FC queue to go idle (bounded)."""
        if self.world.control is None:
            return True
        return self.world.control.fc_wait_idle(DRAIN_TIMEOUT)

    def join_abandoned(self) -> None:
        """A timed-out handler thread keeps running (FC cannot kill it): let it finish its late calls."""
        control = self.world.control
        if control is None or not control.in_process:
            return
        prefix = f"fc-{self.world.service}-{self.world.function_name}-"
        for thread in threading.enumerate():
            if thread.name.startswith(prefix):
                thread.join(DRAIN_TIMEOUT)

    def collect(self, deliveries: list[Delivery]) -> list[dict[str, Any]]:
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
            captured = capture.take(d.request_id, self.world.capture_dir)
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
        control = self.world.control
        if control is None:
            return "accepted"  # a deployed async invocation: FC does not hand the result back
        for r in control.fc_invocations():
            if r.get("requestId") == request_id:
                return f"fc-{str(r.get('status')).lower()}"
        return "accepted"


def _request_id_of(exc: Exception) -> str | None:
    try:
        doc = json.loads(str(getattr(exc, "message", "") or exc))
    except ValueError:
        return None
    rid = doc.get("RequestId") if isinstance(doc, dict) else None
    return str(rid) if rid else None
