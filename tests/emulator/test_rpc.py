"""chaos.emulator.rpc: the hooks a product declares on the shared pipeline, and recognition by Version.

The hooks are driven through a small made-up product on a real dispatcher (real authenticator, token
store, fault engine and ledger), with requests signed here from the published RPC algorithm.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from chaos.emulator.errors import ApiError
from chaos.emulator.faults import FaultRule
from chaos.emulator.rpc import RpcContext, RpcDispatcher, RpcProduct
from chaos.emulator.shared import Shared
from tests.conftest import DR
from tests.emulator.ecs_fixtures import seed_site

DEMO_VERSION = "2099-01-01"
FAR = "cn-far-1"


def _enc(value: str) -> str:
    return quote(value, safe="~")


def signed(method: str, params: dict[str, str]) -> dict[str, str]:
    """``params`` plus the common RPC parameters and their HMAC-SHA1 signature."""
    full = {
        **params,
        "Format": "JSON",
        "AccessKeyId": DEFAULT_ACCESS_KEY_ID,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(full.items()))
    to_sign = f"{method}&{_enc('/')}&{_enc(canonical)}"
    digest = hmac.new(f"{DEFAULT_ACCESS_KEY_SECRET}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return {**full, "Signature": base64.b64encode(digest).decode()}


class Demo:
    """A product using every hook, and what the pipeline made of it."""

    def __init__(self, emulator: Emulator) -> None:
        self.handled: list[str] = []
        self.far_regions_read = 0
        product = RpcProduct(
            name="demo",
            code="Demo",
            version=DEMO_VERSION,
            required={"Read": ("RegionId",), "Write": ("RegionId", "ThingId")},
            throttle_code="Throttling",
            host=lambda region: f"demo.{region}.example",
            target=lambda params: params.get("ThingId"),
            check=self.check,
            site=lambda action, params: "backup" if action == "Read" else None,
            fault_regions=self.fault_regions,
            idempotent=frozenset({"Write"}),
            ledger_fields=lambda params: {"colour": params.get("Colour")},
        )
        shared = Shared(
            config=emulator.config,
            clock=emulator.clock,
            ledger=emulator.ledger,
            region=DR,
            auth=emulator.auth,
            tokens=emulator.tokens,
            faults=emulator.faults,
            limiter=emulator.limiter,
            jitter=lambda: 0.0,
        )
        self.dispatcher = RpcDispatcher(shared, product, self.handle)
        self.emulator = emulator

    @staticmethod
    def check(action: str, params: Mapping[str, str]) -> None:
        if params["RegionId"] == "nowhere":
            raise ApiError.of("InvalidParameter", "RegionId")

    def fault_regions(self, action: str, params: Mapping[str, str], site: str | None) -> Iterator[str]:
        self.far_regions_read += 1
        if action == "Read":
            yield FAR

    def handle(self, action: str, params: Mapping[str, str], ctx: RpcContext) -> dict[str, Any]:
        self.handled.append(action)
        return {"RequestId": ctx.request_id, "Served": len(self.handled)}

    def call(self, action: str, version: str = DEMO_VERSION, **params: str) -> tuple[int, dict[str, Any]]:
        query = signed("GET", {"Action": action, "Version": version, "RegionId": DR, **params})
        request = Request(EnvironBuilder(method="GET", path="/", query_string=query).get_environ())
        response = self.dispatcher.dispatch(request)
        return response.status_code, json.loads(response.get_data())

    def last_entry(self) -> dict[str, Any]:
        return self.emulator.ledger.snapshot()["requests"][-1]


def test_a_products_own_check_refuses_before_the_handler_and_its_ledger_fields_are_recorded(
    emulator: Emulator,
) -> None:
    demo = Demo(emulator)
    status, body = demo.call("Read", RegionId="nowhere", Colour="red")
    assert (status, body["Code"]) == (400, "InvalidParameter") and demo.handled == []
    assert body["HostId"] == "demo.nowhere.example" and "product=Demo" in body["Recommend"]
    entry = demo.last_entry()
    assert (entry["service"], entry["colour"], entry["code"]) == ("demo", "red", "InvalidParameter")


def test_another_version_of_the_product_is_no_api(emulator: Emulator) -> None:
    demo = Demo(emulator)
    status, body = demo.call("Read", version="2000-01-01")
    assert (status, body["Code"]) == (404, "InvalidApi.NotFound") and demo.handled == []
    assert demo.call("Read")[0] == 200 and demo.handled == ["Read"]


def test_fault_rules_reach_a_request_through_its_site_and_its_other_regions(emulator: Emulator) -> None:
    demo = Demo(emulator)
    now = emulator.clock.now()
    emulator.faults.set([FaultRule(service="demo", region=FAR, site="backup")], now, 0)
    status, body = demo.call("Read")
    assert (status, body["Code"]) == (503, "ServiceUnavailable") and demo.handled == []
    assert demo.last_entry()["fault"] and demo.far_regions_read == 1
    # a write names no site and no other region: the rule does not reach it
    assert demo.call("Write", ThingId="t-1")[0] == 200
    # a rule on RegionId itself fires without the other regions being read
    emulator.faults.set([FaultRule(service="demo", region=DR, error={"code": "Busy", "status": 503})], now, 0)
    reads_before = demo.far_regions_read
    assert demo.call("Read")[1]["Code"] == "Busy" and demo.far_regions_read == reads_before
    # a rule for another product does not reach this one
    emulator.faults.set([FaultRule(service="ecs")], now, 0)
    assert demo.call("Read")[0] == 200


def test_an_idempotent_action_replays_its_first_answer_and_others_do_not(emulator: Emulator) -> None:
    demo = Demo(emulator)
    first = demo.call("Write", ThingId="t-1", ClientToken="tok-1")
    again = demo.call("Write", ThingId="t-1", ClientToken="tok-1")
    assert first == again and first[0] == 200 and demo.handled == ["Write"]
    assert demo.last_entry().get("replayed") is True
    mismatch = demo.call("Write", ThingId="t-2", ClientToken="tok-1")
    assert (mismatch[0], mismatch[1]["Code"]) == (400, "IdempotentParameterMismatch")
    # Read is not idempotent here: the same token twice is handled twice
    demo.call("Read", ClientToken="tok-2")
    demo.call("Read", ClientToken="tok-2")
    assert demo.handled == ["Write", "Read", "Read"] and "replayed" not in demo.last_entry()


def test_an_rpc_product_is_recognised_by_the_version_in_a_form_body(emulator: Emulator, endpoint: str) -> None:
    seed_site(emulator)
    body = signed("POST", {"Action": "DescribeInstances", "Version": "2014-05-26", "RegionId": DR})
    answer = requests.post(
        f"http://{endpoint}/",
        data=urlencode(body, quote_via=quote, safe="~"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert {i["InstanceId"] for i in answer.json()["Instances"]["Instance"]} == {"i-a", "i-b", "i-far"}
    assert emulator.ledger.snapshot()["requests"][-1]["service"] == "ecs"
