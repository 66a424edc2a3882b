"""The ebs emulator through the official legacy SDK: operations, pagination, states, errors, tokens."""

from __future__ import annotations

import json

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException

from chaos.emulator.app import Emulator
from chaos.emulator.config import Credential, RateLimit
from chaos.emulator.ebs.models import GroupRecord, PairRecord, Tag
from tests.conftest import DR, OTHER, PRIMARY, EbsCall, seed_basic

PAIR_FIELDS = {
    "ReplicaPairId",
    "PairName",
    "Description",
    "SourceRegion",
    "SourceZoneId",
    "SourceDiskId",
    "DestinationRegion",
    "DestinationZoneId",
    "DestinationDiskId",
    "PrimaryRegion",
    "PrimaryZone",
    "StandbyRegion",
    "StandbyZone",
    "Status",
    "StatusMessage",
    "Site",
    "RPO",
    "Bandwidth",
    "LastRecoverPoint",
    "CreateTime",
    "ExpiredTime",
    "ReplicaGroupId",
    "ReplicaGroupName",
    "ChargeType",
    "EnableRtc",
    "ResourceGroupId",
    "Tags",
}
GROUP_FIELDS = {
    "ReplicaGroupId",
    "GroupName",
    "Description",
    "SourceRegionId",
    "SourceZoneId",
    "DestinationRegionId",
    "DestinationZoneId",
    "PrimaryRegion",
    "PrimaryZone",
    "StandbyRegion",
    "StandbyZone",
    "Status",
    "RPO",
    "LastRecoverPoint",
    "Site",
    "PairIds",
    "PairNumber",
    "Bandwidth",
    "EnableRtc",
    "ResourceGroupId",
    "Tags",
}


def server_error(excinfo: pytest.ExceptionInfo[ServerException]) -> tuple[int, str, str]:
    e = excinfo.value
    return e.get_http_status(), e.get_error_code(), e.get_error_msg()


