"""The steady-state hypothesis as a table of checks: one small function per ``expect`` field.

:data:`CHECKS` lists every check once, in report order: its name, whether the scenario switched it on,
whether it needs the emulator's ledger, and the function that judges it from :class:`Observations`.
A check that could pass because nothing happened says so (``failed-reason`` with no failed target fails).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.gameday import drill_checks
from chaos.gameday.confirmation_checks import (
    event_writes,
    evidence_time,
    is_primary_probe,
    no_secret_leaked,
    notification_kinds,
    notification_text,
    notifications_accepted,
    primary_probes,
    result_fields,
    result_notification_failures,
)
from chaos.gameday.eligibility import FAILOVER_FROM, TargetKey
from chaos.gameday.journal import ExpectationResult
from chaos.gameday.observations import Observations
from chaos.gameday.recovery_checks import (
    Finding,
    RecoveryView,
    findings_reported,
    one_effect_per_step,
    order_respected,
    rto_within,
    service_restored,
)
from chaos.gameday.reverse_checks import REVERSE_CHECKS
from chaos.gameday.scenario import DrillExpect, Expect, RecoveryExpect
from chaos.gameday.verdict import MAX_NAMED, Verdict, short

_short = short


def _result(name: str, v: Verdict) -> ExpectationResult:
    return ExpectationResult(
        name=name,
        ok=v.ok,
        expected=v.expected,
        measured=v.measured,
        message="" if v.ok else v.message,
        offenders=None if v.ok or not v.offenders else v.offenders,
    )


# ------------------------------------------------------------------------------- the checks
def _all_failed_over(x: Expect, obs: Observations) -> Verdict:
    bad = sorted(k for k in obs.eligible if obs.final.get(k) != "failovered")
    return Verdict(
        not bad,
        f"all {len(obs.eligible)} eligible target(s) end failovered",
        f"{len(obs.eligible) - len(bad)} of {len(obs.eligible)} failovered",
        "not failed over: " + ", ".join(f"{k[1]} ({obs.final.get(k, 'missing')})" for k in bad[:MAX_NAMED]),
        {k[1]: obs.final.get(k, "missing") for k in bad},
    )


def _one_effect_each(x: Expect, obs: Observations) -> Verdict:
    effects = obs.effects()
    bad = sorted(k for k in obs.eligible if effects[k] != 1)
    tokens: dict[str, list[str]] = defaultdict(list)
    for e in obs.ledger.get("effects", []):
        tokens[str(e["targetId"])].append(str(e.get("clientToken")))
    return Verdict(
        not bad,
        "== 1 effect per eligible target",
        f"{len(obs.eligible) - len(bad)} of {len(obs.eligible)} with one effect",
        "; ".join(
            f"{k[1]} had {effects[k]} effect(s)"
            + (f" with tokens {', '.join(t[:12] for t in tokens[k[1]])}" if effects[k] > 1 else "")
            for k in bad[:MAX_NAMED]
        ),
        {k[1]: effects[k] for k in bad},
    )


def _no_ineligible_touched(x: Expect, obs: Observations) -> Verdict:
    effects = obs.effects()
    bad = sorted(k for k in effects if k not in obs.eligible)
    return Verdict(
        not bad,
        "0 effects on targets outside the eligible set",
        sum(effects[k] for k in bad),
        f"touched: {_short(bad)}",
        {k[1]: effects[k] for k in bad},
    )


def _no_primary_calls(x: Expect, obs: Observations) -> Verdict:
    # the confirmation probe reads the primary on purpose (bounded, read-only): primary-probes bounds it
    bad = [
        r
        for r in obs.ebs_requests()
        if not is_primary_probe(r, obs.primary)
        and (
            r.get("regionId") == obs.primary
            or (str(r.get("action", "")).startswith("Describe") and r.get("site") in (None, "production"))
        )
    ]
    return Verdict(
        not bad,
        f"no ebs call with RegionId={obs.primary}, no describe of Site=production (but the confirmation probe)",
        len(bad),
        "; ".join(
            f"#{r.get('seq')} {r.get('action')} RegionId={r.get('regionId')} Site={r.get('site')}"
            for r in bad[:MAX_NAMED]
        ),
    )


def _completion_time(x: Expect, obs: Observations) -> Verdict:
    limit = x.max_duration_seconds or 0.0
    took = round(obs.trigger_seconds, 3)
    return Verdict(took <= limit, f"<= {limit:g} s", took, f"took {obs.trigger_seconds:.2f} s")


def _api_calls(x: Expect, obs: Observations) -> Verdict:
    n, limit = obs.api_calls(), x.max_api_calls or 0
    return Verdict(n <= limit, f"<= {limit}", n, f"{n} calls")


def _write_calls(x: Expect, obs: Observations) -> Verdict:
    n, limit = obs.write_calls(), x.max_write_calls or 0
    targets = sorted({str(r.get("target")) for r in obs.writes()})
    return Verdict(n <= limit, f"<= {limit}", n, f"{n} write call(s): " + _short(targets), targets)


def _retries(x: Expect, obs: Observations) -> Verdict:
    n, limit = obs.retries(), x.max_retries or 0
    return Verdict(n <= limit, f"<= {limit}", n, f"{n} retries")


def _faults_fired(x: Expect, obs: Observations) -> Verdict:
    n, floor = obs.faults_fired(), x.min_faults_fired or 0
    return Verdict(n >= floor, f">= {floor}", n, f"only {n} fired")


def _judged_statuses(x: Expect, obs: Observations) -> list[tuple[str, str, list[str]]]:
    """Each delivery's (label, status, allowed): its own expectStatus, else expect.resultStatus."""
    return [
        (label, status, own if own is not None else (x.result_status or []))
        for label, status, own in obs.invocation_status
        if own is not None or x.result_status is not None
    ]


