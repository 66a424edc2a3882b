"""Run one drawn scenario (fleet + faults + deliveries + conditions) against the emulator; check the ledger.

One 127.0.0.1 server per test module (:class:`Lab`); between examples the emulator behind it is
reset (or swapped for a fresh one), so examples are independent without paying a server start each.
The handler runs in-process (like ``tests/function``), one thread per concurrent copy.

Every check reads the emulator's ledger and final state, never the function's own account of what
it did: the result dicts are only used to check that nothing is *reported* wrongly or dropped.
"""

from __future__ import annotations

import io
import math
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_localserver.http import WSGIServer
from replica_failover.handler import PendingWork, handle
from replica_failover.retry import Backoff

from chaos.emulator.app import Emulator
from tests.chaos.strategies import DR, Conditions, FaultSchedule, Notification
from tests.chaos.strategies import DeliveryPlan as Delivery
from tests.chaos.strategies import DrawnFleet as Fleet
from tests.function.conftest import base_env, fc_context

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

BACKOFF = Backoff(base=0.001, cap=0.01)  # the policy is under test, not its wall-clock waits
LONG_TIMEOUT = 60.0  # FC timeout of every invocation but a deliberately short first one
DEADLINE_SLACK = 0.5  # scheduling and thread joins on a loaded 2-core machine
FIRST_RUN_OVERSHOOT = 0.2  # the short first invocation's calls add up to its deadline plus this (seconds)


class Lab:
    """The WSGI app behind the module's server: forwards to the current emulator, counts requests in flight.

    The count is what makes examples independent: a request the client gave up on (a hang past the
    read timeout) is still running in the server, and would otherwise land in the *next* example's
    backend and ledger. :meth:`drain` waits for it (a condition variable, no sleeping).
    """

    def __init__(self) -> None:
        self.emulator = Emulator(region=DR)
        self._cv = threading.Condition()
        self._inflight = 0
        self.server = WSGIServer(host="127.0.0.1", port=0, application=self, threaded=True)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._cv:
            self._inflight += 1
        try:
            # consume the body here so the count covers the whole answer
            return list(self.emulator(environ, start_response))
        finally:
            with self._cv:
                self._inflight -= 1
                self._cv.notify_all()

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.server.join(timeout=10)
        self.emulator.fc.shutdown()

    def drain(self, timeout: float = 30.0) -> None:
        with self._cv:
            if not self._cv.wait_for(lambda: self._inflight == 0, timeout):
                raise AssertionError(f"{self._inflight} emulator request(s) still running after {timeout}s")

    def reset(self) -> Emulator:
        """The same emulator, emptied: backend, ledger, tokens, faults, limits and config."""
        self.drain()
        self.emulator.reset(config=True)
        self.emulator.clock.freeze(False)  # reset() leaves the clock alone
        return self.emulator

    def fresh(self) -> Emulator:
        """A brand-new emulator (fault-rule numbering, jitter RNG and clock included)."""
        self.drain()
        old, self.emulator = self.emulator, Emulator(region=DR)
        old.fc.shutdown()
        return self.emulator


@dataclass
class Invocation:
    index: int
    notification: Notification
    timeout: float
    budget: float  # what the handler promises: max(0.5, timeout - margin)
    elapsed: float = 0.0
    result: dict[str, Any] | None = None
    pending: bool = False
    error: str | None = None  # anything but a result or PendingWork escaped the handler
    retry_of: int | None = None

    @property
    def status(self) -> str:
        return "error" if self.result is None else str(self.result.get("status"))


@dataclass
class Run:
    fleet: Fleet
    schedule: FaultSchedule
    delivery: Delivery
    conditions: Conditions
    replication_cycle: float | None = None
    invocations: list[Invocation] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    effects: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, str] = field(default_factory=dict)  # id -> status, every record of the backend
    first_latency_ms: float = 0.0

    # ------------------------------------------------------------------ views
    @property
    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if str(r.get("action", "")).startswith("Failover")]

    def effects_per_target(self) -> Counter[str]:
        return Counter(str(e["targetId"]) for e in self.effects)

    def chains(self) -> list[Invocation]:
        """The last invocation of every FC delivery (itself, or its last FC retry)."""
        retried = {i.retry_of for i in self.invocations if i.retry_of is not None}
        return [i for i in self.invocations if i.index not in retried]

    def describe(self) -> str:
        calls = Counter(
            (r.get("action"), r.get("code") or r.get("status"), bool(r.get("replayed"))) for r in self.requests
        )
        invs = "; ".join(
            f"#{i.index}{'(retry of #' + str(i.retry_of) + ')' if i.retry_of is not None else ''} "
            f"{i.notification.shape} t={i.timeout} -> {i.status} in {i.elapsed:.2f}s"
            + (f" ERROR {i.error}" if i.error else "")
            for i in self.invocations
        )
        return (
            f"fleet: {self.fleet.describe()}\nfaults:\n{self.schedule.describe()}\n"
            f"delivery: {self.delivery.describe()}\nconditions: {self.conditions.describe()}\n"
            f"replication cycle: {self.replication_cycle or 'default (900 s)'}\n"
            f"invocations: {invs}\ncalls: {dict(calls)}\neffects: {dict(self.effects_per_target())}"
        )


