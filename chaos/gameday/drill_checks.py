"""The drill game days' checks, judged from the emulator's ledger (and the function's results for RPO).

A drill's Start*Drill effect names the drill (``targetId``), its pair or group (``pairId``/``groupId``)
and the ClientToken, ``rf-drill-<run>-<target>``: one token per run and target, so the token tells
which run started it. Every transition the clock completed is in the ledger too, so a drill that
reads ``cleared`` there was cleared (a cleared drill leaves Describe*Drills).

* no failover: no Failover*/Reprotect* request, no replication state change of a pair or group, no call
  against the primary region (Describe*Drills take no Site: the generic primary-site check cannot judge them);
* one drill per target per run: each named target was drilled, never twice by one run (ClientToken),
  never more often than there were runs (invocation attempts);
* every drill started reads ``cleared`` at the end (the emulator's clock settled first);
* RPO misses: the targets the results report over the objective are exactly the expected ones;
* leftovers: a later run found and cleared the drill a killed run left (another run's token);
* clear retried: a drill that needed more than one Clear call was still cleared.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from chaos.gameday.observations import Observations
from chaos.gameday.scenario import DrillExpect, DrillWorld
from chaos.gameday.verdict import MAX_NAMED, Verdict, short

START = frozenset({"StartPairDrill", "StartReplicaGroupDrill"})
CLEAR = frozenset({"ClearPairDrill", "ClearReplicaGroupDrill"})
RUN_PREFIX = "rf-drill-"  # the drill runner's ClientToken: rf-drill-<run>-<target>
RUN_ID_LEN = 16


def target_of(entry: dict[str, Any]) -> str:
    return str(entry.get("pairId") or entry.get("groupId") or entry.get("target") or "")


def run_of(token: object) -> str:
    """The run a ClientToken belongs to (``rf-drill-<run>-<target>``); another token is its own run."""
    text = str(token or "")
    return text[len(RUN_PREFIX) : len(RUN_PREFIX) + RUN_ID_LEN] if text.startswith(RUN_PREFIX) else text


Ledger = dict[str, list[dict[str, Any]]]


def starts(obs: Observations) -> list[dict[str, Any]]:
    return ledger_starts(obs.ledger)


def ledger_starts(ledger: Ledger) -> list[dict[str, Any]]:
    return [e for e in ledger.get("effects", []) if e.get("action") in START]


def drill_states(obs: Observations) -> dict[str, str]:
    return {d: path[-1] for d, path in drill_paths(obs.ledger).items()}


def drill_paths(ledger: Ledger) -> dict[str, list[str]]:
    """Drill id -> the states the ledger shows it in (effects and completed transitions, in time order)."""
    entries = [
        e
        for kind in ("effects", "transitions")
        for e in ledger.get(kind, [])
        if str(e.get("targetType", "")).endswith("-drill")
    ]
    out: dict[str, list[str]] = {}
    for e in sorted(entries, key=lambda e: float(e.get("time") or 0.0)):
        path = out.setdefault(str(e["targetId"]), [])
        if not path or path[-1] != e.get("to"):
            path.append(str(e.get("to")))
    return out


def invocation_runs(obs: Observations) -> int:
    """How many runs the function had: FC attempts (re-invocations included), else deliveries."""
    attempts = sum(len(r.get("attempts") or []) for r in obs.fc_records)
    return max(attempts, len(obs.invocation_status))


def _results(obs: Observations) -> list[dict[str, Any]]:
    """Every drill report the function returned (FC re-runs included), each once."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for res in [*obs.attempt_results, *obs.final_results]:
        drill = res.get("drill") if isinstance(res, dict) else None
        if isinstance(drill, dict) and str(drill.get("runId")) not in seen:
            seen.add(str(drill.get("runId")))
            out.append(drill)
    return out


# ------------------------------------------------------------------------------ the checks
def no_failover(x: DrillExpect, obs: Observations) -> Verdict:
    calls = [r for r in obs.ebs_requests() if str(r.get("action", "")).startswith(("Failover", "Reprotect"))]
    primary = [r for r in obs.ebs_requests() if r.get("regionId") == obs.primary and r not in calls]
    changes = [e for e in obs.ledger.get("effects", []) if e.get("targetType") in ("pair", "group")]
    named = [f"{r.get('action')} {r.get('target')}" for r in calls] + [
        f"{e.get('action')} {e.get('targetId')} {e.get('from')}->{e.get('to')}" for e in changes
    ]
    named += [f"#{r.get('seq')} {r.get('action')} RegionId={obs.primary}" for r in primary]
    return Verdict(
        not named,
        f"0 failover/reprotect calls, 0 pair or group state changes, 0 calls with RegionId={obs.primary}",
        len(named),
        "a drill touched replication: " + short(named),
        named,
    )


def one_drill_per_target_per_run(x: DrillExpect, obs: Observations) -> Verdict:
    effects = starts(obs)
    per_target = Counter(target_of(e) for e in effects)
    per_run = Counter((run_of(e.get("clientToken")), target_of(e)) for e in effects)
    runs = invocation_runs(obs)
    problems: dict[str, str] = {}
    for target in x.targets:
        if per_target[target] == 0:
            problems[target] = "never drilled"
    for (run, target), n in per_run.items():
        if n > 1:
            problems[target] = f"{n} drills in run {run[:12]}"
    for target, n in per_target.items():
        if n > runs:
            problems.setdefault(target, f"{n} drills in {runs} run(s)")
        if target not in x.targets:
            problems.setdefault(target, "drilled but not expected")
    return Verdict(
        not problems,
        f"each of {len(x.targets)} target(s) drilled, one Start*Drill effect per run (<= {runs} run(s))",
        dict(sorted(per_target.items())),
        "; ".join(f"{t}: {why}" for t, why in list(problems.items())[:MAX_NAMED]),
        problems,
    )


