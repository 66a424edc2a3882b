"""Signal + policy + evidence -> act or hold, gathering only what the decision still needs.

The evidence is gathered only when the signal alone leaves the policy undecided (a manual request
under ``manual or ...`` acts at once; a resource-level signal under ``alarm and probe`` holds at
once), and then only the sources the policy names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from replica_failover.confirm.evidence import Evidence, Source, SourceResult, gather
from replica_failover.confirm.policy import Decision, Facts, Policy, terms
from replica_failover.incident import Incident

Signal = Literal["alarm", "resource", "manual"]
# policy term -> evidence source
SOURCE_OF_TERM: Final = {"probe": "probe", "events": "cms_events", "metric": "metric"}
# dimensions that scope a metric to a region (and the account), not to one resource
REGION_ONLY_DIMENSIONS: Final = frozenset({"region", "regionid", "userid"})


def classify(incident: Incident) -> Signal:
    """Region-level (``alarm``): a threshold alarm whose region comes from FAILOVER_ALARM_REGION_MAP, or
    whose dimensions name only a region (a per-region metric: nothing narrower is being watched).
    ``manual``: an operator's request. Everything else is about one resource: a system event, or a
    threshold alarm with a resource among its dimensions (``instanceId``, ...) or none at all."""
    if incident.kind == "manual":
        return "manual"
    if incident.kind == "threshold":
        if incident.region_origin == "alarm-map":
            return "alarm"
        keys = {key.lower() for key, _ in incident.dimensions}
        if incident.region_origin == "dimensions" and keys and keys <= REGION_ONLY_DIMENSIONS:
            return "alarm"
    return "resource"


class Confirmation(BaseModel):
    model_config = ConfigDict(frozen=True)
    signal: Signal
    decision: Decision
    evidence: Evidence | None
    """None when the signal alone decided."""


def confirm(
    policy: Policy,
    signal: Signal,
    sources: Callable[[], Mapping[str, Source]],
    *,
    timeout: float,
) -> Confirmation:
    """Decide; ``sources`` builds the evidence sources and is called only if the evidence matters."""
    bare = Facts(alarm=signal == "alarm", resource=signal == "resource", manual=signal == "manual")
    first = policy.decide(bare)
    if first.value != "unknown":
        return Confirmation(signal=signal, decision=first, evidence=None)
    wanted = {SOURCE_OF_TERM[t.name] for t in terms(policy.root) if t.name in SOURCE_OF_TERM}
    chosen = {name: src for name, src in sources().items() if name in wanted}

    def settled(partial: Mapping[str, SourceResult]) -> bool:
        # Kleene logic is monotone: once the known answers decide, the pending ones cannot change it
        known = Evidence(sources=dict(partial), elapsed_ms=0, timeout_seconds=timeout)
        facts = known.facts(alarm=bare.alarm, resource=bare.resource, manual=bare.manual)
        return policy.decide(facts).value != "unknown"

    evidence = gather(chosen, timeout, settled=settled)
    facts = evidence.facts(alarm=bare.alarm, resource=bare.resource, manual=bare.manual)
    return Confirmation(signal=signal, decision=policy.decide(facts), evidence=evidence)
