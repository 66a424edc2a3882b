"""The evidence behind a decision, gathered from the cloud when the signal arrives.

Each source is a callable returning its value (a count or a yes/no) or raising :class:`Unavailable`
(throttled, refused, not configured). :func:`gather` runs them all in parallel threads under one time
bound, measures it, and never raises: a source that fails, raises anything else or is still running
at the bound is recorded as unavailable with its reason. No state is kept between invocations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from replica_failover.confirm.policy import Facts
from replica_failover.redact import redact_text

Value = int | bool
Source = Callable[[], Value]
MAX_REASON: Final = 300
KNOWN: Final = ("cms_events", "probe", "metric")


class Unavailable(Exception):
    """The source could not say (throttled, forbidden, not configured): neither for nor against."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SourceResult(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)
    name: str
    available: bool
    value: Value | None = None
    reason: str | None = None
    elapsed_ms: float = Field(ge=0)


class Evidence(BaseModel):
    """Per source: a value, or unavailable with the reason. ``elapsed_ms`` is the whole gathering."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)
    sources: dict[str, SourceResult]
    elapsed_ms: float = Field(ge=0)
    timeout_seconds: float

    def value(self, name: str) -> Value | None:
        result = self.sources.get(name)
        return result.value if result is not None and result.available else None

    def facts(self, *, alarm: bool = False, resource: bool = False, manual: bool = False) -> Facts:
        """The policy's view: the signal's class plus what the sources said (None where unavailable)."""
        events = self.value("cms_events")
        probe = self.value("probe")
        metric = self.value("metric")
        return Facts(
            alarm=alarm,
            resource=resource,
            manual=manual,
            events=None if events is None or isinstance(events, bool) else events,
            probe=None if probe is None else bool(probe),
            metric=None if metric is None else bool(metric),
        )


def _run(name: str, source: Source, out: dict[str, SourceResult], lock: threading.Condition) -> None:
    started = time.monotonic()
    try:
        value = source()
        if not isinstance(value, int):  # bool is an int
            raise Unavailable(f"the source returned {type(value).__name__}, not a count or yes/no")
        result = SourceResult(name=name, available=True, value=value, elapsed_ms=_ms(started))
    except Unavailable as exc:
        result = SourceResult(name=name, available=False, reason=_reason(exc.reason), elapsed_ms=_ms(started))
    except Exception as exc:  # a source bug must not take the decision down: it only counts as unavailable
        reason = _reason(f"{type(exc).__name__}: {exc}")
        result = SourceResult(name=name, available=False, reason=reason, elapsed_ms=_ms(started))
    with lock:
        out.setdefault(name, result)
        lock.notify_all()


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _reason(text: str) -> str:
    return redact_text(text)[:MAX_REASON]


def gather(
    sources: Mapping[str, Source],
    timeout: float,
    *,
    settled: Callable[[Mapping[str, SourceResult]], bool] | None = None,
) -> Evidence:
    """Run every source in its own daemon thread; return when all are done, when ``settled`` says the
    answers so far decide (the rest cannot change the outcome), or when ``timeout`` has passed.

    A source still running then is left to finish in the background (its thread is a daemon, its
    late answer ignored) and recorded as unavailable: "timed out after N s", or "not waited for"."""
    started = time.monotonic()
    deadline = started + max(0.0, timeout)
    out: dict[str, SourceResult] = {}
    cond = threading.Condition()
    threads = {
        name: threading.Thread(target=_run, args=(name, src, out, cond), name=f"evidence-{name}", daemon=True)
        for name, src in sources.items()
    }
    for thread in threads.values():
        thread.start()
    decided = False
    with cond:
        while len(out) < len(threads):
            if settled is not None and settled(dict(out)):
                decided = True
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            cond.wait(left)
        elapsed = _ms(started)
        why = "not waited for: the answers already decided" if decided else f"timed out after {timeout:g} s"
        for name in threads:
            out.setdefault(name, SourceResult(name=name, available=False, reason=why, elapsed_ms=elapsed))
        results = {name: out[name] for name in threads}
    return Evidence(sources=results, elapsed_ms=elapsed, timeout_seconds=timeout)
