"""Shared fixtures: an emulator served on 127.0.0.1 by pytest-localserver, and real SDK clients."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aliyunsdkcore.client import AcsClient
from pytest_localserver.http import WSGIServer

from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from chaos.emulator.ebs.models import GroupRecord, PairRecord

PRIMARY, DR, OTHER = "cn-hangzhou", "cn-shanghai", "cn-beijing"

EbsCall = Callable[..., dict[str, Any]]


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(region=DR)


@pytest.fixture
def server(emulator: Emulator) -> Iterator[WSGIServer]:
    srv = WSGIServer(host="127.0.0.1", port=0, application=emulator, threaded=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        srv.join(timeout=10)
        emulator.fc.shutdown()


@pytest.fixture
def endpoint(server: WSGIServer) -> str:
    host, port = server.server_address[:2]
    return f"{host}:{port}"


def legacy_call(client: AcsClient, endpoint: str, action: str, **params: Any) -> dict[str, Any]:
    """Call ``action`` with the legacy SDK's own request class (aliyunsdkebs), unmodified."""
    module = importlib.import_module(f"aliyunsdkebs.request.v20210730.{action}Request")
    request = getattr(module, f"{action}Request")()
    request.set_endpoint(endpoint)
    for key, value in params.items():
        request.add_query_param(key, value if isinstance(value, str) else json.dumps(value))
    return dict(json.loads(client.do_action_with_exception(request)))


@pytest.fixture
def legacy_client() -> AcsClient:
    return AcsClient(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DR, timeout=10, connect_timeout=5)


@pytest.fixture
def ebs(legacy_client: AcsClient, endpoint: str) -> EbsCall:
    def call(action: str, **params: Any) -> dict[str, Any]:
        params.setdefault("RegionId", DR)
        return legacy_call(legacy_client, endpoint, action, **params)

    return call


def seed_basic(emulator: Emulator, n_pairs: int = 3, with_group: bool = True) -> None:
    """n loose pairs PRIMARY->DR, one OTHER->DR, and a group of two PRIMARY->DR."""
    pairs = [PairRecord(ReplicaPairId=f"pair-{i}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(n_pairs)]
    pairs.append(PairRecord(ReplicaPairId="pair-other", SourceRegion=OTHER, DestinationRegion=DR))
    emulator.backend.seed_pairs(pairs)
    if with_group:
        emulator.backend.seed_pairs(
            PairRecord(ReplicaPairId=f"pair-g{i}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(2)
        )
        emulator.backend.seed_groups(
            [
                GroupRecord(
                    ReplicaGroupId="pg-1",
                    SourceRegionId=PRIMARY,
                    DestinationRegionId=DR,
                    PairIds=["pair-g0", "pair-g1"],
                )
            ]
        )