def all_cleared(x: DrillExpect, obs: Observations) -> Verdict:
    states = drill_states(obs)
    started = {str(e["targetId"]): target_of(e) for e in starts(obs)}
    left = {f"{started[d]}:{d}": states.get(d, "?") for d in sorted(started) if states.get(d) != "cleared"}
    return Verdict(
        bool(started) and not left,
        "every drill started reads cleared at the end",
        f"{len(started) - len(left)} of {len(started)} cleared",
        ("left: " + ", ".join(f"{k} ({v})" for k, v in list(left.items())[:MAX_NAMED]))
        if started
        else "no drill was started: nothing to judge",
        left,
    )


def rpo_missed(x: DrillExpect, obs: Observations) -> Verdict:
    reports = [d for d in _results(obs) if isinstance(d.get("rpo"), dict)]
    named = sorted({str(t) for d in reports for t in d["rpo"].get("missingObjective") or []})
    want = sorted(set(x.rpo_missed or []))
    return Verdict(
        bool(reports) and named == want,
        f"over the RPO objective: {', '.join(want) or 'none'}",
        named,
        f"reported {', '.join(named) or 'none'}" if reports else "no drill report to read",
        sorted(set(named) ^ set(want)),
    )


def leftovers_cleared(x: DrillExpect, obs: Observations) -> Verdict:
    run_of_drill = {str(e["targetId"]): run_of(e.get("clientToken")) for e in starts(obs)}
    states = drill_states(obs)
    found: dict[str, list[str]] = defaultdict(list)  # target -> drills another run left and this one cleared
    for report in _results(obs):
        for left in report.get("leftovers") or []:
            drill_id = str(left.get("drillId"))
            other_run = run_of_drill.get(drill_id) not in (None, report.get("runId"))
            if left.get("cleared") and other_run and states.get(drill_id) == "cleared":
                found[str(left.get("id"))].append(drill_id)
    missing = [t for t in x.leftovers_cleared if not found.get(t)]
    return Verdict(
        not missing,
        f"a later run cleared the leftover drill of {', '.join(x.leftovers_cleared)}",
        {t: len(ids) for t, ids in sorted(found.items())},
        "no leftover found and cleared on: " + short(missing),
        missing,
    )


def clear_retried(x: DrillExpect, obs: Observations) -> Verdict:
    calls = Counter(target_of(r) for r in obs.ebs_requests() if r.get("action") in CLEAR)
    states = drill_states(obs)
    cleared = {target_of(e) for e in starts(obs) if states.get(str(e["targetId"])) == "cleared"}
    bad = {t: calls[t] for t in x.clear_retried if calls[t] < 2 or t not in cleared}
    return Verdict(
        not bad,
        f"> 1 Clear call, then cleared: {', '.join(x.clear_retried)}",
        {t: calls[t] for t in x.clear_retried},
        "; ".join(f"{t}: {n} Clear call(s), {'cleared' if t in cleared else 'not cleared'}" for t, n in bad.items()),
        bad,
    )


def min_runs(x: DrillExpect, obs: Observations) -> Verdict:
    runs = sorted({run_of(e.get("clientToken")) for e in starts(obs)})
    floor = x.min_runs or 0
    return Verdict(len(runs) >= floor, f">= {floor} drill runs", len(runs), f"only {len(runs)} run(s) drilled")


def figures(obs: Observations) -> dict[str, Any]:
    """The report's drill figures; {} for a run that started no drill."""
    effects = starts(obs)
    if not effects:
        return {}
    states = drill_states(obs)
    ids = [str(e["targetId"]) for e in effects]
    missed = {str(t) for d in _results(obs) for t in (d.get("rpo") or {}).get("missingObjective") or []}
    return {
        "drillsStarted": len(ids),
        "drillsCleared": sum(1 for d in ids if states.get(d) == "cleared"),
        "drillsLeft": sum(1 for d in ids if states.get(d) != "cleared"),
        "drillRuns": len({run_of(e.get("clientToken")) for e in effects}),
        "drillRpoMissed": len(missed),
    }


DRILL_HEADER = ["Drill", "Target", "Run", "States", "Clear calls", "Cleared"]


def drill_rows(ledger: Ledger) -> list[list[str]]:
    """The report's drill table: each drill started, its target, run, the states it went through."""
    paths = drill_paths(ledger)
    calls = [r for r in ledger.get("requests", []) if r.get("action") in CLEAR]
    clears = Counter(str((r.get("params") or {}).get("DrillId") or "") for r in calls)
    rows = []
    for e in ledger_starts(ledger):
        did = str(e["targetId"])
        path = paths.get(did, [])
        rows.append([did, target_of(e), run_of(e.get("clientToken"))[:12], " -> ".join(path),
                     str(clears[did]), "yes" if path[-1:] == ["cleared"] else "NO"])  # fmt: skip
    return rows


# ------------------------------------------------------------------------------ the world
def set_knobs(control: Any, world: DrillWorld) -> None:
    """The emulator's drill fault knobs (``control`` is the runner's EmulatorControl)."""
    for knob in world.knobs:
        control.set_drill_knobs(knob.target, knob.execute_failures, knob.clear_failures)
