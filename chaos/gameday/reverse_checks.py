"""The checks of undo / reprotect / failback game days, judged from the emulator's ledger.

* ``reverse-steps``: every eligible target shows exactly the expected number of effects per verb
  (``Failover``, ``Reprotect``, ``Start``; a group's call counts for the group, never its members);
* ``reverse-final-status``: every eligible target ends in one of the allowed statuses;
* ``reverse-one-effect-per-token``: no ClientToken is behind two effects (a retry, a duplicate event
  or a lost acknowledgement replayed it instead);
* ``reverse-new-failover-token``: the failover chain (``rf2-``) of each eligible target shows two
  effects with two tokens, round 0 (the first incident) and a later round (the incident after the
  failback).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from chaos.gameday.observations import Observations
from chaos.gameday.scenario import Expect
from chaos.gameday.verdict import MAX_NAMED, Verdict

CHAIN_PREFIX = "rf2-"


def _verb(action: str) -> str:
    return action.split("Disk", 1)[0]


def steps(x: Expect, obs: Observations) -> Verdict:
    assert x.reverse is not None
    wanted = {str(verb): n for verb, n in x.reverse.steps_per_target.items()}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for e in obs.ledger.get("effects", []):
        if e.get("service", "ebs") == "ebs":
            counts[str(e["targetId"])][_verb(str(e.get("action", "")))] += 1
    bad: dict[str, dict[str, int]] = {}
    for _, rid in sorted(obs.eligible):
        seen = {verb: counts[rid][verb] for verb in wanted}
        if seen != dict(wanted):
            bad[rid] = seen
    return Verdict(
        not bad,
        "per eligible target: " + ", ".join(f"{v} x{n}" for v, n in wanted.items()),
        f"{len(obs.eligible) - len(bad)} of {len(obs.eligible)} as expected",
        "; ".join(f"{rid}: {seen}" for rid, seen in list(bad.items())[:MAX_NAMED]),
        bad,
    )


def final_status(x: Expect, obs: Observations) -> Verdict:
    assert x.reverse is not None and x.reverse.final_status is not None
    allowed = x.reverse.final_status
    bad = {k[1]: obs.final.get(k, "missing") for k in sorted(obs.eligible) if obs.final.get(k) not in allowed}
    return Verdict(
        not bad,
        f"every eligible target ends {' | '.join(allowed)}",
        dict(Counter(obs.final.get(k, "missing") for k in obs.eligible)),
        ", ".join(f"{rid} is {st}" for rid, st in list(bad.items())[:MAX_NAMED]),
        bad,
    )


def one_effect_per_token(x: Expect, obs: Observations) -> Verdict:
    effects = [e for e in obs.ledger.get("effects", []) if e.get("service", "ebs") == "ebs"]
    tokens = Counter(str(e["clientToken"]) for e in effects if e.get("clientToken"))
    bad = {t: n for t, n in tokens.items() if n > 1}
    return Verdict(
        not bad,
        "each ClientToken behind at most one effect",
        f"{len(tokens)} token(s), {sum(tokens.values())} effect(s)",
        ", ".join(f"{t[:16]}... x{n}" for t, n in list(bad.items())[:MAX_NAMED]),
        bad,
    )


def new_failover_token(x: Expect, obs: Observations) -> Verdict:
    chain: dict[str, list[str]] = defaultdict(list)
    for e in obs.ledger.get("effects", []):
        token = str(e.get("clientToken") or "")
        if token.startswith(CHAIN_PREFIX) and _verb(str(e.get("action", ""))) == "Failover":
            chain[str(e["targetId"])].append(token)
    bad: dict[str, list[str]] = {}
    for _, rid in sorted(obs.eligible):
        toks = chain.get(rid, [])
        rounds = [t.rsplit("-", 1)[-1] for t in toks]
        if len(toks) != 2 or len(set(toks)) != 2 or rounds[0] != "0" or rounds[1] == "0":
            bad[rid] = toks
    return Verdict(
        not bad,
        "per eligible target: failover round 0, then a new round (a new token)",
        f"{len(obs.eligible) - len(bad)} of {len(obs.eligible)} with a new token",
        "; ".join(f"{rid}: {len(t)} chain effect(s)" for rid, t in list(bad.items())[:MAX_NAMED]),
        bad,
    )


Enabled = Callable[[Expect, Observations], bool]
Judge = Callable[[Expect, Observations], Verdict]
# (name, enabled, judge); all of them read the ledger
REVERSE_CHECKS: tuple[tuple[str, Enabled, Judge], ...] = (
    ("reverse-steps", lambda x, o: x.reverse is not None and bool(x.reverse.steps_per_target), steps),
    ("reverse-final-status", lambda x, o: x.reverse is not None and x.reverse.final_status is not None, final_status),
    (
        "reverse-one-effect-per-token",
        lambda x, o: x.reverse is not None and x.reverse.one_effect_per_token,
        one_effect_per_token,
    ),
    (
        "reverse-new-failover-token",
        lambda x, o: x.reverse is not None and x.reverse.new_failover_token,
        new_failover_token,
    ),
)
