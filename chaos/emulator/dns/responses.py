"""Alidns 2015-01-09 operations: DescribeDomainRecords, DescribeDomainRecordInfo, UpdateDomainRecord."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from chaos.emulator.dns.backend import DnsBackend
from chaos.emulator.dns.models import RECORD_TYPES, RR_RE, DomainRecord
from chaos.emulator.errors import ApiError
from chaos.emulator.rpc import ActionMethods, RpcContext

VERSION = "2015-01-09"
REQUIRED: dict[str, tuple[str, ...]] = {
    "DescribeDomainRecords": ("DomainName",),
    "DescribeDomainRecordInfo": ("RecordId",),
    "UpdateDomainRecord": ("RecordId", "RR", "Type", "Value"),
}


def target(params: Mapping[str, str]) -> str | None:
    return params.get("RecordId") or params.get("DomainName") or None


def _invalid(name: str) -> ApiError:
    return ApiError.of("InvalidParameter", name)


def _int(params: Mapping[str, str], name: str, lo: int, hi: int, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise _invalid(name)
    return int(raw)


def _matches(r: DomainRecord, params: Mapping[str, str]) -> bool:
    mode = (params.get("SearchMode") or "LIKE").upper()
    if mode not in ("LIKE", "EXACT", "ADVANCED"):
        raise _invalid("SearchMode")
    if mode == "ADVANCED":
        rr, typ, value = params.get("RRKeyWord"), params.get("TypeKeyWord"), params.get("ValueKeyWord")
        return (
            (not rr or rr.lower() in r.RR.lower())
            and (not typ or typ == r.Type)
            and (not value or value.lower() in r.Value.lower())
            and (not params.get("Type") or params["Type"] == r.Type)
            and (not params.get("Line") or params["Line"] == r.Line)
            and (not params.get("Status") or params["Status"].upper() == r.Status)
        )
    kw = params.get("KeyWord")
    if not kw:
        return True
    if mode == "EXACT":
        return kw in (r.RR, r.Value)
    return kw.lower() in r.RR.lower() or kw.lower() in r.Value.lower()


class DnsResponse(ActionMethods):
    def __init__(self, backend: DnsBackend) -> None:
        self.backend = backend

    def DescribeDomainRecords(self, params: Mapping[str, str], ctx: RpcContext) -> dict[str, Any]:
        number = _int(params, "PageNumber", 1, 100_000, 1) or 1
        size = _int(params, "PageSize", 1, 500, 20) or 20
        found = [r for r in self.backend.domain(params["DomainName"]) if _matches(r, params)]
        page = found[(number - 1) * size : number * size]
        return {
            "TotalCount": len(found),
            "PageNumber": number,
            "PageSize": size,
            "DomainRecords": {"Record": [r.model_dump(exclude_none=True) for r in page]},
        }

    def DescribeDomainRecordInfo(self, params: Mapping[str, str], ctx: RpcContext) -> dict[str, Any]:
        rec = self.backend.get(params["RecordId"])
        return rec.model_dump(exclude_none=True, exclude={"CreateTimestamp", "UpdateTimestamp", "Weight"})

    def UpdateDomainRecord(self, params: Mapping[str, str], ctx: RpcContext) -> dict[str, Any]:
        if not RR_RE.match(params["RR"]):
            raise _invalid("RR")
        if params["Type"] not in RECORD_TYPES:
            raise _invalid("Type")
        changes: dict[str, Any] = {
            "RR": params["RR"],
            "Type": params["Type"],
            "Value": params["Value"],
            "Line": params.get("Line") or "default",
            "TTL": _int(params, "TTL", 1, 86400, None),
            "Priority": _int(params, "Priority", 1, 50, None),
        }
        who = {"requestId": ctx.request_id, "action": ctx.action, "accessKeyId": ctx.access_key_id}
        try:
            self.backend.update(who, params["RecordId"], changes)
        except ValidationError:
            raise _invalid("Value") from None
        return {"RecordId": params["RecordId"]}
