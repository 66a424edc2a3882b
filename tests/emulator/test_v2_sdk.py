"""The ebs emulator through the V2 Tea SDK (``alibabacloud_ebs20210730``), unmodified.

Every test runs twice: with the SDK's default ACS3-HMAC-SHA256 header signing and with
``signature_algorithm='v2'`` (HMAC-SHA1 query signing). State moves by advancing the emulator
clock, never by sleeping.
"""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_ebs20210730 import models as m
from alibabacloud_ebs20210730.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.utils_models import Config

from chaos.emulator import config as cfg
from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import PairRecord, Tag
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, OTHER, PRIMARY, seed_basic

MODES = ["acs3", "v2"]


def make_client(endpoint: str, mode: str, *, sts: bool = False) -> Client:
    if sts:
        ak, secret = cfg.DEFAULT_STS_ACCESS_KEY_ID, cfg.DEFAULT_STS_ACCESS_KEY_SECRET
        token: str | None = cfg.DEFAULT_STS_SECURITY_TOKEN
    else:
        ak, secret, token = cfg.DEFAULT_ACCESS_KEY_ID, cfg.DEFAULT_ACCESS_KEY_SECRET, None
    config = Config(
        access_key_id=ak, access_key_secret=secret, security_token=token,
        region_id=DR, endpoint=endpoint, protocol="http",
    )  # fmt: skip
    if mode == "v2":
        config.signature_algorithm = "v2"
    return Client(config)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(endpoint: str, mode: str) -> Client:
    return make_client(endpoint, mode)


def pair_ids(body: Any) -> list[str]:
    return [p.replica_pair_id for p in body.replica_pairs]


