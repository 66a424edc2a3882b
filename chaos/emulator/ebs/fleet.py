"""Fleet generation for ``POST /_emulator/fleet``: N pairs over routes, statuses by weight, some grouped.

Deterministic: the same :class:`FleetSpec` (seed included) gives the same records.
"""

from __future__ import annotations

import random

from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord, Tag
from chaos.emulator.ebs.replication import GROUP_FAILOVER_FROM


def generate_fleet(spec: FleetSpec) -> tuple[list[PairRecord], list[GroupRecord]]:
    """N pairs over the routes, statuses drawn by weight, a fraction grouped; same seed, same fleet."""
    rng = random.Random(spec.seed)
    statuses = list(spec.statuses)
    weights = [spec.statuses[s] for s in statuses]
    pairs: list[PairRecord] = []
    for i in range(spec.pairs):
        src, dst = spec.routes[i % len(spec.routes)]
        pairs.append(
            PairRecord(
                ReplicaPairId=f"pair-{spec.prefix}{spec.seed}-{i:06d}",
                PairName=f"{spec.prefix}-{i}",
                SourceRegion=src,
                DestinationRegion=dst,
                Status=rng.choices(statuses, weights)[0],
                Tags=[Tag(TagKey=k, TagValue=v) for k, v in spec.tags.items()],
            )
        )
    groups: list[GroupRecord] = []
    if spec.group_size and spec.grouped_fraction:
        by_route: dict[tuple[str, str], list[PairRecord]] = {}
        for p in pairs:
            if rng.random() < spec.grouped_fraction and p.Status not in ("invalid", "deleted"):
                by_route.setdefault((p.SourceRegion, p.DestinationRegion), []).append(p)
        for (src, dst), members in sorted(by_route.items()):
            for start in range(0, len(members), spec.group_size):
                chunk = members[start : start + spec.group_size]
                gid = f"pg-{spec.prefix}{spec.seed}-{len(groups):05d}"
                status = chunk[0].Status if chunk[0].Status in GROUP_FAILOVER_FROM else "normal"
                for p in chunk:
                    p.Status = status  # a group's members share its state
                groups.append(
                    GroupRecord(
                        ReplicaGroupId=gid,
                        GroupName=gid,
                        SourceRegionId=src,
                        DestinationRegionId=dst,
                        Status=status,
                        PairIds=[p.ReplicaPairId for p in chunk],
                        Tags=[Tag(TagKey=k, TagValue=v) for k, v in spec.tags.items()],
                    )
                )
    return pairs, groups
