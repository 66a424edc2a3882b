"""Fault rules, shaped like LocalStack's chaos API and extended for this domain.

Rules are evaluated in order; the first rule that matches the request *and fires* wins. A rule
stops matching once ``count`` firings are spent, while its time window is closed, for the first
``after`` matching calls, or when its seeded coin says no (``probability``). Every rule draws from
its own ``random.Random(seed)``, so the same seed and the same call order give the same decisions.

What a firing rule does: ``latencyMs`` (delay, then carry on), ``hangMs`` (hold the answer past
the client's read timeout), ``reset`` (drop the connection without an answer) and ``error``
(answer with it). ``phase: "after"`` applies the state change first and then misbehaves: the lost
acknowledgement that ClientToken exists for.

``service`` scopes a rule to one emulated service (``ebs``, ``cms``, ``robot``, ``webhook``…).
Without it a rule matches every cloud API; the notification endpoints (:data:`OPT_IN_SERVICES`)
are reached only by rules that name them, so an existing "everything fails" rule does not
silence the alerting a game day observes.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, model_validator

from chaos.emulator.config import Model

# services a rule without ``service`` never matches
OPT_IN_SERVICES = frozenset({"robot", "webhook"})


class FaultError(Model):
    status: int = Field(default=503, ge=400, le=599)
    code: str = Field(default="ServiceUnavailable", min_length=1, max_length=128)
    message: str | None = Field(default=None, max_length=2048)


class FaultRule(Model):
    id: str | None = Field(default=None, max_length=128)
    # matchers: None matches anything
    action: str | None = None
    region: str | None = None
    site: Literal["production", "backup"] | None = None
    target: str | None = None
    access_key_id: str | None = None
    service: str | None = Field(default=None, max_length=32)
    # when
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    count: int | None = Field(default=None, ge=0)
    after: int = Field(default=0, ge=0, description="let the first N matching calls through")
    start_after_seconds: float = Field(default=0.0, ge=0, description="emulator time after the rule is set")
    duration_seconds: float | None = Field(default=None, gt=0)
    seed: int | None = None
    # what
    phase: Literal["before", "after"] = "before"
    error: FaultError | None = None
    latency_ms: float = Field(default=0.0, ge=0, le=600_000)
    hang_ms: float = Field(default=0.0, ge=0, le=600_000)
    reset: bool = False

    @model_validator(mode="after")
    def _default_error(self) -> FaultRule:
        # like LocalStack: a rule that says nothing about what to do fails the call with 503
        if self.error is None and not (self.latency_ms or self.hang_ms or self.reset):
            self.error = FaultError()
        return self


@dataclass
class _Armed:
    rule: FaultRule
    rng: random.Random
    installed_at: float
    matched: int = 0
    fired: int = 0


@dataclass(frozen=True)
class Firing:
    rule_id: str
    rule: FaultRule


@dataclass
class FaultEngine:
    _armed: list[_Armed] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 0

    def set(self, rules: list[FaultRule], now: float, default_seed: int) -> None:
        with self._lock:
            # numbering restarts, so unseeded rules get the same ids and seeds every time they are set
            self._armed, self._next_id = [], 0
            self._add(rules, now, default_seed)

    def add(self, rules: list[FaultRule], now: float, default_seed: int) -> None:
        with self._lock:
            self._add(rules, now, default_seed)

    def _add(self, rules: list[FaultRule], now: float, default_seed: int) -> None:
        for given in rules:
            self._next_id += 1
            rule = given.model_copy(update={"id": given.id or f"rule-{self._next_id}"})
            seed = rule.seed if rule.seed is not None else default_seed * 1_000_003 + self._next_id
            self._armed.append(_Armed(rule, random.Random(seed), now))

    def remove(self, rule_id: str | None = None) -> int:
        with self._lock:
            before = len(self._armed)
            if rule_id is None:
                self._armed, self._next_id = [], 0
            else:
                self._armed = [a for a in self._armed if a.rule.id != rule_id]
            return before - len(self._armed)

    def rules(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {**a.rule.model_dump(by_alias=True, exclude_none=True), "matched": a.matched, "fired": a.fired}
                for a in self._armed
            ]

    def decide(
        self,
        *,
        action: str,
        region: str | None,
        site: str | None,
        target: str | None,
        access_key_id: str | None,
        now: float,
        service: str = "ebs",
    ) -> Firing | None:
        with self._lock:
            for armed in self._armed:
                r = armed.rule
                if r.service is None and service in OPT_IN_SERVICES:
                    continue
                if r.service is not None and r.service != service:
                    continue
                if r.action is not None and r.action != action:
                    continue
                if r.region is not None and r.region != region:
                    continue
                if r.site is not None and r.site != site:
                    continue
                if r.target is not None and r.target != target:
                    continue
                if r.access_key_id is not None and r.access_key_id != access_key_id:
                    continue
                start = armed.installed_at + r.start_after_seconds
                if now < start or (r.duration_seconds is not None and now >= start + r.duration_seconds):
                    continue
                if r.count is not None and armed.fired >= r.count:
                    continue
                armed.matched += 1
                if armed.matched <= r.after:
                    continue
                # always draw: a rule's decisions then depend only on its seed and its matches
                if armed.rng.random() >= r.probability:
                    continue
                armed.fired += 1
                assert r.id is not None
                return Firing(r.id, r)
        return None