# -------------------------------------------------------------------------------------------- run
def run_scenario(
    lab: Lab,
    fleet: Fleet,
    schedule: FaultSchedule,
    delivery: Delivery,
    conditions: Conditions,
    *,
    fresh: bool = False,
    replication_cycle: float | None = None,
) -> Run:
    """``replication_cycle``: the primary still replicates (a partial outage), and every replicating
    target's LastRecoverPoint moves on each cycle: on the running clock, and between waves even when
    the clock is frozen. None: the emulator's default cycle (900 s), which no example lives through."""
    em = lab.fresh() if fresh else lab.reset()
    em.update_config(conditions.emulator_config())
    if replication_cycle is not None:
        em.update_config({"replicationCycleSeconds": replication_cycle})
    if conditions.frozen_clock:
        em.clock.freeze(True)
    pairs, groups = fleet.records()
    em.backend.seed_pairs(pairs)
    em.backend.seed_groups(groups)
    em.faults.set(schedule.all_rules(), em.clock.now(), em.config().seed)
    env = base_env(lab.endpoint, **conditions.function_env())
    run = Run(fleet, schedule, delivery, conditions, replication_cycle)
    counter = iter(range(10_000))

    def invoke(note: Notification, timeout: float, retry_of: int | None = None) -> Invocation:
        inv = Invocation(
            next(counter),
            note,
            timeout,
            max(0.5, timeout - conditions.deadline_margin),
            retry_of=retry_of,
        )
        ctx = fc_context(em, timeout=timeout, request_id=f"inv-{inv.index}")
        t0 = time.monotonic()
        try:
            inv.result = handle(note.payload(), ctx, env=env, log_stream=io.StringIO(), backoff=BACKOFF)
        except PendingWork as exc:
            inv.result, inv.pending = dict(exc.result), True
        except Exception:
            inv.error = traceback.format_exc(limit=8)
        inv.elapsed = time.monotonic() - t0
        return inv

    for w, wave in enumerate(delivery.waves):
        if replication_cycle is not None and w > 0:
            em.advance(replication_cycle)  # a cycle completes between notifications
        short = w == 0 and delivery.first_timeout is not None
        timeout = delivery.first_timeout if short and delivery.first_timeout else LONG_TIMEOUT
        if short:
            # slow enough that the short first run meets its deadline
            # (two describes, then the writes in rounds of FAILOVER_CONCURRENCY), each call below the read timeout
            rounds = 2 + math.ceil(len(fleet.eligible_targets) / conditions.concurrency)
            budget = max(0.5, timeout - conditions.deadline_margin)
            # only calls *started* after the deadline are left pending: all but the last round must overrun it
            slow = (budget + FIRST_RUN_OVERSHOOT) * 1000 / (rounds - 1)
            run.first_latency_ms = min(conditions.read_timeout * 800, slow)
            em.update_config({"latencyMs": run.first_latency_ms})
        done: list[Invocation] = []
        if len(wave) == 1:
            done.append(invoke(wave[0], timeout))
        else:
            lock = threading.Lock()

            def one(
                note: Notification, timeout: float = timeout, lock: threading.Lock = lock, done: list[Invocation] = done
            ) -> None:
                inv = invoke(note, timeout)
                with lock:
                    done.append(inv)

            threads = [threading.Thread(target=one, args=(n,), name=f"copy-{k}") for k, n in enumerate(wave)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(LONG_TIMEOUT * 2)
            assert not any(t.is_alive() for t in threads), "a concurrent invocation never returned"
        if short:
            em.update_config({"latencyMs": conditions.latency_ms})  # the outage calms down
        # FC's async retries: a pending invocation is delivered again, same payload, normal timeout
        for inv in sorted(done, key=lambda i: i.index):
            run.invocations.append(inv)
            last = inv
            for _ in range(delivery.fc_retries):
                if not last.pending:
                    break
                last = invoke(last.notification, LONG_TIMEOUT, retry_of=last.index)
                run.invocations.append(last)

    lab.drain()  # requests the client abandoned (hangs) finish before anything is read
    if conditions.frozen_clock:
        em.advance(3600)  # let failovering complete: the final state is what a later look would see
    else:
        em.advance(0)
    snap = em.ledger.snapshot()
    run.requests, run.effects = snap["requests"], snap["effects"]
    with em.backend.lock:
        run.final = {p.ReplicaPairId: p.Status for p in em.backend.pairs.values()}
        run.final.update({g.ReplicaGroupId: g.Status for g in em.backend.groups.values()})
    return run


# ----------------------------------------------------------------------------------------- checks
def check_handler_contract(run: Run) -> None:
    """The handler returns a result or raises PendingWork; nothing else ever escapes it."""
    errors = [i for i in run.invocations if i.error]
    assert not errors, f"the handler raised:\n{errors[0].error}\n{run.describe()}"


def check_exactly_once(run: Run) -> None:
    """Property (1): every eligible target ends failovered with exactly one effect.

    A group's effect counts for its members (it must name all of them); members have none of their own.
    """
    fleet = run.fleet
    effects = run.effects_per_target()
    wrong = {t: effects.get(t, 0) for t in sorted(fleet.eligible_targets) if effects.get(t, 0) != 1}
    assert not wrong, f"eligible targets without exactly one effect: {wrong}\n{run.describe()}"
    for e in run.effects:
        if e["targetType"] == "group":
            members = next(g.members for g in fleet.groups if g.id == e["targetId"])
            assert sorted(e.get("pairIds") or []) == sorted(members), f"group effect {e} missed members"
    expected = fleet.expected_status()
    for rid in sorted(fleet.eligible_targets | fleet.covered_members):
        assert run.final.get(rid) == "failovered", (
            f"{rid} ended {run.final.get(rid)!r}, expected failovered\n{run.describe()}"
        )
        assert expected[rid] == "failovered"
    # why it holds: one ClientToken per target, whatever the notification, retry, copy or recovery point
    # (round 0 of its chain: no example has an earlier incident that consumed it)
    tokens: dict[str, set[str]] = {}
    for w in run.writes:
        tokens.setdefault(str(w.get("target")), set()).add(str(w.get("clientToken")))
    several = {t: len(v) for t, v in tokens.items() if len(v) > 1}
    assert not several, f"targets called with several ClientTokens: {several}\n{run.describe()}"
    # and the function says so: every finished delivery reports each eligible target as done
    for inv in run.chains():
        assert not inv.pending and inv.result is not None, f"invocation #{inv.index} still pending\n{run.describe()}"
        assert inv.result["status"] == "completed" and inv.result["ok"], (
            f"#{inv.index}: {inv.result['status']}: {inv.result['reason']}\n{run.describe()}"
        )
        outcomes = {t["id"]: t["outcome"] for t in inv.result["targets"]}
        bad = {
            t: outcomes.get(t)
            for t in fleet.eligible_targets
            if outcomes.get(t) not in ("failedOver", "alreadyFailedOver")
        }
        assert not bad, f"#{inv.index} reports eligible targets as {bad}\n{run.describe()}"


def check_untouched(run: Run) -> None:
    """Property (2): no write call names an ineligible target, no effect touches one, its state is unchanged."""
    fleet = run.fleet
    untouchable = fleet.untouchable
    named = sorted({str(w.get("target")) for w in run.writes} & untouchable)
    assert not named, f"write calls named ineligible targets {named}\n{run.describe()}"
    touched = sorted({str(e["targetId"]) for e in run.effects} & untouchable)
    assert not touched, f"effects on ineligible targets {touched}\n{run.describe()}"
    expected = fleet.expected_status()
    changed = {
        rid: (expected[rid], run.final.get(rid))
        for rid in sorted(untouchable - fleet.covered_members)
        if run.final.get(rid) != expected[rid]
    }
    assert not changed, f"ineligible records changed state (expected, found): {changed}\n{run.describe()}"
    for inv in run.invocations:
        if inv.result is None:
            continue
        claimed = sorted(
            t["id"] for t in inv.result.get("targets", []) if t["outcome"] == "failedOver" and t["id"] in untouchable
        )
        assert not claimed, f"#{inv.index} claims to have failed over ineligible {claimed}\n{run.describe()}"


def check_primary_never_called(run: Run) -> None:
    """Property (3): every call goes to the DR region; every describe asks the backup site."""
    elsewhere = [r for r in run.requests if r.get("regionId") != run.fleet.dr]
    assert not elsewhere, f"calls outside {run.fleet.dr}: {elsewhere[:3]}\n{run.describe()}"
    production = [r for r in run.requests if str(r.get("action", "")).startswith("Describe") and r["site"] != "backup"]
    assert not production, f"describes of the production (primary) site: {production[:3]}\n{run.describe()}"
    guards = [r for r in run.requests if r.get("fault") in ("primary-region-down", "production-site-down")]
    assert not guards, f"calls hit the primary-is-down rules: {guards[:3]}"


def deadline_bound(inv: Invocation, conditions: Conditions) -> float:
    """Property (4)'s bound: the deadline, plus one call that was already on the wire when it came.

    The handler only *starts* work before its deadline; a call sent just before it may take up to
    the read timeout to come back. The deadline margin exists to absorb exactly that.
    """
    return inv.budget + conditions.read_timeout + DEADLINE_SLACK


def check_deadlines(run: Run) -> None:
    """Property (4): each invocation returns (or raises PendingWork) by its deadline, plus the tolerance."""
    for inv in run.invocations:
        bound = deadline_bound(inv, run.conditions)
        assert inv.elapsed <= bound, (
            f"#{inv.index} took {inv.elapsed:.3f}s, deadline {inv.budget:.2f}s (bound {bound:.2f}s)\n{run.describe()}"
        )
        assert inv.elapsed < inv.timeout, f"#{inv.index} outlived its FC timeout {inv.timeout}s"


def check_reported_never_dropped(run: Run) -> None:
    """Permanent faults: a target that did not fail over is reported failed/skipped/pending, never dropped."""
    fleet = run.fleet
    effects = run.effects_per_target()
    over = {t: n for t, n in effects.items() if n > 1}
    assert not over, f"more than one effect: {over}\n{run.describe()}"
    for inv in run.chains():
        assert inv.result is not None
        result = inv.result
        outcomes = {t["id"]: t["outcome"] for t in result.get("targets", [])}
        if not outcomes and result["status"] in ("pending", "failed"):
            # the listing itself failed: nothing was planned, so nothing may have been called
            assert result["ok"] is False
            continue
        for rid in sorted(fleet.eligible_targets):
            done = effects.get(rid, 0) == 1
            if done:
                assert run.final.get(rid) == "failovered", f"{rid} has its effect but ended {run.final.get(rid)}"
                continue
            assert outcomes.get(rid) in ("failed", "skipped", "pending"), (
                f"#{inv.index}: {rid} not failed over, reported {outcomes.get(rid)!r}\n{run.describe()}"
            )
            assert run.final.get(rid) == _seeded(fleet, rid), (
                f"{rid} changed state without an effect: {run.final.get(rid)}\n{run.describe()}"
            )
        if any(outcomes.get(t) in ("failed", "pending") for t in fleet.eligible_targets):
            assert result["ok"] is False and result["status"] in ("partial", "pending"), (
                f"#{inv.index} reports {result['status']} ok={result['ok']} with targets failed/pending"
            )


def _seeded(fleet: Fleet, rid: str) -> str:
    for g in fleet.groups:
        if g.id == rid:
            return g.status
    return next(p.status for p in fleet.pairs if p.id == rid)


def projection(run: Run) -> dict[str, Any]:
    """What must repeat for the same example: the calls in order, the effects, the final state.

    Request ids, times, signatures and durations vary by nature and are left out; everything the
    function *decides* (which action, on what, with which token) and everything the emulator
    *answers* (status, code, replay, which fault rule fired) is in.
    """
    return {
        "requests": [
            (
                r.get("action"),
                r.get("target"),
                r.get("status"),
                r.get("code"),
                bool(r.get("replayed")),
                r.get("clientToken"),
                r.get("fault"),
                r.get("site"),
            )
            for r in run.requests
        ],
        "effects": [(e["action"], e["targetId"], e["from"], e["to"], e["clientToken"]) for e in run.effects],
        "final": dict(sorted(run.final.items())),
        "outcomes": [
            sorted((t["id"], t["outcome"], t["attempts"]) for t in (i.result or {}).get("targets", []))
            for i in run.invocations
        ],
    }
