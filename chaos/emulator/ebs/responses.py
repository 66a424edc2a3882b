"""Request handling for the ebs RPC API (moto's ``responses.py``): parse, validate, call the backend.

One method per operation, named after it. Parameters arrive as strings (query or form body);
the validation rules and ranges are the ebs 2021-07-30 metadata's.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.emulator.ebs.backend import CallContext, EbsBackend, Filters, Kind, Pager
from chaos.emulator.ebs.models import REGION_RE
from chaos.emulator.ebs.urls import handler_name
from chaos.emulator.errors import ApiError
from chaos.emulator.rpc import bool_param, int_param

TAG_RE = re.compile(r"^Tag\.(\d+)\.(Key|Value)$")


@dataclass(frozen=True)
class ApiCall:
    action: str
    params: Mapping[str, str]
    ctx: CallContext

    @property
    def region(self) -> str:
        return self.params["RegionId"]


def check_region(action: str, params: Mapping[str, str]) -> None:
    """Every operation names a RegionId (a required parameter); it must look like one."""
    region = params["RegionId"]
    if len(region) > 64 or not REGION_RE.match(region):
        raise ApiError.of("InvalidParameter", "RegionId")


def _ids(params: Mapping[str, str], name: str) -> frozenset[str] | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    # V2 serialises a list as a comma string; tolerate a JSON-ish ["a","b"] as well
    parts = [p.strip().strip('"') for p in raw.strip("[]").split(",") if p.strip()]
    if len(parts) > 100 or any(len(p) > 128 for p in parts):
        raise ApiError.of("InvalidParameter", name)
    return frozenset(parts)


def _tags(params: Mapping[str, str]) -> tuple[tuple[str, str | None], ...]:
    keys: dict[int, str] = {}
    values: dict[int, str] = {}
    for name, value in params.items():
        m = TAG_RE.match(name)
        if not m:
            continue
        n = int(m.group(1))
        if not 1 <= n <= 20:
            raise ApiError.of("InvalidParameter", name)
        (keys if m.group(2) == "Key" else values)[n] = value
    if set(values) - set(keys):
        raise ApiError.of("MissingParameter", f"Tag.{min(set(values) - set(keys))}.Key")
    return tuple((keys[n], values.get(n)) for n in sorted(keys))


TOKEN_RE = re.compile(r"^nt1[A-Za-z0-9_-]{1,300}$")


def _encode_token(last_id: str) -> str:
    return "nt1" + base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    if not TOKEN_RE.match(token):
        raise ApiError.of("InvalidParameter", "NextToken")
    try:
        body = token[3:]
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError.of("InvalidParameter", "NextToken") from None


def paginate(
    params: Mapping[str, str], items: list[Any], id_of: Callable[[Any], str]
) -> tuple[list[Any], dict[str, Any]]:
    """Token mode (NextToken+MaxResults, default) or page mode (PageNumber+PageSize).

    NextToken is an opaque cursor over the id order, so pages stay stable while records change.
    If NextToken is set, PageNumber/PageSize are ignored (the docs say so). The last page answers
    ``NextToken: ""``.
    """
    next_token = params.get("NextToken") or ""
    page_mode = (
        not next_token
        and not params.get("MaxResults")
        and (bool(params.get("PageNumber")) or bool(params.get("PageSize")))
    )
    total = len(items)
    if page_mode:
        number = int_param(params, "PageNumber", 1, 1_000_000, 1)
        size = int_param(params, "PageSize", 1, 100, 10)
        page = items[(number - 1) * size : number * size]
        return page, {"NextToken": "", "PageNumber": number, "PageSize": size, "TotalCount": total}
    size = int_param(params, "MaxResults", 1, 500, 10)
    start = 0
    if next_token:
        start = bisect.bisect_right(items, _decode_token(next_token), key=id_of)
    page = items[start : start + size]
    more = start + size < total
    token = _encode_token(id_of(page[-1])) if more and page else ""
    return page, {"NextToken": token, "PageNumber": 1, "PageSize": size, "TotalCount": total}


class EbsResponse:
    def __init__(self, backend: EbsBackend) -> None:
        self.backend = backend

    def dispatch(self, call: ApiCall) -> dict[str, Any]:
        handler: Callable[[ApiCall], dict[str, Any]] = getattr(self, handler_name(call.action))
        return handler(call)

    # ----------------------------------------------------------- describe
    def _filters(self, call: ApiCall, ids_param: str) -> Filters:
        site = call.params.get("Site") or "production"
        if site not in ("production", "backup"):
            raise ApiError.of("InvalidParameter", "Site")
        group = call.params.get("ReplicaGroupId") or None
        name = call.params.get("Name") or None
        if name is not None and len(name) > 128:
            raise ApiError.of("InvalidParameter", "Name")
        return Filters(
            region_id=call.region,
            ids=_ids(call.params, ids_param),
            group_id=group,
            name=name,
            resource_group_id=call.params.get("ResourceGroupId") or None,
            tags=_tags(call.params),
        )

    def _describe(
        self,
        call: ApiCall,
        ids_param: str,
        records: Callable[[Filters, Pager[Any]], tuple[list[dict[str, Any]], dict[str, Any]]],
        key: str,
        id_field: str,
    ) -> dict[str, Any]:
        f = self._filters(call, ids_param)
        kind: Kind = "pair" if id_field == "ReplicaPairId" else "group"
        strict_ids = self.backend.config().describe_unknown_ids == "NoSuchResource"
        if f.ids and strict_ids and self.backend.unknown_ids(kind, f.ids):
            raise ApiError.of("NoSuchResource")
        # the backend pages under its lock and copies only the page it answers
        page, meta = records(f, lambda items: paginate(call.params, items, lambda r: str(getattr(r, id_field))))
        site = call.params.get("Site") or "production"
        for rec in page:
            rec["Site"] = site  # the backend that served the record
        return {"RequestId": call.ctx.request_id, **meta, key: page}

    def describe_disk_replica_pairs(self, call: ApiCall) -> dict[str, Any]:
        return self._describe(call, "PairIds", self.backend.describe_pairs, "ReplicaPairs", "ReplicaPairId")

    def describe_disk_replica_groups(self, call: ApiCall) -> dict[str, Any]:
        return self._describe(call, "GroupIds", self.backend.describe_groups, "ReplicaGroups", "ReplicaGroupId")

    # ----------------------------------------------------------- pairs
    def failover_disk_replica_pair(self, call: ApiCall) -> dict[str, Any]:
        self.backend.failover_pair(call.ctx, call.region, call.params["ReplicaPairId"])
        return {"RequestId": call.ctx.request_id}

    def reprotect_disk_replica_pair(self, call: ApiCall) -> dict[str, Any]:
        reverse = bool_param(call.params, "ReverseReplicate", True)
        self.backend.reprotect_pair(call.ctx, call.region, call.params["ReplicaPairId"], reverse)
        return {"RequestId": call.ctx.request_id}

    def start_disk_replica_pair(self, call: ApiCall) -> dict[str, Any]:
        one_shot = bool_param(call.params, "OneShot", False)
        self.backend.start_pair(call.ctx, call.region, call.params["ReplicaPairId"], one_shot)
        return {"RequestId": call.ctx.request_id}

    def stop_disk_replica_pair(self, call: ApiCall) -> dict[str, Any]:
        self.backend.stop_pair(call.ctx, call.region, call.params["ReplicaPairId"])
        return {"RequestId": call.ctx.request_id}

    # ----------------------------------------------------------- groups
    def failover_disk_replica_group(self, call: ApiCall) -> dict[str, Any]:
        self.backend.failover_group(call.ctx, call.region, call.params["ReplicaGroupId"])
        return {"RequestId": call.ctx.request_id}

    def reprotect_disk_replica_group(self, call: ApiCall) -> dict[str, Any]:
        reverse = bool_param(call.params, "ReverseReplicate", True)
        self.backend.reprotect_group(call.ctx, call.region, call.params["ReplicaGroupId"], reverse)
        return {"RequestId": call.ctx.request_id}

    def start_disk_replica_group(self, call: ApiCall) -> dict[str, Any]:
        one_shot = bool_param(call.params, "OneShot", False)
        self.backend.start_group(call.ctx, call.region, call.params["ReplicaGroupId"], one_shot)
        return {"RequestId": call.ctx.request_id}

    def stop_disk_replica_group(self, call: ApiCall) -> dict[str, Any]:
        self.backend.stop_group(call.ctx, call.region, call.params["ReplicaGroupId"])
        return {"RequestId": call.ctx.request_id}


    # ----------------------------------------------------------- drills
    def _drill_id(self, call: ApiCall, kind: str, *, required: bool) -> str | None:
        raw = call.params.get("DrillId") or None
        prefix = "drill-" if kind == "pair" else "pg-drill-"
        if raw is not None and (len(raw) > 128 or not raw.startswith(prefix)):
            raise ApiError.of("InvalidParameter", "DrillId")
        if required and raw is None:
            raise ApiError.of("MissingParameter", "DrillId")
        return raw

    def _describe_drills(self, call: ApiCall, kind: Kind, id_param: str) -> dict[str, Any]:
        drill_id = self._drill_id(call, kind, required=False)
        found = self.backend.describe_drills(kind, call.region, call.params[id_param], drill_id)
        page, meta = paginate(call.params, found, lambda d: str(d["DrillId"]))
        return {"RequestId": call.ctx.request_id, **meta, "Drills": page}

    def start_pair_drill(self, call: ApiCall) -> dict[str, Any]:
        drill_id = self.backend.start_drill(call.ctx, "pair", call.region, call.params["PairId"])
        return {"RequestId": call.ctx.request_id, "DrillId": drill_id}

    def describe_pair_drills(self, call: ApiCall) -> dict[str, Any]:
        return self._describe_drills(call, "pair", "PairId")

    def clear_pair_drill(self, call: ApiCall) -> dict[str, Any]:
        drill_id = self._drill_id(call, "pair", required=True)
        assert drill_id is not None
        self.backend.clear_drill(call.ctx, "pair", call.region, call.params["PairId"], drill_id)
        return {"RequestId": call.ctx.request_id}

    def start_replica_group_drill(self, call: ApiCall) -> dict[str, Any]:
        drill_id = self.backend.start_drill(call.ctx, "group", call.region, call.params["GroupId"])
        return {"RequestId": call.ctx.request_id, "DrillId": drill_id}

    def describe_replica_group_drills(self, call: ApiCall) -> dict[str, Any]:
        return self._describe_drills(call, "group", "GroupId")

    def clear_replica_group_drill(self, call: ApiCall) -> dict[str, Any]:
        drill_id = self._drill_id(call, "group", required=True)
        assert drill_id is not None
        self.backend.clear_drill(call.ctx, "group", call.region, call.params["GroupId"], drill_id)
        return {"RequestId": call.ctx.request_id}
