"""How ebs requests are recognised and routed (moto's ``urls.py``, for an RPC API).

ebs speaks Alibaba Cloud's RPC style: every operation is ``GET|POST /`` with ``Action`` and
``Version`` in the query, the form body or the ``x-acs-action``/``x-acs-version`` headers (V2 SDK).
:data:`REQUIRED` is the operation table: the actions served, each with its required parameters.
A handler named after the action (``FailoverDiskReplicaPair`` -> ``failover_disk_replica_pair``)
answers it in ``responses.py``.
"""

from __future__ import annotations

import re

VERSION = "2021-07-30"

REQUIRED: dict[str, tuple[str, ...]] = {
    "DescribeDiskReplicaPairs": ("RegionId",),
    "DescribeDiskReplicaGroups": ("RegionId",),
    "FailoverDiskReplicaPair": ("RegionId", "ReplicaPairId"),
    "FailoverDiskReplicaGroup": ("RegionId", "ReplicaGroupId"),
    "ReprotectDiskReplicaPair": ("RegionId", "ReplicaPairId"),
    "ReprotectDiskReplicaGroup": ("RegionId", "ReplicaGroupId"),
    "StartDiskReplicaPair": ("RegionId", "ReplicaPairId"),
    "StopDiskReplicaPair": ("RegionId", "ReplicaPairId"),
    "StartDiskReplicaGroup": ("RegionId", "ReplicaGroupId"),
    "StopDiskReplicaGroup": ("RegionId", "ReplicaGroupId"),
    "StartPairDrill": ("RegionId", "PairId"),
    "DescribePairDrills": ("RegionId", "PairId"),
    "ClearPairDrill": ("RegionId", "PairId", "DrillId"),
    "StartReplicaGroupDrill": ("RegionId", "GroupId"),
    "DescribeReplicaGroupDrills": ("RegionId", "GroupId"),
    "ClearReplicaGroupDrill": ("RegionId", "GroupId", "DrillId"),
}
WRITE_ACTIONS = frozenset(a for a in REQUIRED if not a.startswith("Describe"))


def routable(method: str, path: str, action: str, version: str) -> bool:
    """Whether the gateway would route this call to an ebs operation (else ``InvalidApi.NotFound``)."""
    return method in ("GET", "POST") and path == "/" and action in REQUIRED and version == VERSION


def handler_name(action: str) -> str:
    """``FailoverDiskReplicaPair`` -> ``failover_disk_replica_pair``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
