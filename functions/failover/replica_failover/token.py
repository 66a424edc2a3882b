"""ClientTokens of failover calls: one chain of tokens per target and replication direction.

``base = sha256(primary | dr | kind | id | Source>Destination)[:40]`` and the token of round ``k`` is
``rf2-<base>-<k>`` (at most 48 ASCII characters; the API allows 64). Nothing that moves while a
primary still replicates (``LastRecoverPoint``) and nothing of the invocation (request id,
``transId``) goes in: every notification, retry and concurrent copy of one outage derives the same
chain. Every invocation walks the chain from round 0, and moves to round ``k + 1`` only after a
200 for round ``k`` left the target not failed over (execute.py): the 200 was the replay of a token
an earlier incident consumed (before a failback), or round ``k`` failed asynchronously
(``failover_failed``). docs/idempotency.md has the long form.

Where it sits: event -> incident -> decision -> **plan** (derives each target's chain base) ->
**execution** (sends round ``k``'s token) -> result.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

PREFIX = "rf2-"
# a target failed over (or failed to) this many times within the API's token window is a loop, not a history
MAX_ROUNDS = 32


def token_base(primary: str, dr: str, kind: Literal["pair", "group"], target_id: str, source: str, dest: str) -> str:
    digest = hashlib.sha256(f"{primary}|{dr}|{kind}|{target_id}|{source}>{dest}".encode()).hexdigest()
    return f"{PREFIX}{digest[:40]}"


def round_token(base: str, k: int) -> str:
    if not 0 <= k < MAX_ROUNDS:
        raise ValueError(f"token round {k} outside 0..{MAX_ROUNDS - 1}")
    return f"{base}-{k}"


def chain_base(primary: str, dr: str, kind: Literal["pair", "group"], record: dict[str, Any]) -> str:
    """The chain's base for a target, from its describe record (the DR site's view of it)."""
    src = str(record.get("SourceRegion" if kind == "pair" else "SourceRegionId"))
    dst = str(record.get("DestinationRegion" if kind == "pair" else "DestinationRegionId"))
    rid = str(record.get("ReplicaPairId" if kind == "pair" else "ReplicaGroupId", ""))
    return token_base(primary, dr, kind, rid, src, dst)
