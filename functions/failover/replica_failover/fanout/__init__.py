"""Fan-out of one incident over several async invocations of this same function (docs/fanout.md).

A plan larger than one invocation should carry makes the invocation a *coordinator*: it splits the
plan's targets into batches and async-invokes the function once per batch with a batch event and a
deterministic task id. Each *worker* re-plans its batch from the DR site's state and runs it like
any invocation, paced to its share of the region's rate. A ``status`` event aggregates the workers.

Structure: ``entry.py`` (the handler's hooks), ``settings.py`` (FAILOVER_BATCH_SIZE and the FC
target), ``events.py`` (the batch and status events, validated), ``split.py`` (whether and how to
split), ``ids.py`` (task ids), ``dispatch.py`` (FC 2.0/3.0 async invocations), ``coordinate.py``
(the coordinator's dispatch and result), ``quota.py`` (the rate share, following the workers),
``status.py`` (aggregation, and the count of unfinished workers), ``reads.py`` (a worker's reads of
its batch's ids).
"""

from __future__ import annotations

MARKER = b'"fanout"'  # the key every fan-out event carries; alarms and manual events never do


def carries_fanout(raw: bytes | str) -> bool:
    """Cheap pre-check on the raw event: only a candidate is parsed by ``fanout/events.py``."""
    blob = raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw)
    return MARKER in blob
