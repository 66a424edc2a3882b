"""Property-based chaos: random fleets, fault schedules and deliveries against the emulator.

Every property is read from the emulator's ledger and final state. What each test checks:

=========================================  =====================================================
test                                       properties
=========================================  =====================================================
test_failover_invariants (main)            (1) exactly once, (2) untouched, (3) DR only, (4) deadline;
                                           half the examples with a moving recovery point
test_ineligible_heavy_fleets               (2) with most targets ineligible or on other routes; (1) (3) (4)
test_deadline_with_timed_out_first_run     (4) with a short first FC timeout every time; (1) (2) (3);
                                           half the examples with a moving recovery point
test_same_example_same_ledger              (5) determinism, plus (1) (2) (3)
test_permanent_faults_are_reported         permanent faults: reported failed/skipped/pending; (2) (3) (4)
=========================================  =====================================================
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import event, given, note
from hypothesis import strategies as st

from tests.chaos.conftest import chaos_settings
from tests.chaos.harness import (
    Lab,
    Run,
    check_deadlines,
    check_exactly_once,
    check_handler_contract,
    check_primary_never_called,
    check_reported_never_dropped,
    check_untouched,
    projection,
    run_scenario,
)
from tests.chaos.strategies import ChaosCase as Scenario
from tests.chaos.strategies import conditions, deliveries, fleets, routes, scenarios, statuses

# a partial outage: the primary goes on replicating, so every replicating target's LastRecoverPoint moves
# each second of emulator time (and between waves); the ClientToken must not move with it
moving_recovery_point = st.sampled_from((None, 1.0))


def _run(lab: Lab, s: Scenario, *, fresh: bool = False, cycle: float | None = None) -> Run:
    note(s.describe())
    note(f"replication cycle: {cycle}")
    run = run_scenario(lab, s.fleet, s.faults, s.delivery, s.conditions, fresh=fresh, replication_cycle=cycle)
    _statistics(run)
    return run


def _statistics(run: Run) -> None:
    """Coverage, shown by ``--hypothesis-show-statistics``: did the interesting situations happen?"""
    fired = sorted({str(r["fault"]).split("-", 1)[-1] for r in run.requests if r.get("fault")})
    event(f"faults fired: {','.join(fired) or 'none'}")
    codes = {str(r.get("code")) for r in run.requests if r.get("code")}
    if "LastTokenProcessing" in codes:
        event("a call met LastTokenProcessing")
    if any(r.get("replayed") for r in run.requests):
        event("a ClientToken was replayed")
    if any(i.retry_of is not None for i in run.invocations):
        event("FC re-invoked a pending invocation")
    event(f"concurrent copies: {run.delivery.concurrent}")
    n = len(run.fleet.eligible_targets)
    event(f"eligible targets: {'0' if n == 0 else '1-5' if n <= 5 else '6-20' if n <= 20 else '>20'}")


def _always(run: Run) -> None:
    check_handler_contract(run)
    check_untouched(run)
    check_primary_never_called(run)
    check_deadlines(run)


@chaos_settings(ci=40, deep=2000)
@given(scenario=scenarios(), cycle=moving_recovery_point)
def test_failover_invariants(lab: Lab, scenario: Scenario, cycle: float | None) -> None:
    """(1)-(4) on any fleet, survivable faults, any delivery: exactly one effect per eligible target.

    Survivable: every fault rule fires a bounded number of times and the retry limits exceed the
    sum, so the function must finish the job, across FC re-invocations if its first run timed out.
    """
    run = _run(lab, scenario, cycle=cycle)
    event(f"recovery point moving: {cycle is not None}")
    _always(run)
    check_exactly_once(run)


@chaos_settings(ci=25, deep=500)
@given(
    scenario=scenarios(
        fleet=fleets(status=statuses(eligible_weight=1, ineligible_weight=3), route=routes(failover_weight=1))
    )
)
def test_ineligible_heavy_fleets(lab: Lab, scenario: Scenario) -> None:
    """(2): fleets where most records must be left alone (ineligible states, other routes, reverse ones)."""
    run = _run(lab, scenario)
    _always(run)
    check_exactly_once(run)


@chaos_settings(ci=12, deep=300)
@given(
    scenario=scenarios(
        fleet=fleets(max_pairs=30),
        delivery=deliveries(max_waves=2, max_copies=3, reinvoke=True),
        condition=conditions(rate_limits=False),
    ),
    cycle=moving_recovery_point,
)
def test_deadline_with_timed_out_first_run(lab: Lab, scenario: Scenario, cycle: float | None) -> None:
    """(4): a first invocation with a short FC timeout meets a slow API, ends pending, and FC re-invokes.

    The handler must give up before its deadline (timeout - margin; plus one read timeout for the
    call already on the wire) and the re-invocations must finish the job without a second effect.
    """
    run = _run(lab, scenario, cycle=cycle)
    event(f"first invocation ended {run.invocations[0].status}")
    _always(run)
    check_exactly_once(run)


@chaos_settings(ci=30, deep=500)
@given(
    scenario=scenarios(
        delivery=deliveries(max_waves=1, max_copies=1, reinvoke=False),
        condition=conditions(concurrency=(1,), rate_limits=False, latency=False, read_timeout=5.0),
        kinds=("504", "500", "503", "throttling", "invalid-status", "last-token", "reset"),
    )
)
def test_same_example_same_ledger(lab: Lab, scenario: Scenario) -> None:
    """(5): the same example (same fleet, rules and rule seeds) gives the same ledger, twice, on fresh emulators.

    Determinism is defined on what is deterministic. With FAILOVER_CONCURRENCY=1 and one delivery
    the function's calls happen in one order, so each rule's seeded coin sees the same sequence of
    matches and decides the same way; the projection compared is then the *ordered* list of
    (action, target, HTTP status, code, replayed, ClientToken, fault rule, site), the effects, the
    final state and the per-target outcomes. Excluded because they are timing, not decisions:
    concurrent copies and FC re-invocation after a timeout (which call wins a race or meets the
    deadline), hangs past the read timeout, emulator rate limits and latency (token buckets and
    read timeouts on the wall clock). The read timeout is raised to 5 s so that a loaded machine
    cannot turn a slow answer into a retry. Request ids, times and signatures are never compared.
    """
    first = _run(lab, scenario, fresh=True)
    second = _run(lab, scenario, fresh=True)
    _always(first)
    check_exactly_once(first)
    a, b = projection(first), projection(second)
    for key in a:
        assert a[key] == b[key], f"{key} differs between two runs of the same example:\n{a[key]}\n{b[key]}"


@chaos_settings(ci=40, deep=500)
@given(
    scenario=scenarios(
        delivery=deliveries(max_waves=2, max_copies=2, reinvoke=False),
        condition=conditions(rate_limits=False, max_attempts=3),
        permanent=True,
    ),
    fc_retries=st.integers(0, 2),
)
def test_permanent_faults_are_reported(lab: Lab, scenario: Scenario, fc_retries: int) -> None:
    """Permanent faults (permanent codes, never-ending 5xx): never more than one effect, nothing dropped.

    A target that could not be failed over is reported failed, skipped or pending in the result of
    every delivery, its state is unchanged, and the result is not ``ok``.
    """
    run = _run(lab, replace(scenario, delivery=replace(scenario.delivery, fc_retries=fc_retries)))
    _always(run)
    check_reported_never_dropped(run)
