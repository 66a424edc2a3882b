"""Checks of confirmation, approval and notifications: what the endpoints received, what the results say
about the decision, the writes each event step made, and that no secret leaked anywhere.

Each function judges one ``expect`` field from :class:`Observations`; :mod:`chaos.gameday.expectations`
lists them in its table. Notification kinds come from the message as received (``kind_of``), not from
what the function says it sent.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from chaos.gameday.notifications import kind_of, text_of
from chaos.gameday.observations import Observations
from chaos.gameday.scenario import Expect
from chaos.gameday.verdict import MAX_NAMED, Verdict, short

PROBE_ACTION = "DescribeDiskReplicaPairs"
_MISSING = object()


def is_primary_probe(request: dict[str, Any], primary: str) -> bool:
    """The function's confirmation probe: a read of the primary's replica pairs at the production site."""
    return (
        request.get("action") == PROBE_ACTION
        and request.get("regionId") == primary
        and request.get("site") == "production"
    )


def primary_probes(x: Expect, obs: Observations) -> Verdict:
    n = sum(1 for r in obs.ebs_requests() if is_primary_probe(r, obs.primary))
    limit = x.max_primary_probes or 0
    return Verdict(n <= limit, f"<= {limit} probe(s) of {obs.primary}", n, f"{n} probes of the primary")


def event_writes(x: Expect, obs: Observations) -> Verdict:
    bad = [(label, n, limit) for label, n, limit in obs.step_writes if n > limit]
    return Verdict(
        not bad,
        "; ".join(f"{label}: <= {limit}" for label, _, limit in obs.step_writes),
        {label: n for label, n, _ in obs.step_writes},
        "; ".join(f"{label} made {n} write call(s), at most {limit} allowed" for label, n, limit in bad),
        [label for label, _, _ in bad],
    )


def lookup(doc: Any, path: str) -> Any:
    """``a.b.0.c`` in nested objects and lists; :data:`_MISSING` when a step is absent."""
    here = doc
    for part in path.split("."):
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        else:
            return _MISSING
    return here


def _field_problems(result: dict[str, Any] | None, wanted: dict[str, list[Any]]) -> tuple[dict[str, Any], list[str]]:
    seen = {path: lookup(result, path) for path in wanted}
    shown = {p: ("absent" if v is _MISSING else v) for p, v in seen.items()}
    bad = [f"{p} was {json.dumps(shown[p])}" for p, v in seen.items() if v is _MISSING or v not in wanted[p]]
    return shown, bad


def result_fields(x: Expect, obs: Observations) -> Verdict:
    """``expect.resultFields`` in the last result; each event's ``resultFields`` in each of its deliveries'."""
    measured: dict[str, Any] = {}
    bad: list[str] = []
    bounds: list[str] = []
    if x.result_fields:
        last = obs.final_results[-1] if obs.final_results else None
        measured["last result"], problems = _field_problems(last, x.result_fields)
        bad += [f"last result: {p}" for p in problems] if last is not None else ["no result to read"]
        bounds += [f"{p} in {json.dumps(v)}" for p, v in x.result_fields.items()]
    for label, result, wanted in obs.event_results:
        measured[label], problems = _field_problems(result, wanted)
        bad += [f"{label}: {p}" for p in problems] if result is not None else [f"{label}: no result"]
        bounds += [f"{label}: {p} in {json.dumps(v)}" for p, v in wanted.items()]
    return Verdict(not bad, "; ".join(bounds), measured, "; ".join(bad[:MAX_NAMED]), bad)


def evidence_time(x: Expect, obs: Observations) -> Verdict:
    limit_ms = (x.max_evidence_seconds or 0.0) * 1000
    took = [
        float(r["confirmation"].get("gatheringMs") or 0.0)
        for r in obs.attempt_results
        if isinstance(r.get("confirmation"), dict)
    ]
    slow = [t for t in took if t > limit_ms]
    return Verdict(
        bool(took) and not slow,
        f"evidence gathered in <= {limit_ms:g} ms",
        max(took, default=None),
        f"gathering took {', '.join(f'{t:g} ms' for t in slow)}" if took else "no result reports a confirmation",
    )


def notification_kinds(x: Expect, obs: Observations) -> Verdict:
    """Each endpoint accepted exactly the expected number of messages of each kind (what on-call saw)."""
    assert x.notifications is not None
    wanted = x.notifications.kinds
    on = list(x.notifications.endpoints or obs.notify_channels)
    got: dict[str, Counter[str]] = {c: Counter() for c in on}
    for n in obs.notifications:
        if n.get("accepted") and n.get("kind") in got:
            got[str(n.get("kind"))][kind_of(n)] += 1
    measured = {c: dict(sorted(counts.items())) for c, counts in got.items()}
    bad = [
        f"{channel} received {counts[kind]} {kind} message(s), expected {n}"
        for channel, counts in got.items()
        for kind, n in wanted.items()
        if counts[kind] != n
    ]
    return Verdict(
        not bad,
        f"accepted by each of {', '.join(on)}: " + ", ".join(f"{k} == {n}" for k, n in wanted.items()),
        measured,
        "; ".join(bad[:MAX_NAMED]),
        bad,
    )


def notification_text(x: Expect, obs: Observations) -> Verdict:
    assert x.notifications is not None
    texts = [text_of(n) for n in obs.notifications]
    missing = [needle for needle in x.notifications.contains if not any(needle in t for t in texts)]
    return Verdict(
        not missing,
        "some message contains each of " + ", ".join(repr(c) for c in x.notifications.contains),
        f"{len(x.notifications.contains) - len(missing)} of {len(x.notifications.contains)} found",
        f"no message contains {short(missing)}" + ("" if texts else " (no message received)"),
        missing,
    )


def notifications_accepted(x: Expect, obs: Observations) -> Verdict:
    assert x.notifications is not None
    want = bool(x.notifications.all_accepted)
    refused = [n for n in obs.notifications if not n.get("accepted")]
    ok = bool(obs.notifications) and (not refused if want else bool(refused))
    return Verdict(
        ok,
        "every message accepted" if want else "some message refused",
        f"{len(obs.notifications) - len(refused)} of {len(obs.notifications)} accepted",
        "no message received"
        if not obs.notifications
        else "; ".join(f"#{n.get('seq')} {n.get('kind')}: {n.get('verification')}" for n in refused[:MAX_NAMED])
        or "every message was accepted",
        [n.get("seq") for n in refused],
    )


def result_notification_failures(x: Expect, obs: Observations) -> Verdict:
    """The function recorded failed sends in its results (a notification failure never fails the failover)."""
    floor = x.result_notification_failures or 0
    failed = [
        n
        for r in obs.final_results
        for n in r.get("notifications") or []
        if isinstance(n, dict) and n.get("ok") is False
    ]
    return Verdict(
        len(failed) >= floor,
        f">= {floor} notification(s) recorded as failed in the results",
        [f"{n.get('channel')}/{n.get('kind')}: {n.get('error') or n.get('status')}" for n in failed][:MAX_NAMED],
        f"only {len(failed)} failed notification(s) recorded",
    )


def no_secret_leaked(x: Expect, obs: Observations) -> Verdict:
    """No secret of the run in a received message, a result or a function log line (the place is named,
    never the secret)."""
    places: list[tuple[str, str]] = [
        (f"notification #{n.get('seq')} ({n.get('kind')})", json.dumps(n.get("body"), ensure_ascii=False))
        for n in obs.notifications
    ]
    places += [(f"result of attempt {i}", json.dumps(r, ensure_ascii=False)) for i, r in enumerate(obs.attempt_results)]
    places += [(f"function log line {i + 1}", line) for i, line in enumerate(obs.logs.splitlines())]
    hits = sorted({where for where, text in places for secret in obs.secrets if secret and secret in text})
    return Verdict(
        not hits,
        f"no run secret in {len(obs.notifications)} message(s), results and log lines",
        len(hits),
        "a secret appears in " + short(hits),
        hits,
    )