def _result_status(x: Expect, obs: Observations) -> Verdict:
    judged = _judged_statuses(x, obs)
    bad = [(label, status) for label, status, allowed in judged if status not in allowed]
    bounds = sorted({s for _, _, allowed in judged for s in allowed})
    return Verdict(
        not bad,
        f"each invocation ends {' | '.join(bounds)}",
        [s for _, s, _ in judged],
        "; ".join(f"{label}: {status}" for label, status in bad[:MAX_NAMED]),
        [label for label, _ in bad],
    )


def _result_ok(x: Expect, obs: Observations) -> Verdict:
    bad = [r for r in obs.final_results if r.get("ok") is not x.result_ok]
    return Verdict(
        not bad and bool(obs.final_results),
        f"every result says ok={str(x.result_ok).lower()}",
        [r.get("ok") for r in obs.final_results],
        f"{len(bad)} result(s) say otherwise" if obs.final_results else "no result to read",
    )


def _result_reason(x: Expect, obs: Observations) -> Verdict:
    needle = x.result_reason_contains or ""
    bad = [r for r in obs.final_results if needle not in f"{r.get('reason')} {r.get('refused') or ''}"]
    return Verdict(
        not bad and bool(obs.final_results),
        f"every result's reason mentions {needle!r}",
        [r.get("reason") for r in obs.final_results][:MAX_NAMED],
        "; ".join(str(r.get("reason")) for r in bad[:3]) or "no result to read",
    )


def _target_outcomes(x: Expect, obs: Observations) -> Verdict:
    outcomes = obs.last_outcomes()
    seen = {rid: (outcomes.get(rid) or {}).get("outcome", "absent") for rid in x.target_outcomes}
    bad = {rid: got for rid, got in seen.items() if got not in x.target_outcomes[rid]}
    return Verdict(
        not bad,
        "; ".join(f"{k}: {'|'.join(v)}" for k, v in x.target_outcomes.items()),
        seen,
        ", ".join(f"{k} was {v}" for k, v in bad.items()),
        bad,
    )


def _eligible_outcomes(x: Expect, obs: Observations) -> Verdict:
    allowed = x.eligible_outcomes or []
    outcomes = obs.last_outcomes()
    seen = {k[1]: (outcomes.get(k[1]) or {}).get("outcome", "absent") for k in sorted(obs.eligible)}
    bad = {k: v for k, v in seen.items() if v not in allowed}
    tally: dict[str, int] = defaultdict(int)
    for v in seen.values():
        tally[v] += 1
    return Verdict(
        not bad,
        f"every eligible target reported {' | '.join(allowed)}",
        dict(sorted(tally.items())),
        ", ".join(f"{k} was {v}" for k, v in list(bad.items())[:MAX_NAMED]),
        bad,
    )


def _failed_say_why(x: Expect, obs: Observations) -> Verdict:
    needle = x.failed_reason_contains or ""
    failed = [t for r in obs.final_results for t in r.get("targets") or [] if t.get("outcome") == "failed"]
    failed_ids = sorted({str(t.get("id")) for t in failed})
    bad = sorted({str(t.get("id")) for t in failed if needle not in str(t.get("reason"))})
    return Verdict(
        bool(failed) and not bad,
        f"targets reported failed name {needle!r}",
        f"{len(failed_ids) - len(bad)} of {len(failed_ids)} failed target(s) name it",
        f"no target reported failed (expected a loud failure naming {needle!r})"
        if not failed
        else f"reason lacks {needle!r}: {_short(bad)}",
        bad,
    )


