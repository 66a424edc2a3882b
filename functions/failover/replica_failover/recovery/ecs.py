"""ECS 2014-05-26 calls of the compute stage, with the official aliyun-python-sdk-ecs request classes.

None of these actions takes a ClientToken: AttachDisk and StartInstances are made exactly-once by
reading first (steps.py). The SDK retries ECS Describe* calls on its own unless told not to; the
client here is built with ``auto_retry=False`` so every retry is ours and counted. Endpoint:
``ECS_ENDPOINT`` (host[:port], or a URL; the emulator) or ``ecs.<region>.aliyuncs.com``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from replica_failover.credentials import Credentials
from replica_failover.ebs import MAX_PAGES, ApiFailure
from replica_failover.recovery.map import STANDBY_TAG
from replica_failover.recovery.transport import RpcApi

ENDPOINT_ENV = "ECS_ENDPOINT"
MAX_IDS = 100  # DescribeDisks DiskIds, DescribeInstances InstanceIds, StartInstances InstanceId.N


def _chunks(ids: Sequence[str], size: int = MAX_IDS) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(ids))
    for i in range(0, len(unique), size):
        yield unique[i : i + size]


def _records(body: dict[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
    """``{"Disks": {"Disk": [...]}}`` -> the list, whatever is missing on the way."""
    box = body.get(outer) or {}
    items = box.get(inner) if isinstance(box, dict) else box
    if items is None:
        return []
    if not isinstance(items, list):
        raise ApiFailure("SDK.UnknownServerError", f"{outer}.{inner} is not a list")
    return [r for r in items if isinstance(r, dict)]


# ---------------------------------------------------------------- requests (no I/O)


def describe_instances_request(*, instance_ids: Sequence[str] = (), tag_key: str | None = None) -> Any:
    from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest

    req = DescribeInstancesRequest()
    req.set_MaxResults(100)
    if instance_ids:
        req.set_InstanceIds(json.dumps(list(instance_ids)))
    if tag_key:
        req.set_Tags([{"Key": tag_key}])
    return req


def describe_disks_request(disk_ids: Sequence[str]) -> Any:
    from aliyunsdkecs.request.v20140526.DescribeDisksRequest import DescribeDisksRequest

    req = DescribeDisksRequest()
    req.set_DiskIds(json.dumps(list(disk_ids)))
    req.set_MaxResults(100)
    return req


def attach_disk_request(instance_id: str, disk_id: str) -> Any:
    from aliyunsdkecs.request.v20140526.AttachDiskRequest import AttachDiskRequest

    req = AttachDiskRequest()
    req.set_InstanceId(instance_id)
    req.set_DiskId(disk_id)
    req.set_DeleteWithInstance(False)  # a failed-over data disk must outlive its standby
    return req


def start_instances_request(instance_ids: Sequence[str]) -> Any:
    from aliyunsdkecs.request.v20140526.StartInstancesRequest import StartInstancesRequest

    if not 1 <= len(instance_ids) <= MAX_IDS:
        raise ValueError(f"StartInstances takes 1 to {MAX_IDS} instances, not {len(instance_ids)}")
    req = StartInstancesRequest()
    req.set_InstanceIds(list(instance_ids))
    # per-instance answers: one instance in a bad state must not fail the whole batch
    req.set_BatchOptimization("SuccessFirst")
    return req


# ---------------------------------------------------------------- the adapter


class EcsApi:
    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str | None = None,
        connect_timeout: float = 5,
        read_timeout: float = 10,
    ) -> None:
        self.rpc = RpcApi(
            credentials,
            host="ecs.{region}.aliyuncs.com",
            endpoint=endpoint if endpoint is not None else (os.environ.get(ENDPOINT_ENV) or None),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def _pages(self, region: str, make: Any, outer: str, inner: str) -> Iterator[dict[str, Any]]:
        token = ""
        for _ in range(MAX_PAGES):
            req = make()
            if token:
                req.set_NextToken(token)
            body = self.rpc.send(req, region)
            records = _records(body, outer, inner)
            yield from records
            token = str(body.get("NextToken") or "")
            if not token or not records:
                return
        raise ApiFailure("SDK.UnknownServerError", f"{outer}: more than {MAX_PAGES} pages")

    def describe_instances(self, region: str, instance_ids: Sequence[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in _chunks(instance_ids):
            out += self._pages(
                region, lambda c=chunk: describe_instances_request(instance_ids=c), "Instances", "Instance"
            )
        return out

    def tagged_standbys(self, region: str) -> list[dict[str, Any]]:
        """Every instance carrying the standby-for tag, whatever its value."""
        return list(
            self._pages(region, lambda: describe_instances_request(tag_key=STANDBY_TAG), "Instances", "Instance")
        )

    def describe_disks(self, region: str, disk_ids: Sequence[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in _chunks(disk_ids):
            out += self._pages(region, lambda c=chunk: describe_disks_request(c), "Disks", "Disk")
        return out

    def attach_disk(self, region: str, instance_id: str, disk_id: str) -> str:
        body = self.rpc.send(attach_disk_request(instance_id, disk_id), region, write=True)
        return str(body.get("RequestId", ""))

    def start_instances(self, region: str, instance_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Instance id -> (Code, Message) of its answer; Code "200" is started (or starting)."""
        body = self.rpc.send(start_instances_request(instance_ids), region, write=True)
        answers = _records(body, "InstanceResponses", "InstanceResponse")
        return {str(r.get("InstanceId")): (str(r.get("Code", "")), str(r.get("Message", ""))) for r in answers}
