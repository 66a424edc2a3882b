"""Helpers for the ECS and alidns tests: official request classes sent with the real AcsClient."""

from __future__ import annotations

import json
from typing import Any

from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import AcsRequest, CommonRequest

from chaos.emulator.app import Emulator
from chaos.emulator.ecs.models import DiskRecord, EcsTag, InstanceRecord
from tests.conftest import DR

ZONE, OTHER_ZONE = f"{DR}-b", f"{DR}-g"


def send(client: AcsClient, endpoint: str, request: AcsRequest) -> dict[str, Any]:
    request.set_endpoint(endpoint)
    return dict(json.loads(client.do_action_with_exception(request)))


def error_of(client: AcsClient, endpoint: str, request: AcsRequest) -> tuple[int, str]:
    """(HTTP status, code) of a call that must fail."""
    try:
        send(client, endpoint, request)
    except ServerException as exc:
        return exc.get_http_status(), exc.get_error_code()
    raise AssertionError("the call succeeded")


def dns_request(action: str, **params: str) -> CommonRequest:
    req = CommonRequest(domain="alidns.aliyuncs.com", version="2015-01-09", action_name=action)
    req.set_method("POST")
    for key, value in params.items():
        req.add_query_param(key, value)
    return req


def seed_site(emulator: Emulator) -> None:
    """Two stopped standby instances in ZONE, one in OTHER_ZONE; a free disk and a system disk."""
    tag = EcsTag(TagKey="replica-failover:standby-for", TagValue="pair-0")
    emulator.ecs.seed_instances(
        [
            InstanceRecord(InstanceId="i-a", RegionId=DR, ZoneId=ZONE, Tags=[tag]),
            InstanceRecord(InstanceId="i-b", RegionId=DR, ZoneId=ZONE),
            InstanceRecord(InstanceId="i-far", RegionId=DR, ZoneId=OTHER_ZONE, Status="Running"),
        ]
    )
    emulator.ecs.seed_disks(
        [
            DiskRecord(DiskId="d-free", RegionId=DR, ZoneId=ZONE),
            DiskRecord(DiskId="d-sys", RegionId=DR, ZoneId=ZONE, Type="system", InstanceId="i-b", Device="/dev/xvda"),
        ]
    )