def _fc_reinvocation(x: Expect, obs: Observations) -> Verdict:
    n, floor = obs.fc_attempts(), x.min_fc_attempts or 0
    return Verdict(
        n >= floor,
        f">= {floor} FC attempts of one invocation",
        n,
        f"at most {n} attempt(s): FC never re-ran the invocation",
    )


def _async_failures(x: Expect, obs: Observations) -> Verdict:
    n, limit = len(obs.async_failures), x.max_async_failures or 0
    return Verdict(
        n <= limit,
        f"<= {limit} async invocations given up (DLQ)",
        n,
        "; ".join(f"{f.get('requestId')}: {f.get('reason')} {f.get('lastError')}" for f in obs.async_failures[:3]),
    )


@dataclass(frozen=True)
class Check:
    name: str
    enabled: Callable[[Expect, Observations], bool]  # the scenario asks for it and there is something to judge
    judge: Callable[[Expect, Observations], Verdict]
    needs_ledger: bool = False  # judged only when the emulator's ledger is readable (not on a staging account)


CHECKS: tuple[Check, ...] = (
    Check("every-eligible-target-failed-over", lambda x, o: x.all_eligible_failed_over, _all_failed_over, True),
    Check("exactly-one-effect-per-target", lambda x, o: x.exactly_one_effect_per_target, _one_effect_each, True),
    Check("no-ineligible-target-touched", lambda x, o: x.no_ineligible_touched, _no_ineligible_touched, True),
    Check("no-call-against-the-primary-site", lambda x, o: x.no_primary_calls, _no_primary_calls, True),
    Check("completion-time", lambda x, o: x.max_duration_seconds is not None, _completion_time),
    Check("api-calls", lambda x, o: x.max_api_calls is not None, _api_calls),
    Check("write-calls", lambda x, o: x.max_write_calls is not None, _write_calls),
    Check("retries", lambda x, o: x.max_retries is not None, _retries),
    Check("faults-fired", lambda x, o: x.min_faults_fired is not None, _faults_fired, True),
    Check("result-status", lambda x, o: bool(_judged_statuses(x, o)), _result_status),
    Check("result-ok", lambda x, o: x.result_ok is not None, _result_ok),
    Check("result-reason", lambda x, o: x.result_reason_contains is not None, _result_reason),
    Check("target-outcomes", lambda x, o: bool(x.target_outcomes), _target_outcomes),
    Check("eligible-outcomes", lambda x, o: x.eligible_outcomes is not None, _eligible_outcomes),
    Check("failed-targets-say-why", lambda x, o: x.failed_reason_contains is not None, _failed_say_why),
    Check("fc-re-invocation", lambda x, o: x.min_fc_attempts is not None, _fc_reinvocation),
    # without FC records (a staging account) there is no DLQ to read
    Check("async-failures", lambda x, o: x.max_async_failures is not None and bool(o.fc_records), _async_failures),
    # confirmation, approval and notifications
    Check("primary-probes", lambda x, o: x.max_primary_probes is not None, primary_probes, True),
    Check("event-writes", lambda x, o: bool(o.step_writes), event_writes, True),
    Check("result-fields", lambda x, o: bool(x.result_fields or o.event_results), result_fields),
    Check("evidence-time", lambda x, o: x.max_evidence_seconds is not None, evidence_time),
    Check("notification-kinds", lambda x, o: bool(x.notifications and x.notifications.kinds), notification_kinds),
    Check("notification-text", lambda x, o: bool(x.notifications and x.notifications.contains), notification_text),
    Check(
        "notifications-accepted",
        lambda x, o: x.notifications is not None and x.notifications.all_accepted is not None,
        notifications_accepted,
    ),
    Check(
        "result-notification-failures",
        lambda x, o: x.result_notification_failures is not None,
        result_notification_failures,
    ),
    Check("no-secret-leaked", lambda x, o: x.no_secret_leaked and bool(o.secrets), no_secret_leaked),
)


# ------------------------------------------------------------------- the recovery's checks
def _recovery(judge: Callable[[RecoveryView, RecoveryExpect], Finding]) -> Callable[[Expect, Observations], Verdict]:
    def check(x: Expect, obs: Observations) -> Verdict:
        assert obs.recovery is not None  # enabled only with a recovery world
        f = judge(obs.recovery, x.recovery)
        return Verdict(f.ok, f.expected, f.measured, f.message, f.offenders)

    return check


