"""The Quick start demo: one pair failed over through the real legacy SDK against the emulator."""

from __future__ import annotations

import json
import uuid
from typing import Any

from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from chaos.emulator.ebs.models import FleetSpec
from chaos.emulator.server import running

PRIMARY, DR = "cn-hangzhou", "cn-shanghai"


def run_demo(pairs: int = 6) -> dict[str, Any]:
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkebs.request.v20210730.DescribeDiskReplicaPairsRequest import DescribeDiskReplicaPairsRequest
    from aliyunsdkebs.request.v20210730.FailoverDiskReplicaPairRequest import FailoverDiskReplicaPairRequest

    emulator = Emulator(region=DR)
    emulator.backend.generate(FleetSpec(pairs=pairs, routes=[(PRIMARY, DR)], seed=1, prefix="demo"))
    with running(emulator) as srv:
        client = AcsClient(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DR)

        def describe() -> list[dict[str, Any]]:
            req = DescribeDiskReplicaPairsRequest()
            req.set_endpoint(srv.endpoint)
            req.set_Site("backup")
            req.set_MaxResults(100)
            return list(json.loads(client.do_action_with_exception(req))["ReplicaPairs"])

        target = describe()[0]["ReplicaPairId"]
        req = FailoverDiskReplicaPairRequest()
        req.set_endpoint(srv.endpoint)
        req.set_ReplicaPairId(target)
        req.set_ClientToken(f"demo-{uuid.uuid4().hex}")
        answer = json.loads(client.do_action_with_exception(req))
        emulator.clock.advance(emulator.config().transition_delays.get("failovering", 1.0))
        after = {p["ReplicaPairId"]: p["Status"] for p in describe()}
        ledger = emulator.ledger.snapshot()
    return {
        "ok": after[target] == "failovered" and len(ledger["effects"]) == 1,
        "endpoint": srv.url,
        "failedOver": target,
        "requestId": answer["RequestId"],
        "statuses": after,
        "effects": ledger["effects"],
        "apiCalls": len(ledger["requests"]),
    }
