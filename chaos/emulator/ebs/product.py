"""ebs on the shared RPC pipeline (``chaos/emulator/rpc.py``): the stages that are ebs's own.

* ``RegionId`` must look like a region id, on every operation.
* A RAM refusal is ``Forbidden.Action``; flow control answers ``Throttling.User`` with the configured status.
* Describes read a site (``Site``, default ``production``), which fault rules can name; writes name none.
* The production view of a describe comes from each record's current source region, so a fault rule on
  such a region other than ``RegionId`` (a region outage) fails the describe too. The backup view is
  served by ``RegionId`` alone, so the DR region answers while the primary is out [INF].
* Writes take a ``ClientToken``: a retry with the same one replays the first answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from chaos.emulator.ebs.backend import CallContext, EbsBackend, Kind
from chaos.emulator.ebs.responses import ApiCall, EbsResponse, check_region
from chaos.emulator.ebs.urls import REQUIRED, VERSION, WRITE_ACTIONS
from chaos.emulator.errors import ApiError
from chaos.emulator.rpc import Handler, RpcContext, RpcProduct

SITE_DESCRIBES = frozenset({"DescribeDiskReplicaPairs", "DescribeDiskReplicaGroups"})


def target(params: Mapping[str, str]) -> str | None:
    return params.get("ReplicaPairId") or params.get("ReplicaGroupId") or params.get("PairId") or params.get("GroupId")


def site(action: str, params: Mapping[str, str]) -> str | None:
    """Only describes name a site (the backend serving them); writes go to the target's own region."""
    return (params.get("Site") or "production") if action.startswith("Describe") else None


def ledger_fields(params: Mapping[str, str]) -> dict[str, Any]:
    return {"clientToken": params.get("ClientToken"), "site": params.get("Site") or None}


def product(backend: EbsBackend) -> RpcProduct:
    def outage_regions(action: str, params: Mapping[str, str], site: str | None) -> Iterator[str]:
        if site != "production" or action not in SITE_DESCRIBES:
            return
        region = params.get("RegionId") or ""
        kind: Kind = "pair" if action == "DescribeDiskReplicaPairs" else "group"
        yield from sorted(backend.serving_regions(kind, region, site) - {region})

    return RpcProduct(
        name="ebs",
        code="Ebs",
        version=VERSION,
        required=REQUIRED,
        throttle_code="Throttling.User",
        host=lambda region: f"ebs.{region}.aliyuncs.com",
        target=target,
        forbidden=lambda: ApiError.of("Forbidden.Action"),
        throttle_status_configured=True,
        check=check_region,
        site=site,
        fault_regions=outage_regions,
        idempotent=WRITE_ACTIONS,
        ledger_fields=ledger_fields,
    )


def handler(responses: EbsResponse) -> Handler:
    """The pipeline's handler: an :class:`ApiCall` carrying the request's ClientToken."""

    def handle(action: str, params: Mapping[str, str], ctx: RpcContext) -> dict[str, Any]:
        call_ctx = CallContext(ctx.request_id, action, params.get("ClientToken"), ctx.access_key_id)
        return responses.dispatch(ApiCall(action, params, call_ctx))

    return handle
