"""The ebs calls the reverse actions make, on the drill's V2 SDK client (same construction, same
error mapping: every failure is a :class:`DrillApiError` with the API's code and HTTP status only).

Records come back as the API's documents (``to_map()``: ``ReplicaPairId``, ``SourceRegion`` ...), so
the plan reads the same field names the reference gives. The SDK is imported on use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from replica_failover.drill.client import DrillApiError, EbsDrillClient
from replica_failover.reverse.models import Kind

__all__ = ["DiskLookup", "DrillApiError", "ReverseApi", "ReverseClient"]

MAX_PAGES = 10_000


class ReverseApi(Protocol):
    def records(
        self, region: str, kind: Kind, ids: Sequence[str] | None, tags: dict[str, str], group_id: str | None = None
    ) -> list[dict[str, Any]]: ...

    def reprotect(self, region: str, kind: Kind, target_id: str, reverse: bool, client_token: str) -> None: ...

    def start_replication(self, region: str, kind: Kind, target_id: str, client_token: str) -> None: ...

    def failover(self, region: str, kind: Kind, target_id: str, client_token: str) -> None: ...


class DiskLookup(Protocol):
    """ECS DescribeDisks (``replica_failover.recovery.ecs.EcsApi``); raises with ``.code`` on failure."""

    def describe_disks(self, region: str, disk_ids: Sequence[str]) -> list[dict[str, Any]]: ...


class ReverseClient(EbsDrillClient):
    """:class:`ReverseApi` over ``alibabacloud_ebs20210730``."""

    def records(
        self, region: str, kind: Kind, ids: Sequence[str] | None, tags: dict[str, str], group_id: str | None = None
    ) -> list[dict[str, Any]]:
        from alibabacloud_ebs20210730 import models as m

        out: list[dict[str, Any]] = []
        token = ""
        tag_type: Any = m.DescribeDiskReplicaPairsRequestTag
        if kind == "group":
            tag_type = m.DescribeDiskReplicaGroupsRequestTag
        tag_list = [tag_type(key=k, value=v) for k, v in sorted(tags.items())] or None
        for _ in range(MAX_PAGES):
            common: dict[str, Any] = {"region_id": region, "site": "backup", "max_results": 500, "tag": tag_list}
            if token:
                common["next_token"] = token
            if kind == "pair":
                req: Any = m.DescribeDiskReplicaPairsRequest(
                    pair_ids=",".join(ids) if ids else None, replica_group_id=group_id, **common
                )
                body = self._call(region, "describe_disk_replica_pairs", req)
                out.extend(p.to_map() for p in body.replica_pairs or [])
            else:
                req = m.DescribeDiskReplicaGroupsRequest(group_ids=",".join(ids) if ids else None, **common)
                body = self._call(region, "describe_disk_replica_groups", req)
                out.extend(g.to_map() for g in body.replica_groups or [])
            token = body.next_token or ""
            if not token:
                break
        return out

    def reprotect(self, region: str, kind: Kind, target_id: str, reverse: bool, client_token: str) -> None:
        from alibabacloud_ebs20210730 import models as m

        if kind == "pair":
            req: Any = m.ReprotectDiskReplicaPairRequest(
                region_id=region, replica_pair_id=target_id, reverse_replicate=reverse, client_token=client_token
            )
            self._call(region, "reprotect_disk_replica_pair", req)
        else:
            req = m.ReprotectDiskReplicaGroupRequest(
                region_id=region, replica_group_id=target_id, reverse_replicate=reverse, client_token=client_token
            )
            self._call(region, "reprotect_disk_replica_group", req)

    def start_replication(self, region: str, kind: Kind, target_id: str, client_token: str) -> None:
        from alibabacloud_ebs20210730 import models as m

        if kind == "pair":
            req: Any = m.StartDiskReplicaPairRequest(
                region_id=region, replica_pair_id=target_id, client_token=client_token
            )
            self._call(region, "start_disk_replica_pair", req)
        else:
            req = m.StartDiskReplicaGroupRequest(
                region_id=region, replica_group_id=target_id, client_token=client_token
            )
            self._call(region, "start_disk_replica_group", req)

    def failover(self, region: str, kind: Kind, target_id: str, client_token: str) -> None:
        from alibabacloud_ebs20210730 import models as m

        if kind == "pair":
            req: Any = m.FailoverDiskReplicaPairRequest(
                region_id=region, replica_pair_id=target_id, client_token=client_token
            )
            self._call(region, "failover_disk_replica_pair", req)
        else:
            req = m.FailoverDiskReplicaGroupRequest(
                region_id=region, replica_group_id=target_id, client_token=client_token
            )
            self._call(region, "failover_disk_replica_group", req)