def _with_recovery(flag: Callable[[RecoveryExpect], bool]) -> Callable[[Expect, Observations], bool]:
    return lambda x, o: o.recovery is not None and flag(x.recovery)


CHECKS += (
    Check(
        "recovery-one-effect-per-step",
        _with_recovery(lambda r: r.one_step_effect_each),
        _recovery(lambda v, r: one_effect_per_step(v)),
        True,
    ),
    Check(
        "recovery-order-respected",
        _with_recovery(lambda r: r.order_respected),
        _recovery(lambda v, r: order_respected(v)),
        True,
    ),
    Check("service-restored", _with_recovery(lambda r: bool(r.service_restored)), _recovery(service_restored), True),
    Check("recovery-rto", _with_recovery(lambda r: r.max_rto_seconds is not None), _recovery(rto_within), True),
    Check("recovery-findings-reported", _with_recovery(lambda r: bool(r.findings)), _recovery(findings_reported)),
)


# ---------------------------------------------------------------------- the drills' checks
def _drill(judge: Callable[[DrillExpect, Observations], Verdict]) -> Callable[[Expect, Observations], Verdict]:
    def check(x: Expect, obs: Observations) -> Verdict:
        assert x.drills is not None  # enabled only when the scenario expects drills
        return judge(x.drills, obs)

    return check


def _with_drills(flag: Callable[[DrillExpect], bool]) -> Callable[[Expect, Observations], bool]:
    return lambda x, o: x.drills is not None and flag(x.drills)


CHECKS += (
    Check("drill-no-failover", _with_drills(lambda d: d.no_failover), _drill(drill_checks.no_failover), True),
    Check(
        "drill-one-per-target-per-run",
        _with_drills(lambda d: d.one_drill_per_target_per_run),
        _drill(drill_checks.one_drill_per_target_per_run),
        True,
    ),
    Check("drill-all-cleared", _with_drills(lambda d: d.all_cleared), _drill(drill_checks.all_cleared), True),
    Check("drill-rpo-missed", _with_drills(lambda d: d.rpo_missed is not None), _drill(drill_checks.rpo_missed)),
    Check(
        "drill-leftovers-cleared",
        _with_drills(lambda d: bool(d.leftovers_cleared)),
        _drill(drill_checks.leftovers_cleared),
        True,
    ),
    Check(
        "drill-clear-retried", _with_drills(lambda d: bool(d.clear_retried)), _drill(drill_checks.clear_retried), True
    ),
    Check("drill-runs", _with_drills(lambda d: d.min_runs is not None), _drill(drill_checks.min_runs), True),
)
# undo / reprotect / failback game days (chaos/gameday/reverse_checks.py)
CHECKS += tuple(Check(name, enabled, judge, True) for name, enabled, judge in REVERSE_CHECKS)


def evaluate(expect: Expect, obs: Observations) -> list[ExpectationResult]:
    """Every enabled check, in table order; ledger checks only when there is a ledger to read."""
    return [
        _result(c.name, c.judge(expect, obs))
        for c in CHECKS
        if (obs.ledger_available or not c.needs_ledger) and c.enabled(expect, obs)
    ]


def steady_state_before(
    eligible: set[TargetKey], state: Mapping[TargetKey, str], effects: int
) -> list[ExpectationResult]:
    """Before the method: the targets that must fail over exist and can, and nothing has happened yet."""
    missing = sorted(k for k in eligible if k not in state)
    not_ready = sorted(k for k in eligible if k in state and state[k] not in FAILOVER_FROM)
    offenders: dict[str, Any] = {}
    if missing:
        offenders["missing"] = [k[1] for k in missing]
    if not_ready:
        offenders["notReady"] = {k[1]: state[k] for k in not_ready}
    ready = Verdict(
        not offenders,
        f"{len(eligible)} eligible target(s) exist, each in a state that can fail over",
        f"{len(eligible) - len(missing) - len(not_ready)} of {len(eligible)} ready",
        f"missing: {_short(missing) or '-'}; not ready: "
        + (", ".join(f"{k[1]}={state[k]}" for k in not_ready[:MAX_NAMED]) or "-"),
        offenders,
    )
    quiet = Verdict(effects == 0, "0 effects before the trigger", effects, f"{effects} effect(s)")
    return [_result("before:eligible-targets-ready", ready), _result("before:no-effects-yet", quiet)]
