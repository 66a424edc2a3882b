"""A worker reads the state of its own batch only: its ids, 100 to a describe, several at once.

Listing every page of the DR region (41 describes at 20,000 pairs, one after another) would cost
each worker 41 x L before its first write, and 41 calls of the region's quota. The coordinator
already read the whole region; a worker needs the current state of the ids it was given. Every
read goes through the executor like any other (paced at the worker's share, a send slot each,
transient errors retried).

The plan stays as safe as with the full listing: a pair describes its own ``ReplicaGroupId``, so
a pair that belongs to a group is still skipped unless its group is in the batch (plan.py), and an
id that does not replicate from the primary region is still reported as not found.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from replica_failover.ebs import EbsApi
    from replica_failover.execute import Executor
    from replica_failover.fanout.events import BatchEvent

IDS_PER_CALL: Final = 100  # the API's limit for PairIds / GroupIds


def batch_state(
    executor: Executor, api: EbsApi, region: str, event: BatchEvent, *, concurrency: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(groups, pairs) as DescribeDiskReplicaGroups/Pairs answer for the batch's ids; raises ApiFailure."""
    calls: list[tuple[str, list[str]]] = [
        ("group", event.group_ids[i : i + IDS_PER_CALL]) for i in range(0, len(event.group_ids), IDS_PER_CALL)
    ] + [("pair", event.pair_ids[i : i + IDS_PER_CALL]) for i in range(0, len(event.pair_ids), IDS_PER_CALL)]

    def read(kind: str, ids: list[str]) -> list[dict[str, Any]]:
        what = f"describe-{kind}s"
        if kind == "group":
            found = executor.retry_call(lambda: api.describe_groups(region, site="backup", group_ids=ids), what)
        else:
            found = executor.retry_call(lambda: api.describe_pairs(region, site="backup", pair_ids=ids), what)
        return list(found)

    groups: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    if not calls:
        return groups, pairs
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(calls))), thread_name_prefix="rf-read") as pool:
        futures = [(kind, pool.submit(read, kind, ids)) for kind, ids in calls]
        for kind, future in futures:  # in order: the first failure raises, the pool waits for the rest
            (groups if kind == "group" else pairs).extend(future.result())
    return groups, pairs