def seed_numbered(emulator: Emulator, n: int) -> list[str]:
    return emulator.backend.seed_pairs(
        PairRecord(ReplicaPairId=f"pair-{i:02d}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(n)
    )


def last_action(emulator: Emulator) -> dict[str, Any]:
    return emulator.ledger.snapshot()["requests"][-1]


# ------------------------------------------------------------------- describe
def test_describe_pairs_models(emulator: Emulator, client: Client, mode: str) -> None:
    seed_basic(emulator)
    resp = client.describe_disk_replica_pairs(m.DescribeDiskReplicaPairsRequest(region_id=DR, max_results=100))
    assert resp.status_code == 200
    body = resp.body
    assert body.total_count == 6 and body.next_token == "" and body.request_id
    first = body.replica_pairs[0]
    assert first.replica_pair_id == "pair-0"
    assert (first.source_region, first.destination_region, first.status) == (PRIMARY, DR, "normal")
    assert first.primary_region == PRIMARY and first.standby_region == DR and first.rpo == 900
    assert first.site == "production"
    backup = client.describe_disk_replica_pairs(
        m.DescribeDiskReplicaPairsRequest(region_id=DR, site="backup", pair_ids="pair-0,pair-other")
    )
    assert pair_ids(backup.body) == ["pair-0", "pair-other"]
    assert {p.site for p in backup.body.replica_pairs} == {"backup"}
    # the request reached the emulator signed the way this client signs
    assert last_action(emulator)["action"] == "DescribeDiskReplicaPairs"
    assert last_action(emulator)["status"] == 200


def test_describe_groups_models(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    body = client.describe_disk_replica_groups(m.DescribeDiskReplicaGroupsRequest(region_id=DR, site="backup")).body
    (group,) = body.replica_groups
    assert group.replica_group_id == "pg-1" and group.site == "backup"
    assert (group.source_region_id, group.destination_region_id) == (PRIMARY, DR)
    assert list(group.pair_ids) == ["pair-g0", "pair-g1"] and group.pair_number == 2
    none = client.describe_disk_replica_groups(m.DescribeDiskReplicaGroupsRequest(region_id=DR, group_ids="pg-nope"))
    assert none.body.replica_groups == [] and none.body.total_count == 0


def test_pagination_token_mode_to_the_last_and_an_empty_page(emulator: Emulator, client: Client) -> None:
    expected = seed_numbered(emulator, 7)
    seen: list[str] = []
    token: str | None = None
    sizes: list[int] = []
    for _ in range(10):  # bounded
        body = client.describe_disk_replica_pairs(
            m.DescribeDiskReplicaPairsRequest(region_id=DR, max_results=3, next_token=token)
        ).body
        seen += pair_ids(body)
        sizes.append(len(body.replica_pairs))
        token = body.next_token
        if not token:
            break
    assert seen == expected and sizes == [3, 3, 1]
    empty = client.describe_disk_replica_pairs(
        m.DescribeDiskReplicaPairsRequest(region_id="cn-qingdao", max_results=10)
    ).body
    assert empty.replica_pairs == [] and empty.next_token == "" and empty.total_count == 0


def test_pagination_page_mode_to_the_last_and_an_empty_page(emulator: Emulator, client: Client) -> None:
    expected = seed_numbered(emulator, 5)
    pages = [
        client.describe_disk_replica_pairs(
            m.DescribeDiskReplicaPairsRequest(region_id=DR, page_number=n, page_size=2)
        ).body
        for n in (1, 2, 3, 4)
    ]
    assert [len(p.replica_pairs) for p in pages] == [2, 2, 1, 0]
    assert [pid for p in pages for pid in pair_ids(p)] == expected
    assert all(p.total_count == 5 and p.page_size == 2 for p in pages)
    assert [p.page_number for p in pages] == [1, 2, 3, 4]


def test_group_pagination_both_modes(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    first = client.describe_disk_replica_groups(m.DescribeDiskReplicaGroupsRequest(region_id=DR, max_results=1)).body
    assert [g.replica_group_id for g in first.replica_groups] == ["pg-1"] and first.next_token == ""
    page2 = client.describe_disk_replica_groups(
        m.DescribeDiskReplicaGroupsRequest(region_id=DR, page_number=2, page_size=1)
    ).body
    assert page2.replica_groups == [] and page2.total_count == 1


def test_tag_filter_with_tag_models(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    emulator.backend.seed_pairs(
        [PairRecord(ReplicaPairId="pair-tagged", PairName="db-main", SourceRegion=PRIMARY, DestinationRegion=DR,
                    Tags=[Tag(TagKey="app", TagValue="db"), Tag(TagKey="tier", TagValue="gold")])]
    )  # fmt: skip

    def ids(*tags: tuple[str, str | None]) -> list[str]:
        req = m.DescribeDiskReplicaPairsRequest(
            region_id=DR, max_results=100,
            tag=[m.DescribeDiskReplicaPairsRequestTag(key=k, value=v) for k, v in tags],
        )  # fmt: skip
        return pair_ids(client.describe_disk_replica_pairs(req).body)

    assert ids(("app", "db")) == ["pair-tagged"]
    assert ids(("app", "db"), ("tier", "gold")) == ["pair-tagged"]
    assert ids(("app", "db"), ("tier", "silver")) == []
    assert ids(("tier", None)) == ["pair-tagged"]  # key only: any value
    (tagged,) = client.describe_disk_replica_pairs(
        m.DescribeDiskReplicaPairsRequest(region_id=DR, pair_ids="pair-tagged")
    ).body.replica_pairs
    assert {(t.tag_key, t.tag_value) for t in tagged.tags} == {("app", "db"), ("tier", "gold")}
    params = emulator.ledger.snapshot()["requests"][0]["params"]
    assert params["Tag.1.Key"] == "app" and params["Tag.1.Value"] == "db"


# --------------------------------------------------------------------- writes
def status(emulator: Emulator, pid: str) -> str:
    return emulator.backend.pairs[pid].Status


def test_pair_write_operations(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    r = client.failover_disk_replica_pair(
        m.FailoverDiskReplicaPairRequest(region_id=DR, replica_pair_id="pair-0", client_token="f-0")
    )
    assert r.status_code == 200 and r.body.request_id
    assert status(emulator, "pair-0") == "failovering"
    emulator.advance(1)
    assert status(emulator, "pair-0") == "failovered"
    client.reprotect_disk_replica_pair(
        m.ReprotectDiskReplicaPairRequest(region_id=DR, replica_pair_id="pair-0", reverse_replicate=True)
    )
    assert status(emulator, "pair-0") == "reprotecting"
    emulator.advance(1)
    pair = emulator.backend.pairs["pair-0"]
    assert pair.Status == "stopped" and (pair.SourceRegion, pair.DestinationRegion) == (DR, PRIMARY)
    # after the swap the secondary region is PRIMARY; start/stop work from either region
    client.start_disk_replica_pair(m.StartDiskReplicaPairRequest(region_id=DR, replica_pair_id="pair-0"))
    assert status(emulator, "pair-0") == "syncing"
    emulator.advance(5)
    assert status(emulator, "pair-0") == "normal"
    client.stop_disk_replica_pair(m.StopDiskReplicaPairRequest(region_id=PRIMARY, replica_pair_id="pair-0"))
    emulator.advance(1)
    assert status(emulator, "pair-0") == "stopped"
    effects = emulator.ledger.snapshot()["effects"]
    assert [e["action"] for e in effects] == [
        "FailoverDiskReplicaPair", "ReprotectDiskReplicaPair", "StartDiskReplicaPair", "StopDiskReplicaPair",
    ]  # fmt: skip
    assert effects[0]["clientToken"] == "f-0"


def test_group_write_operations(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    group = emulator.backend.groups["pg-1"]
    client.stop_disk_replica_group(m.StopDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1"))
    emulator.advance(1)
    assert group.Status == "stopped"
    client.start_disk_replica_group(
        m.StartDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1", one_shot=True)
    )
    assert group.Status == "manual_syncing"
    emulator.advance(2)
    assert group.Status == "stopped"
    client.failover_disk_replica_group(
        m.FailoverDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1", client_token="g-1")
    )
    emulator.advance(1)
    assert group.Status == "failovered"
    assert {status(emulator, p) for p in ("pair-g0", "pair-g1")} == {"failovered"}
    client.reprotect_disk_replica_group(
        m.ReprotectDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1", reverse_replicate=False)
    )
    emulator.advance(1)
    assert group.Status == "stopped" and group.SourceRegionId == PRIMARY  # no reverse: direction kept
    effects = emulator.ledger.snapshot()["effects"]
    assert [e["action"] for e in effects] == [
        "StopDiskReplicaGroup", "StartDiskReplicaGroup", "FailoverDiskReplicaGroup", "ReprotectDiskReplicaGroup",
    ]  # fmt: skip
    assert all(e["pairIds"] == ["pair-g0", "pair-g1"] for e in effects)


# --------------------------------------------------------------------- errors
def test_invalid_status_maps_to_client_exception(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    with pytest.raises(ClientException) as exc:
        client.reprotect_disk_replica_pair(m.ReprotectDiskReplicaPairRequest(region_id=DR, replica_pair_id="pair-0"))
    err = exc.value
    assert (err.code, err.status_code) == ("OperationDenied.InvalidStatus", 403)
    assert "The operation is not allowed in current status." in err.message
    assert err.request_id == last_action(emulator)["requestId"]
    assert emulator.ledger.snapshot()["effects"] == []


@pytest.mark.parametrize(
    ("request_", "code", "status_code"),
    [
        (m.FailoverDiskReplicaPairRequest(region_id=DR, replica_pair_id="pair-nope"), "NoSuchResource", 404),
        (m.FailoverDiskReplicaPairRequest(region_id=PRIMARY, replica_pair_id="pair-0"),
         "OperationDenied.OperateNotAllowedForPrimary", 403),
        (m.FailoverDiskReplicaPairRequest(region_id=DR), "MissingParameter", 400),
        (m.FailoverDiskReplicaPairRequest(region_id=DR, replica_pair_id="pair-0", client_token="x" * 65),
         "InvalidParameter", 400),
    ],
)  # fmt: skip
def test_error_mapping(
    emulator: Emulator, client: Client, request_: m.FailoverDiskReplicaPairRequest, code: str, status_code: int
) -> None:
    seed_basic(emulator)
    with pytest.raises(ClientException) as exc:
        client.failover_disk_replica_pair(request_)
    assert (exc.value.code, exc.value.status_code) == (code, status_code)


def test_describe_invalid_parameter(client: Client) -> None:
    with pytest.raises(ClientException) as exc:
        client.describe_disk_replica_pairs(m.DescribeDiskReplicaPairsRequest(region_id=DR, max_results=501))
    assert (exc.value.code, exc.value.status_code) == ("InvalidParameter", 400)
    assert "MaxResults" in exc.value.message


def test_phase_after_504_is_a_lost_acknowledgement(emulator: Emulator, client: Client) -> None:
    """The acceptance case through V2: ServerException RequestTimeout, one effect, the retry adds none."""
    seed_basic(emulator)
    emulator.faults.set(
        [FaultRule(action="FailoverDiskReplicaPair", count=1, phase="after",
                   error=FaultError(status=504, code="RequestTimeout"))],
        emulator.clock.now(), emulator.config().seed,
    )  # fmt: skip
    request = m.FailoverDiskReplicaPairRequest(region_id=DR, replica_pair_id="pair-0", client_token="lost-ack")
    with pytest.raises(ServerException) as exc:
        client.failover_disk_replica_pair(request)
    assert (exc.value.code, exc.value.status_code) == ("RequestTimeout", 504)
    emulator.advance(1)
    assert status(emulator, "pair-0") == "failovered"
    assert len(emulator.ledger.snapshot()["effects"]) == 1
    retry = client.failover_disk_replica_pair(request)
    ledger = emulator.ledger.snapshot()
    assert len(ledger["effects"]) == 1
    assert ledger["requests"][-1]["replayed"] is True
    assert retry.body.request_id == ledger["effects"][0]["requestId"]
    assert status(emulator, "pair-0") == "failovered"


# ------------------------------------------------------------------------ STS
def test_sts_credentials(emulator: Emulator, endpoint: str, mode: str) -> None:
    seed_basic(emulator)
    sts = make_client(endpoint, mode, sts=True)
    body = sts.describe_disk_replica_pairs(m.DescribeDiskReplicaPairsRequest(region_id=OTHER)).body
    assert pair_ids(body) == ["pair-other"]
    sts.failover_disk_replica_pair(
        m.FailoverDiskReplicaPairRequest(region_id=DR, replica_pair_id="pair-1", client_token="sts-1")
    )
    requests_ = emulator.ledger.snapshot()["requests"]
    assert {r["accessKeyId"] for r in requests_} == {cfg.DEFAULT_STS_ACCESS_KEY_ID}
    assert all("SecurityToken" not in r["params"] for r in requests_)  # never logged
    (effect,) = emulator.ledger.snapshot()["effects"]
    assert effect["accessKeyId"] == cfg.DEFAULT_STS_ACCESS_KEY_ID