# ------------------------------------------------------------------- describe
def test_describe_pairs_fields_and_region_match(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    body = ebs("DescribeDiskReplicaPairs", MaxResults=100)
    assert set(body) == {"RequestId", "NextToken", "PageNumber", "PageSize", "TotalCount", "ReplicaPairs"}
    ids = [p["ReplicaPairId"] for p in body["ReplicaPairs"]]
    assert ids == sorted(ids) and len(ids) == 6  # every pair touches DR
    for pair in body["ReplicaPairs"]:
        assert set(pair) == PAIR_FIELDS
        assert pair["Site"] == "production"
    # the primary's region sees its own pairs only
    assert ebs("DescribeDiskReplicaPairs", RegionId=OTHER)["TotalCount"] == 1
    backup = ebs("DescribeDiskReplicaPairs", Site="backup", MaxResults=100)
    assert {p["Site"] for p in backup["ReplicaPairs"]} == {"backup"}


def test_describe_groups_fields(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    body = ebs("DescribeDiskReplicaGroups", Site="backup")
    (group,) = body["ReplicaGroups"]
    assert set(group) == GROUP_FIELDS
    assert group["SourceRegionId"] == PRIMARY and group["DestinationRegionId"] == DR
    assert group["PairIds"] == ["pair-g0", "pair-g1"] and group["PairNumber"] == 2
    assert ebs("DescribeDiskReplicaGroups", GroupIds="pg-nope")["ReplicaGroups"] == []


def test_describe_filters(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    emulator.backend.seed_pairs(
        [
            PairRecord(
                ReplicaPairId="pair-tagged",
                PairName="db-main",
                SourceRegion=PRIMARY,
                DestinationRegion=DR,
                ResourceGroupId="rg-x",
                Tags=[Tag(TagKey="app", TagValue="db")],
            )
        ]
    )

    def ids(**kw: object) -> list[str]:
        return [p["ReplicaPairId"] for p in ebs("DescribeDiskReplicaPairs", MaxResults=100, **kw)["ReplicaPairs"]]

    assert ids(PairIds="pair-0,pair-2") == ["pair-0", "pair-2"]
    assert ids(ReplicaGroupId="pg-1") == ["pair-g0", "pair-g1"]
    assert "pair-g0" not in ids(ReplicaGroupId="-") and "pair-0" in ids(ReplicaGroupId="-")
    assert ids(**{"Tag.1.Key": "app", "Tag.1.Value": "db"}) == ["pair-tagged"]
    assert ids(**{"Tag.1.Key": "app", "Tag.1.Value": "web"}) == []
    assert ids(Name="DB-M") == ["pair-tagged"]
    assert ids(ResourceGroupId="rg-x") == ["pair-tagged"]


def test_pagination_token_mode_to_the_last_and_empty_page(emulator: Emulator, ebs: EbsCall) -> None:
    emulator.backend.seed_pairs(
        PairRecord(ReplicaPairId=f"pair-{i:02d}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(5)
    )
    seen: list[str] = []
    token = ""
    for _ in range(10):  # bounded
        kw = {"MaxResults": 2, **({"NextToken": token} if token else {})}
        body = ebs("DescribeDiskReplicaPairs", **kw)
        seen += [p["ReplicaPairId"] for p in body["ReplicaPairs"]]
        token = body["NextToken"]
        if not token:
            break
    assert seen == [f"pair-{i:02d}" for i in range(5)]
    assert body["ReplicaPairs"] and len(body["ReplicaPairs"]) == 1  # the last page is partial, NextToken ""
    empty = ebs("DescribeDiskReplicaPairs", RegionId="cn-qingdao", MaxResults=10)
    assert empty["ReplicaPairs"] == [] and empty["NextToken"] == "" and empty["TotalCount"] == 0


def test_pagination_page_mode(emulator: Emulator, ebs: EbsCall) -> None:
    emulator.backend.seed_pairs(
        PairRecord(ReplicaPairId=f"pair-{i:02d}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(5)
    )
    pages = [ebs("DescribeDiskReplicaPairs", PageNumber=n, PageSize=2) for n in (1, 2, 3, 4)]
    assert [len(p["ReplicaPairs"]) for p in pages] == [2, 2, 1, 0]
    assert all(p["TotalCount"] == 5 and p["PageSize"] == 2 for p in pages)
    assert [p["PageNumber"] for p in pages] == [1, 2, 3, 4]
    # NextToken wins over page mode, as documented
    first = ebs("DescribeDiskReplicaPairs", MaxResults=2)
    after = ebs("DescribeDiskReplicaPairs", NextToken=first["NextToken"], PageNumber=1, PageSize=1)
    assert [p["ReplicaPairId"] for p in after["ReplicaPairs"]] == ["pair-02", "pair-03", "pair-04"][
        : len(after["ReplicaPairs"])
    ]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"MaxResults": 501}, "MaxResults"),
        ({"MaxResults": 0}, "MaxResults"),
        ({"PageSize": 101}, "PageSize"),
        ({"NextToken": "%%%"}, "NextToken"),
        ({"Site": "nowhere"}, "Site"),
        ({"MaxResults": "ten"}, "MaxResults"),
    ],
)
def test_describe_invalid_parameters(ebs: EbsCall, params: dict[str, object], name: str) -> None:
    with pytest.raises(ServerException) as exc:
        ebs("DescribeDiskReplicaPairs", **params)
    assert server_error(exc) == (400, "InvalidParameter", f"The parameter {name} is invalid.")


# ---------------------------------------------------------------- operations
def test_failover_pair_lifecycle(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="t-1")
    assert emulator.backend.pairs["pair-0"].Status == "failovering"
    emulator.advance(1.0)
    pair = ebs("DescribeDiskReplicaPairs", PairIds="pair-0")["ReplicaPairs"][0]
    assert pair["Status"] == "failovered"
    (effect,) = emulator.ledger.snapshot()["effects"]
    assert effect["targetId"] == "pair-0" and effect["from"] == "normal" and effect["clientToken"] == "t-1"


def test_reprotect_start_stop_pair(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    with pytest.raises(ServerException) as exc:  # only from failovered
        ebs("ReprotectDiskReplicaPair", ReplicaPairId="pair-0")
    assert server_error(exc)[1] == "OperationDenied.InvalidStatus"
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0")
    emulator.advance(5)
    ebs("ReprotectDiskReplicaPair", ReplicaPairId="pair-0", ReverseReplicate="true")
    emulator.advance(5)
    p = emulator.backend.pairs["pair-0"]
    assert (p.Status, p.SourceRegion, p.DestinationRegion) == ("stopped", DR, PRIMARY)
    assert (p.PrimaryRegion, p.StandbyRegion) == (PRIMARY, DR)  # the initial direction stays
    ebs("StartDiskReplicaPair", ReplicaPairId="pair-0")
    assert p.Status == "syncing"
    emulator.advance(10)
    assert ebs("DescribeDiskReplicaPairs", PairIds="pair-0")["ReplicaPairs"][0]["Status"] == "normal"
    ebs("StopDiskReplicaPair", ReplicaPairId="pair-0")
    emulator.advance(5)
    assert p.Status == "stopped"
    ebs("StartDiskReplicaPair", ReplicaPairId="pair-0", OneShot="true")
    assert p.Status == "manual_syncing"
    emulator.advance(5)
    assert p.Status == "stopped"
    with pytest.raises(ServerException) as exc:  # two one-shots within RPO/2
        ebs("StartDiskReplicaPair", ReplicaPairId="pair-0", OneShot="true")
    assert server_error(exc) == (
        403,
        "OperationDenied.ManualSyncLimit",
        "One shot start manual syncing too frequently, please try again later.",
    )
    assert [e["action"] for e in emulator.ledger.snapshot()["effects"]] == [
        "FailoverDiskReplicaPair",
        "ReprotectDiskReplicaPair",
        "StartDiskReplicaPair",
        "StopDiskReplicaPair",
        "StartDiskReplicaPair",
    ]


def test_group_operations_move_members_as_a_unit(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    ebs("FailoverDiskReplicaGroup", ReplicaGroupId="pg-1", ClientToken="g-1")
    statuses = {pid: emulator.backend.pairs[pid].Status for pid in ("pair-g0", "pair-g1")}
    assert statuses == {"pair-g0": "failovering", "pair-g1": "failovering"}
    emulator.advance(1)
    groups = ebs("DescribeDiskReplicaGroups")["ReplicaGroups"]
    assert groups[0]["Status"] == "failovered"
    members = ebs("DescribeDiskReplicaPairs", ReplicaGroupId="pg-1")["ReplicaPairs"]
    assert {m["Status"] for m in members} == {"failovered"}
    effects = emulator.ledger.snapshot()["effects"]
    assert len(effects) == 1 and effects[0]["pairIds"] == ["pair-g0", "pair-g1"]
    ebs("ReprotectDiskReplicaGroup", ReplicaGroupId="pg-1")
    emulator.advance(5)
    g = emulator.backend.groups["pg-1"]
    assert (g.Status, g.SourceRegionId) == ("stopped", DR)
    # after the reversal the group's DR side is the old primary: Start/Stop work from either region
    ebs("StartDiskReplicaGroup", ReplicaGroupId="pg-1", RegionId=PRIMARY)
    emulator.advance(10)
    ebs("StopDiskReplicaGroup", ReplicaGroupId="pg-1")
    emulator.advance(5)
    assert g.Status == "stopped" and {emulator.backend.pairs[p].Status for p in g.PairIds} == {"stopped"}


def test_group_errors(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    emulator.backend.seed_groups(
        [GroupRecord(ReplicaGroupId="pg-empty", SourceRegionId=PRIMARY, DestinationRegionId=DR)]
    )
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaGroup", ReplicaGroupId="pg-empty")
    assert server_error(exc) == (
        403,
        "OperationDenied.NoPairInGroup",
        "The operation is not allowed because no pair in the group.",
    )
    emulator.backend.flip("pair", "pair-g1", "invalid")
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaGroup", ReplicaGroupId="pg-1")
    assert server_error(exc)[1] == "OperationDenied.PairGroupStatusConflict"
    emulator.backend.flip("group", "pg-1", "created")
    with pytest.raises(ServerException) as exc:  # the first full sync must be done
        ebs("FailoverDiskReplicaGroup", ReplicaGroupId="pg-1")
    assert server_error(exc)[1] == "OperationDenied.InvalidStatus"
    assert emulator.ledger.snapshot()["effects"] == []


def test_region_rules(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", RegionId=PRIMARY, ReplicaPairId="pair-0")
    assert server_error(exc) == (
        403,
        "OperationDenied.OperateNotAllowedForPrimary",
        "Operation is not allowed on the primary site.",
    )
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaGroup", RegionId=PRIMARY, ReplicaGroupId="pg-1")
    assert server_error(exc)[1] == "OperationDenied.OperateNotAllowedForPrimary"
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", RegionId="cn-qingdao", ReplicaPairId="pair-0")
    assert server_error(exc) == (404, "NoSuchResource", "The specified resource does not exist.")
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-missing")
    assert server_error(exc)[1] == "NoSuchResource"
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", RegionId="CN SHANGHAI", ReplicaPairId="pair-0")
    assert server_error(exc)[:2] == (400, "InvalidParameter")
    ebs("StopDiskReplicaPair", RegionId=PRIMARY, ReplicaPairId="pair-0")  # either side may stop


def test_default_and_strict_mode_for_repeat_failover(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="a")
    # default: the doc lets a pair fail over from any state but invalid/deleted -> a second effect
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="b")
    assert len(emulator.ledger.snapshot()["effects"]) == 2
    emulator.update_config({"strict": True})
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="c")
    assert server_error(exc) == (
        403,
        "OperationDenied.InvalidStatus",
        "The operation is not allowed in current status.",
    )
    emulator.backend.flip("pair", "pair-1", "invalid")
    emulator.update_config({"strict": False})
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-1")
    assert server_error(exc)[1] == "OperationDenied.InvalidStatus"
    assert len(emulator.ledger.snapshot()["effects"]) == 2


# --------------------------------------------------------------------- errors
def test_missing_parameter_message(ebs: EbsCall) -> None:
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair")
    assert server_error(exc) == (
        400,
        "MissingParameter",
        'The input parameter "ReplicaPairId" that is mandatory for processing this request is not supplied.',
    )


def test_unknown_action_and_error_body_shape(emulator: Emulator, endpoint: str) -> None:
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest

    from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

    client = AcsClient(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DR)
    req = CommonRequest(domain=endpoint, version="2021-07-30", action_name="DeleteEverything")
    req.set_method("POST")
    with pytest.raises(ServerException) as exc:
        client.do_action_with_exception(req)
    assert server_error(exc) == (
        404,
        "InvalidApi.NotFound",
        "Specified api is not found, please check your url and method.",
    )
    raw = requests.post(f"http://{endpoint}/?Action=DescribeDiskReplicaPairs&Version=2021-07-30", timeout=5)
    assert raw.headers["Content-Type"] == "application/json;charset=utf-8"
    body = raw.json()
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["HostId"] == "ebs.cn-shanghai.aliyuncs.com" and body["Code"] in body["Recommend"]


def test_forbidden_action_for_a_restricted_key(emulator: Emulator, endpoint: str) -> None:
    from aliyunsdkcore.client import AcsClient

    from tests.conftest import legacy_call

    emulator.update_config(
        {
            "credentials": [
                *[c.model_dump(by_alias=True) for c in emulator.config().credentials],
                Credential(
                    access_key_id="LTAIreadonly",
                    access_key_secret="ro-secret",
                    allowed_actions=["ebs:DescribeDiskReplicaPairs"],
                ).model_dump(by_alias=True),
            ]
        }
    )
    seed_basic(emulator)
    ro = AcsClient("LTAIreadonly", "ro-secret", DR)
    assert legacy_call(ro, endpoint, "DescribeDiskReplicaPairs", RegionId=DR)["TotalCount"] == 6
    with pytest.raises(ServerException) as exc:
        legacy_call(ro, endpoint, "FailoverDiskReplicaPair", RegionId=DR, ReplicaPairId="pair-0")
    assert server_error(exc) == (403, "Forbidden.Action", "User is not authorized to operate this action.")
    assert emulator.ledger.snapshot()["effects"] == []


def test_rate_limit_throttles_per_action(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    emulator.update_config(
        {"rateLimits": [RateLimit(action="DescribeDiskReplicaPairs", rate=0.001, burst=2).model_dump(by_alias=True)]}
    )
    ebs("DescribeDiskReplicaPairs")
    ebs("DescribeDiskReplicaPairs")
    with pytest.raises(ServerException) as exc:
        ebs("DescribeDiskReplicaPairs")
    assert server_error(exc) == (400, "Throttling.User", "Request was denied due to user flow control.")
    ebs("DescribeDiskReplicaGroups")  # another action has its own bucket
    codes = [r["code"] for r in emulator.ledger.snapshot()["requests"]]
    assert codes == [None, None, "Throttling.User", None]


# ---------------------------------------------------------------- ClientToken
def test_token_replay_returns_original_result_without_effect(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    first = ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="tok")
    again = ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="tok")
    assert again == first
    ledger = emulator.ledger.snapshot()
    assert len(ledger["effects"]) == 1
    assert [r.get("replayed", False) for r in ledger["requests"]] == [False, True]
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-1", ClientToken="tok")
    assert server_error(exc) == (
        400,
        "IdempotentParameterMismatch",
        "The specified parameter has changed while using an already used clientToken.",
    )
    # the window runs on the emulator clock: after it the token is new again (and re-executes)
    emulator.advance(emulator.config().token_window_seconds + 1)
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="tok")
    assert len(emulator.ledger.snapshot()["effects"]) == 2


def test_failed_call_does_not_bind_its_token(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    emulator.backend.flip("pair", "pair-0", "invalid")
    with pytest.raises(ServerException):
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="tok")
    emulator.backend.flip("pair", "pair-0", "normal")
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="tok")
    assert len(emulator.ledger.snapshot()["effects"]) == 1


@pytest.mark.parametrize("token", ["x" * 65, "tøken"])
def test_token_validation(emulator: Emulator, ebs: EbsCall, token: str) -> None:
    seed_basic(emulator)
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken=token)
    assert server_error(exc) == (400, "InvalidParameter", "The parameter ClientToken is invalid.")
    assert emulator.ledger.snapshot()["effects"] == []


