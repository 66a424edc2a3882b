"""The steady-state hypothesis: which targets must fail over, and every check judged from the ledger.

Eligibility is decided here from the fleet as the operator sees it, not by asking the function: a
target replicating primary -> DR, replicating at all (the API's allowed-from states), a pair outside
any group (a group fails over as a unit), its state after any mid-run flip. A check that could pass
because nothing happened says so (e.g. ``failed-reason`` with no failed target fails).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.emulator.ebs.urls import WRITE_ACTIONS
from chaos.gameday.journal import ExpectationResult
from chaos.gameday.scenario import Expect

TargetKey = tuple[str, str]  # (kind, id)

# states a target may fail over from: replicating, stopped or a failed earlier failover (ebs docs)
# The API's "failover is allowed from" table (shared reference §3) minus the states that already are
# a failover. Written from the docs, not imported from the function: an oracle must not share the code it judges.
FAILOVER_FROM_STATUSES: tuple[str, ...] = (
    "normal",
    "syncing",
    "manual_syncing",
    "stopping",
    "stopped",
    "stop_failed",
    "failover_failed",
)
FAILOVER_FROM = frozenset(FAILOVER_FROM_STATUSES)
DONE = frozenset({"failovering", "failovered"})
GONE = frozenset({"invalid", "deleted", "deleting"})
MAX_NAMED = 8  # offenders named in a message; the measured value carries them all


def _short(keys: Iterable[TargetKey | str]) -> str:
    names = [k if isinstance(k, str) else k[1] for k in keys]
    more = f" (+{len(names) - MAX_NAMED} more)" if len(names) > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more


def state_of(pairs: Iterable[Mapping[str, Any]], groups: Iterable[Mapping[str, Any]]) -> dict[TargetKey, str]:
    out: dict[TargetKey, str] = {("pair", str(p["ReplicaPairId"])): str(p["Status"]) for p in pairs}
    out.update({("group", str(g["ReplicaGroupId"])): str(g["Status"]) for g in groups})
    return out


def eligible_targets(
    pairs: Sequence[Mapping[str, Any]],
    groups: Sequence[Mapping[str, Any]],
    *,
    primary: str,
    dr: str,
    flips: Mapping[TargetKey, str] | None = None,
    declared: str | list[str] = "auto",
) -> set[TargetKey]:
    """What must end failed over: ``declared`` (auto | none | ids) decides; auto derives it from the fleet."""
    known = state_of(pairs, groups)
    if declared == "none":
        return set()
    if isinstance(declared, list):
        return {("group" if rid.startswith("pg-") else "pair", rid) for rid in declared}
    status = {**known, **(flips or {})}
    members: dict[str, list[str]] = defaultdict(list)
    for p in pairs:
        if p.get("ReplicaGroupId"):
            members[str(p["ReplicaGroupId"])].append(str(p["ReplicaPairId"]))
    out: set[TargetKey] = set()
    for g in groups:
        gid = str(g["ReplicaGroupId"])
        if (g.get("SourceRegionId"), g.get("DestinationRegionId")) != (primary, dr):
            continue
        if status[("group", gid)] not in FAILOVER_FROM or not members[gid]:
            continue
        if any(status.get(("pair", m)) in GONE for m in members[gid]):
            continue  # the API refuses a group with an invalid member (PairGroupStatusConflict)
        out.add(("group", gid))
    for p in pairs:
        pid = str(p["ReplicaPairId"])
        if (p.get("SourceRegion"), p.get("DestinationRegion")) != (primary, dr) or p.get("ReplicaGroupId"):
            continue
        if status[("pair", pid)] in FAILOVER_FROM:
            out.add(("pair", pid))
    return out


@dataclass
class Observations:
    """Everything measured in one run; the checks below only read it."""

    primary: str
    eligible: set[TargetKey]
    initial: dict[TargetKey, str]
    final: dict[TargetKey, str]
    ledger: dict[str, list[dict[str, Any]]]
    ledger_available: bool
    # (label, status, allowed statuses of that event or None for expect.resultStatus) per delivered copy
    invocation_status: list[tuple[str, str, list[str] | None]]
    final_results: list[dict[str, Any]]  # the last result of each invocation that produced one
    attempt_results: list[dict[str, Any]]  # every attempt's result, FC re-runs included
    fault_rules: list[dict[str, Any]]
    fc_records: list[dict[str, Any]] = field(default_factory=list)
    async_failures: list[dict[str, Any]] = field(default_factory=list)
    trigger_seconds: float = 0.0

    # ------------------------------------------------------------ measures
    def effects(self) -> Counter[TargetKey]:
        return Counter((str(e["targetType"]), str(e["targetId"])) for e in self.ledger.get("effects", []))

    def api_calls(self) -> int:
        if self.ledger_available:
            return len(self.ledger.get("requests", []))
        return sum(int(r.get("apiCalls") or 0) for r in self.attempt_results)

    def write_calls(self) -> int:
        if self.ledger_available:
            return sum(1 for r in self.ledger.get("requests", []) if r.get("action") in WRITE_ACTIONS)
        return sum(int(r.get("writeCalls") or 0) for r in self.attempt_results)

    def retries(self) -> int:
        """The retries the function reports spending; without results, ledger calls repeating a token."""
        if self.attempt_results:
            return sum(int(r.get("retries") or 0) for r in self.attempt_results)
        seen: set[tuple[Any, ...]] = set()
        repeats = 0
        for r in self.ledger.get("requests", []):
            if r.get("action") in WRITE_ACTIONS:
                key = (r.get("action"), r.get("target"), r.get("clientToken"))
                repeats += key in seen
                seen.add(key)
        return repeats

    def faults_fired(self) -> int:
        return sum(int(r.get("fired") or 0) for r in self.fault_rules)

    def fc_attempts(self) -> int:
        return max((len(r.get("attempts") or []) for r in self.fc_records), default=0)

    def last_outcomes(self) -> dict[str, dict[str, Any]]:
        """Target id -> its entry in the last final result that names it."""
        out: dict[str, dict[str, Any]] = {}
        for res in self.final_results:
            for t in res.get("targets") or []:
                out[str(t.get("id"))] = t
        return out


def _result(name: str, ok: bool, expected: str, measured: Any, message: str = "") -> ExpectationResult:
    return ExpectationResult(name=name, ok=ok, expected=expected, measured=measured, message="" if ok else message)


def steady_state_before(
    eligible: set[TargetKey], state: Mapping[TargetKey, str], effects: int
) -> list[ExpectationResult]:
    """Before the method: the targets that must fail over exist and can, and nothing has happened yet."""
    missing = sorted(k for k in eligible if k not in state)
    not_ready = sorted(k for k in eligible if k in state and state[k] not in FAILOVER_FROM)
    return [
        _result(
            "before:eligible-targets-ready",
            not missing and not not_ready,
            f"{len(eligible)} eligible target(s) exist, each in a state that can fail over",
            {"missing": [k[1] for k in missing], "notReady": {k[1]: state[k] for k in not_ready}},
            f"missing: {_short(missing) or '-'}; not ready: "
            + (", ".join(f"{k[1]}={state[k]}" for k in not_ready[:MAX_NAMED]) or "-"),
        ),
        _result("before:no-effects-yet", effects == 0, "0 effects before the trigger", effects, f"{effects} effect(s)"),
    ]


def evaluate(expect: Expect, obs: Observations) -> list[ExpectationResult]:
    """Every enabled check, in a fixed order; ledger checks only when there is a ledger to read."""
    out: list[ExpectationResult] = []
    effects = obs.effects()
    if obs.ledger_available:
        if expect.all_eligible_failed_over:
            bad = sorted(k for k in obs.eligible if obs.final.get(k) != "failovered")
            out.append(
                _result(
                    "every-eligible-target-failed-over",
                    not bad,
                    f"all {len(obs.eligible)} eligible target(s) end failovered",
                    {k[1]: obs.final.get(k, "missing") for k in bad},
                    "not failed over: " + ", ".join(f"{k[1]} ({obs.final.get(k, 'missing')})" for k in bad[:MAX_NAMED]),
                )
            )
        if expect.exactly_one_effect_per_target:
            bad = sorted(k for k in obs.eligible if effects[k] != 1)
            tokens: dict[str, list[str]] = defaultdict(list)
            for e in obs.ledger.get("effects", []):
                tokens[str(e["targetId"])].append(str(e.get("clientToken")))
            out.append(
                _result(
                    "exactly-one-effect-per-target",
                    not bad,
                    "== 1 effect per eligible target",
                    {k[1]: effects[k] for k in bad},
                    "; ".join(
                        f"{k[1]} had {effects[k]} effect(s)"
                        + (f" with tokens {', '.join(t[:12] for t in tokens[k[1]])}" if effects[k] > 1 else "")
                        for k in bad[:MAX_NAMED]
                    ),
                )
            )
        if expect.no_ineligible_touched:
            bad = sorted(k for k in effects if k not in obs.eligible)
            out.append(
                _result(
                    "no-ineligible-target-touched",
                    not bad,
                    "0 effects on targets outside the eligible set",
                    {k[1]: effects[k] for k in bad},
                    f"touched: {_short(bad)}",
                )
            )
        if expect.no_primary_calls:
            bad_calls = [
                r
                for r in obs.ledger.get("requests", [])
                if r.get("regionId") == obs.primary
                or (str(r.get("action", "")).startswith("Describe") and r.get("site") in (None, "production"))
            ]
            out.append(
                _result(
                    "no-call-against-the-primary-site",
                    not bad_calls,
                    f"no ebs call with RegionId={obs.primary}, no describe of Site=production",
                    len(bad_calls),
                    "; ".join(
                        f"#{r.get('seq')} {r.get('action')} RegionId={r.get('regionId')} Site={r.get('site')}"
                        for r in bad_calls[:MAX_NAMED]
                    ),
                )
            )
    if expect.max_duration_seconds is not None:
        out.append(
            _result(
                "completion-time",
                obs.trigger_seconds <= expect.max_duration_seconds,
                f"<= {expect.max_duration_seconds:g} s",
                round(obs.trigger_seconds, 3),
                f"took {obs.trigger_seconds:.2f} s",
            )
        )
    if expect.max_api_calls is not None:
        n = obs.api_calls()
        out.append(_result("api-calls", n <= expect.max_api_calls, f"<= {expect.max_api_calls}", n, f"{n} calls"))
    if expect.max_write_calls is not None:
        n = obs.write_calls()
        writes = [r for r in obs.ledger.get("requests", []) if r.get("action") in WRITE_ACTIONS]
        out.append(
            _result(
                "write-calls",
                n <= expect.max_write_calls,
                f"<= {expect.max_write_calls}",
                n,
                f"{n} write call(s): " + _short(sorted({str(r.get("target")) for r in writes})),
            )
        )
    if expect.max_retries is not None:
        n = obs.retries()
        out.append(_result("retries", n <= expect.max_retries, f"<= {expect.max_retries}", n, f"{n} retries"))
    if expect.min_faults_fired is not None and obs.ledger_available:
        n = obs.faults_fired()
        out.append(
            _result("faults-fired", n >= expect.min_faults_fired, f">= {expect.min_faults_fired}", n, f"only {n} fired")
        )
    judged = [
        (label, status, own if own is not None else expect.result_status)
        for label, status, own in obs.invocation_status
        if own is not None or expect.result_status is not None
    ]
    if judged:
        bad_inv = [(label, status) for label, status, allowed_st in judged if status not in (allowed_st or [])]
        bounds = sorted({s for _, _, allowed_st in judged for s in allowed_st or []})
        out.append(
            _result(
                "result-status",
                not bad_inv,
                f"each invocation ends {' | '.join(bounds)}",
                [s for _, s, _ in judged],
                "; ".join(f"{label}: {status}" for label, status in bad_inv[:MAX_NAMED]),
            )
        )
    if expect.result_ok is not None:
        bad_res = [r for r in obs.final_results if r.get("ok") is not expect.result_ok]
        out.append(
            _result(
                "result-ok",
                not bad_res and bool(obs.final_results),
                f"every result says ok={str(expect.result_ok).lower()}",
                [r.get("ok") for r in obs.final_results],
                f"{len(bad_res)} result(s) say otherwise" if obs.final_results else "no result to read",
            )
        )
    if expect.result_reason_contains is not None:
        needle = expect.result_reason_contains
        bad_res = [r for r in obs.final_results if needle not in f"{r.get('reason')} {r.get('refused') or ''}"]
        out.append(
            _result(
                "result-reason",
                not bad_res and bool(obs.final_results),
                f"every result's reason mentions {needle!r}",
                [r.get("reason") for r in obs.final_results][:MAX_NAMED],
                "; ".join(str(r.get("reason")) for r in bad_res[:3]) or "no result to read",
            )
        )
    outcomes = obs.last_outcomes()
    if expect.target_outcomes:
        bad_t = {
            rid: (outcomes.get(rid) or {}).get("outcome", "absent")
            for rid, allowed_out in expect.target_outcomes.items()
            if (outcomes.get(rid) or {}).get("outcome", "absent") not in allowed_out
        }
        out.append(
            _result(
                "target-outcomes",
                not bad_t,
                "; ".join(f"{k}: {'|'.join(v)}" for k, v in expect.target_outcomes.items()),
                bad_t or {k: outcomes.get(k, {}).get("outcome") for k in expect.target_outcomes},
                ", ".join(f"{k} was {v}" for k, v in bad_t.items()),
            )
        )
    if expect.eligible_outcomes is not None:
        allowed = set(expect.eligible_outcomes)
        bad_e = {k[1]: (outcomes.get(k[1]) or {}).get("outcome", "absent") for k in sorted(obs.eligible)}
        bad_e = {k: v for k, v in bad_e.items() if v not in allowed}
        out.append(
            _result(
                "eligible-outcomes",
                not bad_e,
                f"every eligible target reported {' | '.join(expect.eligible_outcomes)}",
                bad_e,
                ", ".join(f"{k} was {v}" for k, v in list(bad_e.items())[:MAX_NAMED]),
            )
        )
    if expect.failed_reason_contains is not None:
        needle = expect.failed_reason_contains
        failed = [t for r in obs.final_results for t in r.get("targets") or [] if t.get("outcome") == "failed"]
        bad_f = sorted({str(t.get("id")) for t in failed if needle not in str(t.get("reason"))})
        out.append(
            _result(
                "failed-targets-say-why",
                bool(failed) and not bad_f,
                f"targets reported failed name {needle!r}",
                {"failed": sorted({str(t.get("id")) for t in failed}), "withoutIt": bad_f},
                f"no target reported failed (expected a loud failure naming {needle!r})"
                if not failed
                else f"reason lacks {needle!r}: {_short(bad_f)}",
            )
        )
    if expect.min_fc_attempts is not None:
        n = obs.fc_attempts()
        out.append(
            _result(
                "fc-re-invocation",
                n >= expect.min_fc_attempts,
                f">= {expect.min_fc_attempts} FC attempts of one invocation",
                n,
                f"at most {n} attempt(s): FC never re-ran the invocation",
            )
        )
    if expect.max_async_failures is not None and obs.fc_records:
        n = len(obs.async_failures)
        out.append(
            _result(
                "async-failures",
                n <= expect.max_async_failures,
                f"<= {expect.max_async_failures} async invocations given up (DLQ)",
                n,
                "; ".join(
                    f"{f.get('requestId')}: {f.get('reason')} {f.get('lastError')}" for f in obs.async_failures[:3]
                ),
            )
        )
    return out
