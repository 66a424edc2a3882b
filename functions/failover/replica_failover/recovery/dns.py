"""The traffic stage's DNS calls: Alidns 2015-01-09 and PrivateZone 2018-01-01, via CommonRequest.

Alidns has no ClientToken; an update to the value a record already holds answers
``DomainRecordDuplicate`` (steps.on_error: success, confirmed by reading back). PrivateZone's
UpdateZoneRecord takes one. Endpoints: ``DNS_ENDPOINT`` / ``PVTZ_ENDPOINT`` (the emulator) or the
global ``alidns.aliyuncs.com`` / ``pvtz.aliyuncs.com``.
"""

from __future__ import annotations

import os
from typing import Any

from replica_failover.credentials import Credentials
from replica_failover.ebs import ApiFailure
from replica_failover.recovery.map import Record
from replica_failover.recovery.transport import RpcApi

ENDPOINT_ENV = "DNS_ENDPOINT"
PVTZ_ENDPOINT_ENV = "PVTZ_ENDPOINT"
ALIDNS_VERSION = "2015-01-09"
PVTZ_VERSION = "2018-01-01"
PAGE_SIZE = 500


def _request(product: str, version: str, action: str, params: dict[str, str]) -> Any:
    from aliyunsdkcore.request import CommonRequest

    req = CommonRequest(version=version, action_name=action, product=product)
    req.set_method("POST")
    for key, value in params.items():
        req.add_query_param(key, value)
    return req


def describe_record_request(record_id: str) -> Any:
    return _request("Alidns", ALIDNS_VERSION, "DescribeDomainRecordInfo", {"RecordId": record_id})


def find_records_request(record: Record, page: int = 1) -> Any:
    params = {
        "DomainName": record.domain,
        "RRKeyWord": record.rr,
        "TypeKeyWord": record.type,
        "SearchMode": "ADVANCED",
        "PageNumber": str(page),
        "PageSize": str(PAGE_SIZE),
    }
    return _request("Alidns", ALIDNS_VERSION, "DescribeDomainRecords", params)


def update_record_request(record: Record, record_id: str) -> Any:
    params = {"RecordId": record_id, "RR": record.rr, "Type": record.type, "Value": record.value}
    if record.ttl is not None:
        params["TTL"] = str(record.ttl)
    return _request("Alidns", ALIDNS_VERSION, "UpdateDomainRecord", params)


def zone_records_request(record: Record, page: int = 1) -> Any:
    assert record.zone_id is not None  # the model requires it for privatezone
    params = {"ZoneId": record.zone_id, "Keyword": record.rr, "SearchMode": "EXACT", "PageNumber": str(page)}
    params["PageSize"] = "100"
    return _request("pvtz", PVTZ_VERSION, "DescribeZoneRecords", params)


def update_zone_record_request(record: Record, record_id: str, client_token: str) -> Any:
    params = {
        "RecordId": record_id,
        "Rr": record.rr,
        "Type": record.type,
        "Value": record.value,
        "ClientToken": client_token,
    }
    if record.ttl is not None:
        params["Ttl"] = str(record.ttl)
    return _request("pvtz", PVTZ_VERSION, "UpdateZoneRecord", params)


class DnsApi:
    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str | None = None,
        pvtz_endpoint: str | None = None,
        connect_timeout: float = 5,
        read_timeout: float = 10,
    ) -> None:
        self.alidns = RpcApi(
            credentials,
            host="alidns.aliyuncs.com",
            endpoint=endpoint if endpoint is not None else (os.environ.get(ENDPOINT_ENV) or None),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self.pvtz = RpcApi(
            credentials,
            host="pvtz.aliyuncs.com",
            endpoint=pvtz_endpoint if pvtz_endpoint is not None else (os.environ.get(PVTZ_ENDPOINT_ENV) or None),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def find(self, region: str, record: Record) -> list[dict[str, Any]]:
        """The records that ``record`` could name (RecordId, or domain+RR+type); validate.match_record
        picks. Read-only: what the plan and the resolver use."""
        if record.provider == "privatezone":
            body = self.pvtz.send(zone_records_request(record), region)
            box = body.get("Records") or {}
            items = box.get("Record") if isinstance(box, dict) else box
        elif record.record_id:
            body = self.alidns.send(describe_record_request(record.record_id), region)
            items = [body]
        else:
            body = self.alidns.send(find_records_request(record), region)
            box = body.get("DomainRecords") or {}
            items = box.get("Record") if isinstance(box, dict) else box
        if not isinstance(items, list):
            raise ApiFailure("SDK.UnknownServerError", "DNS records are not a list")
        return [r for r in items if isinstance(r, dict)]

    def read_value(self, region: str, record: Record, record_id: str) -> str | None:
        """The record's current value; None when it no longer exists."""
        if record.provider == "alidns":
            try:
                body = self.alidns.send(describe_record_request(record_id), region)
            except ApiFailure as exc:
                if exc.code in ("DomainRecordNotBelongToUser", "InvalidRR.NoExist"):
                    return None
                raise
            return str(body.get("Value")) if body.get("Value") is not None else None
        for r in self.find(region, record):
            if str(r.get("RecordId")) == record_id:
                return str(r.get("Value"))
        return None

    def update(self, region: str, record: Record, record_id: str, client_token: str) -> str:
        if record.provider == "privatezone":
            body = self.pvtz.send(update_zone_record_request(record, record_id, client_token), region, write=True)
        else:
            body = self.alidns.send(update_record_request(record, record_id), region, write=True)
        return str(body.get("RequestId", ""))