def test_same_token_in_flight_is_last_token_processing(emulator: Emulator, ebs: EbsCall) -> None:
    import threading

    seed_basic(emulator)
    emulator.update_config({"latencyMs": 400})  # the first call holds its token this long
    first: dict[str, object] = {}
    t = threading.Thread(
        target=lambda: first.update(ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="slow"))
    )
    t.start()
    assert emulator.ledger.wait_for_requests(0, 1)
    # wait until the first request is inside the emulator (its token claimed), not by sleeping
    for _ in range(200):
        if len(emulator.tokens):
            break
        emulator.ledger.wait_for_requests(10**9, 0.005)
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="slow")
    t.join(10)
    assert server_error(exc) == (403, "LastTokenProcessing", "The last token request is processing.")
    assert "RequestId" in first and len(emulator.ledger.snapshot()["effects"]) == 1


def test_raw_form_body_request_is_accepted(emulator: Emulator, endpoint: str) -> None:
    """Parameters may come in a form body; an unsigned one is refused without a crash."""
    resp = requests.post(
        f"http://{endpoint}/",
        data={"Action": "DescribeDiskReplicaPairs", "Version": "2021-07-30", "RegionId": DR},
        timeout=5,
    )
    assert resp.status_code in (400, 404) and resp.json()["Code"]
    assert json.loads(resp.text)["RequestId"]
