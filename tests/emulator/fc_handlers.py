"""Sample FC handlers for tests/emulator/test_fc.py (referenced as ``tests.emulator.fc_handlers:<name>``).

Counters live in one lock-protected dict so concurrent handler threads and the test agree;
``reset()`` runs before each test and ``release_all()`` after it, so no handler thread from one
test can block the next.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from chaos.emulator.fc import FcContext

_lock = threading.Lock()
_counters: dict[str, int] = {}

SLOW_ENTERED = threading.Event()
SLOW_RELEASE = threading.Event()
SLOW_DONE = threading.Event()
AGE_ENTERED = threading.Event()
AGE_PROCEED = threading.Event()
_EVENTS = (SLOW_ENTERED, SLOW_RELEASE, SLOW_DONE, AGE_ENTERED, AGE_PROCEED)
WAIT = 10.0  # upper bound for any handler wait, so a broken test cannot hang forever


class _Rendezvous:
    barrier = threading.Barrier(2, timeout=WAIT)


def reset() -> None:
    with _lock:
        _counters.clear()
    for event in _EVENTS:
        event.clear()
    _Rendezvous.barrier = threading.Barrier(2, timeout=WAIT)


def release_all() -> None:
    SLOW_RELEASE.set()
    AGE_PROCEED.set()
    _Rendezvous.barrier.abort()


def bump(key: str) -> int:
    with _lock:
        _counters[key] = _counters.get(key, 0) + 1
        return _counters[key]


def count(key: str) -> int:
    with _lock:
        return _counters.get(key, 0)


def echo(event: bytes, context: FcContext) -> dict[str, Any]:
    return {"event": json.loads(event), "requestId": context.request_id}


def raw_bytes(event: bytes, context: FcContext) -> bytes:
    return b"\x00raw\xff" + event


def text(event: bytes, context: FcContext) -> str:
    return "héllo"


def boom(event: bytes, context: FcContext) -> None:
    raise ValueError("boom: " + event.decode())


def slow(event: bytes, context: FcContext) -> str:
    SLOW_ENTERED.set()
    SLOW_RELEASE.wait(WAIT)
    bump("slow:finished")
    SLOW_DONE.set()
    return "finished late"


def flaky(event: bytes, context: FcContext) -> dict[str, int]:
    """Fails the first ``fail`` calls for ``key``."""
    data = json.loads(event)
    attempt = bump(f"flaky:{data['key']}")
    if attempt <= data["fail"]:
        raise RuntimeError(f"attempt {attempt} failed")
    return {"attempt": attempt}


def age_gate(event: bytes, context: FcContext) -> None:
    """Fails, but only once the test has moved the emulator clock."""
    bump("age")
    AGE_ENTERED.set()
    AGE_PROCEED.wait(WAIT)
    raise RuntimeError("first attempt fails")


def env(event: bytes, context: FcContext) -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in json.loads(event)}


def rendezvous(event: bytes, context: FcContext) -> str:
    """Succeeds only if two invocations run at the same time."""
    _Rendezvous.barrier.wait()
    return "met"


def context_dump(event: bytes, context: FcContext) -> dict[str, Any]:
    return {
        "request_id": context.request_id,
        "credentials": vars(context.credentials),
        "function": vars(context.function),
        "service": vars(context.service),
        "region": context.region,
        "account_id": context.account_id,
        "tracing": {
            "span_context": context.tracing.span_context,
            "jaeger_endpoint": context.tracing.jaeger_endpoint,
            "span_baggages": context.tracing.parseOpenTracingBaggages(),
        },
    }


def initialize(context: FcContext) -> None:
    bump(f"init:{context.function.name}")


def initialize_fails_once(context: FcContext) -> None:
    if bump(f"init-attempt:{context.function.name}") == 1:
        raise RuntimeError("initializer failed")
    bump(f"init:{context.function.name}")


def inits(event: bytes, context: FcContext) -> dict[str, int]:
    return {"inits": count(f"init:{context.function.name}"), "calls": bump(f"calls:{context.function.name}")}


def chatty(event: bytes, context: FcContext) -> str:
    print("hello from print")
    logging.getLogger().warning("warned via root")
    context.getLogger().info("info via context logger")
    return "ok"
