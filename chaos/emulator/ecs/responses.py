"""ECS 2014-05-26 operations (moto's ``responses.py``): the operation table, parameter parsing, answers.

Every operation is ``GET|POST /`` with ``Version=2014-05-26``; list parameters arrive either as a
JSON-array string (``DiskIds``, ``InstanceIds``) or as ``InstanceId.N`` (the legacy SDK's repeat list).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chaos.emulator.ebs.responses import paginate
from chaos.emulator.ecs.backend import Caller, EcsBackend
from chaos.emulator.ecs.errors import ecs_error
from chaos.emulator.ecs.models import DISK_STATUSES, INSTANCE_STATUSES, DiskRecord, EcsTag, InstanceRecord
from chaos.emulator.errors import ApiError
from chaos.emulator.rpc import ActionMethods, bool_param

VERSION = "2014-05-26"
REQUIRED: dict[str, tuple[str, ...]] = {
    "DescribeDisks": ("RegionId",),
    "DescribeInstances": ("RegionId",),
    "DescribeInstanceStatus": ("RegionId",),
    "AttachDisk": ("InstanceId", "DiskId"),
    "DetachDisk": ("InstanceId", "DiskId"),
    "StartInstances": ("RegionId", "InstanceId.1"),
    "StopInstances": ("RegionId", "InstanceId.1"),
}
TAG_RE = re.compile(r"^Tag\.(\d+)\.(Key|Value)$")
INDEXED_RE = re.compile(r"^InstanceId\.(\d+)$")
T = TypeVar("T", InstanceRecord, DiskRecord)


def target(params: Mapping[str, str]) -> str | None:
    return params.get("DiskId") or params.get("InstanceId") or params.get("InstanceId.1") or None


def _invalid(name: str) -> ApiError:
    return ecs_error("InvalidParameter", name)


def _json_ids(params: Mapping[str, str], name: str, malformed: str) -> list[str] | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        ids = json.loads(raw)
    except ValueError:
        raise ecs_error(malformed) from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > 100:
        raise ecs_error(malformed)
    return ids


def _indexed_ids(params: Mapping[str, str]) -> list[str]:
    found = sorted((int(m.group(1)), v) for k, v in params.items() if (m := INDEXED_RE.match(k)))
    if len(found) > 100:
        raise ecs_error("InvalidParameter.TooManyInstanceIds")
    if [n for n, _ in found] != list(range(1, len(found) + 1)) or not all(v for _, v in found):
        raise ecs_error("InvalidParameter", "InstanceId")
    return [v for _, v in found]


def _tags(params: Mapping[str, str]) -> list[tuple[str, str | None]]:
    keys: dict[int, str] = {}
    values: dict[int, str] = {}
    for name, value in params.items():
        if m := TAG_RE.match(name):
            n = int(m.group(1))
            if not 1 <= n <= 20:
                raise ecs_error("InvalidParameter", name)
            (keys if m.group(2) == "Key" else values)[n] = value
    if set(values) - set(keys):
        raise ApiError.of("MissingParameter", f"Tag.{min(set(values) - set(keys))}.Key")
    return [(keys[n], values.get(n)) for n in sorted(keys)]


def _tag_match(tags: list[EcsTag], wanted: list[tuple[str, str | None]]) -> bool:
    have = {(t.TagKey, t.TagValue) for t in tags}
    keys = {t.TagKey for t in tags}
    return all((k in keys) if v is None else ((k, v) in have) for k, v in wanted)


def _page(params: Mapping[str, str], items: list[T], id_of: Callable[[T], str]) -> tuple[list[T], dict[str, Any]]:
    page, meta = paginate(params, items, id_of)
    if not params.get("NextToken") and not params.get("MaxResults"):
        meta.pop("NextToken", None)  # page mode answers no NextToken field
    return page, meta


class EcsResponse(ActionMethods):
    def __init__(self, backend: EcsBackend) -> None:
        self.backend = backend

    # ----------------------------------------------------------- reads
    def DescribeInstances(self, params: Mapping[str, str], who: Caller) -> dict[str, Any]:
        ids = _json_ids(params, "InstanceIds", "InvalidInstanceIds.Malformed")
        status, zone, tags = params.get("Status") or None, params.get("ZoneId") or None, _tags(params)
        if status is not None and status not in INSTANCE_STATUSES:
            raise ApiError(code="InvalidStatus.NotFound", status=404, message="The specified Status is not found.")
        b = self.backend
        with b.lock:
            found = [
                r
                for r in b.list_instances()
                if r.RegionId == params["RegionId"]
                and (ids is None or r.InstanceId in ids)
                and (status is None or r.Status == status)
                and (zone is None or r.ZoneId == zone)
                and _tag_match(r.Tags, tags)
            ]
            page, meta = _page(params, found, lambda r: r.InstanceId)
            return {**meta, "Instances": {"Instance": [b.instance_doc(r) for r in page]}}

    def DescribeInstanceStatus(self, params: Mapping[str, str], who: Caller) -> dict[str, Any]:
        ids = _indexed_ids(params) if "InstanceId.1" in params else None
        zone = params.get("ZoneId") or None
        raw_size = params.get("PageSize") or "10"
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= 50:
            raise ecs_error("InvalidParameter", "PageSize")
        with self.backend.lock:
            found = [
                r
                for r in self.backend.list_instances()
                if r.RegionId == params["RegionId"]
                and (ids is None or r.InstanceId in ids)
                and (zone is None or r.ZoneId == zone)
            ]
            page, meta = _page(params, found, lambda r: r.InstanceId)
            statuses = [{"InstanceId": r.InstanceId, "Status": r.Status} for r in page]
            return {**meta, "InstanceStatuses": {"InstanceStatus": statuses}}

    def DescribeDisks(self, params: Mapping[str, str], who: Caller) -> dict[str, Any]:
        ids = _json_ids(params, "DiskIds", "InvalidDiskIds.Malformed")
        status = params.get("Status") or "All"
        if status != "All" and status not in DISK_STATUSES:
            raise ecs_error("InvalidStatus.ValueNotSupported")
        disk_type = (params.get("DiskType") or "all").lower()
        if disk_type not in ("all", "system", "data"):
            raise ecs_error("InvalidParameter", "DiskType")
        iid, zone = params.get("InstanceId") or None, params.get("ZoneId") or None
        category, tags = params.get("Category") or None, _tags(params)
        b = self.backend
        with b.lock:
            found = [
                d
                for d in b.list_disks()
                if d.RegionId == params["RegionId"]
                and (ids is None or d.DiskId in ids)
                and (status in ("All", d.Status))
                and (disk_type in ("all", d.Type))
                and (iid is None or d.InstanceId == iid)
                and (zone is None or d.ZoneId == zone)
                and (category is None or d.Category == category)
                and _tag_match(d.Tags, tags)
            ]
            page, meta = _page(params, found, lambda d: d.DiskId)
            return {**meta, "Disks": {"Disk": [b.disk_doc(d) for d in page]}}

    # ----------------------------------------------------------- writes
    def AttachDisk(self, params: Mapping[str, str], who: Caller) -> dict[str, Any]:
        self.backend.attach_disk(
            who,
            params.get("RegionId") or None,
            params["InstanceId"],
            params["DiskId"],
            bootable=bool_param(params, "Bootable", False, _invalid),
            delete_with_instance=bool_param(params, "DeleteWithInstance", False, _invalid),
        )
        return {}

    def DetachDisk(self, params: Mapping[str, str], who: Caller) -> dict[str, Any]:
        self.backend.detach_disk(who, params.get("RegionId") or None, params["InstanceId"], params["DiskId"])
        return {}

    def StartInstances(self, params: Mapping[str, str], who: Caller) -> dict[str, Any]:
        return self._batch(params, who, start=True)

    def StopInstances(self, params: Mapping[str, str], who: Caller) -> dict[str, Any]:
        if (params.get("StoppedMode") or "KeepCharging") not in ("KeepCharging", "StopCharging"):
            raise ecs_error("InvalidParameter", "StoppedMode")
        bool_param(params, "ForceStop", False, _invalid)
        return self._batch(params, who, start=False)

    def _batch(self, params: Mapping[str, str], who: Caller, *, start: bool) -> dict[str, Any]:
        ids = _indexed_ids(params)
        mode = params.get("BatchOptimization") or "AllTogether"
        if mode not in ("AllTogether", "SuccessFirst"):
            raise ecs_error("InvalidParameter", "BatchOptimization")
        dry_run = bool_param(params, "DryRun", False, _invalid)
        results = self.backend.start_or_stop(
            who, params["RegionId"], ids, start=start, success_first=mode == "SuccessFirst", dry_run=dry_run
        )
        return {"InstanceResponses": {"InstanceResponse": results}}
