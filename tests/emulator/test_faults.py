"""Fault primitives, the lost-acknowledgement case, concurrency and the control plane."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from chaos.emulator.ebs.models import PairRecord
from chaos.emulator.errors import CATALOG
from chaos.emulator.faults import FaultEngine, FaultError, FaultRule
from tests.conftest import DR, PRIMARY, EbsCall, legacy_call, seed_basic


def set_faults(emulator: Emulator, *rules: FaultRule) -> None:
    emulator.faults.set(list(rules), emulator.clock.now(), emulator.config().seed)


def test_phase_after_504_is_a_lost_acknowledgement(emulator: Emulator, ebs: EbsCall) -> None:
    """The acceptance case: the SDK sees RequestTimeout, the pair fails over once, a retry adds nothing."""
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(
            action="FailoverDiskReplicaPair",
            count=1,
            phase="after",
            error=FaultError(status=504, code="RequestTimeout"),
        ),
    )
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="lost-ack")
    assert (exc.value.get_http_status(), exc.value.get_error_code()) == (504, "RequestTimeout")
    emulator.advance(1)
    assert emulator.backend.pairs["pair-0"].Status == "failovered"
    assert len(emulator.ledger.snapshot()["effects"]) == 1
    retry = ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="lost-ack")
    ledger = emulator.ledger.snapshot()
    assert len(ledger["effects"]) == 1 and ledger["requests"][-1]["replayed"] is True
    assert retry["RequestId"] == ledger["effects"][0]["requestId"]
    assert ledger["requests"][0]["fault"] == "rule-1" and ledger["requests"][0]["code"] == "RequestTimeout"


def test_phase_before_error_changes_nothing(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(action="FailoverDiskReplicaPair", count=2, error=FaultError(status=500, code="InternalError")),
    )
    for _ in range(2):
        with pytest.raises(ServerException) as exc:
            ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="t")
        assert exc.value.get_error_code() == "InternalError"
        assert exc.value.get_error_msg() == CATALOG["InternalError"][1]
    assert emulator.ledger.snapshot()["effects"] == []
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="t")  # count spent: passes
    assert len(emulator.ledger.snapshot()["effects"]) == 1
    assert emulator.faults.rules()[0]["fired"] == 2


@pytest.mark.parametrize("code", sorted(c for c in CATALOG if "%s" not in CATALOG[c][1]))
def test_every_catalogue_error_reaches_the_sdk_verbatim(emulator: Emulator, ebs: EbsCall, code: str) -> None:
    status, message = CATALOG[code]
    set_faults(emulator, FaultRule(error=FaultError(status=status, code=code)))
    with pytest.raises(ServerException) as exc:
        ebs("DescribeDiskReplicaGroups")
    assert (exc.value.get_http_status(), exc.value.get_error_code(), exc.value.get_error_msg()) == (
        status,
        code,
        message,
    )


def test_matchers_region_site_target_and_after(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(action="DescribeDiskReplicaPairs", site="production", region=DR),  # primary backend down
        FaultRule(
            action="FailoverDiskReplicaPair",
            target="pair-1",
            after=1,
            error=FaultError(status=403, code="OperationDenied.InvalidStatus"),
        ),
    )
    with pytest.raises(ServerException):
        ebs("DescribeDiskReplicaPairs")
    assert ebs("DescribeDiskReplicaPairs", Site="backup")["TotalCount"] == 6
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0")  # other target: untouched
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-1")  # first match let through (after=1)
    with pytest.raises(ServerException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-1")
    assert exc.value.get_error_code() == "OperationDenied.InvalidStatus"


def test_time_window_on_the_emulator_clock(emulator: Emulator, ebs: EbsCall) -> None:
    set_faults(emulator, FaultRule(start_after_seconds=10, duration_seconds=5))
    ebs("DescribeDiskReplicaGroups")
    emulator.advance(10)
    with pytest.raises(ServerException) as exc:
        ebs("DescribeDiskReplicaGroups")
    assert (exc.value.get_http_status(), exc.value.get_error_code()) == (503, "ServiceUnavailable")
    emulator.advance(5)
    ebs("DescribeDiskReplicaGroups")


def test_same_seed_same_decisions() -> None:
    def run(seed: int) -> list[bool]:
        engine = FaultEngine()
        engine.set([FaultRule(probability=0.3, seed=seed)], now=0.0, default_seed=0)
        return [
            engine.decide(action="A", region=None, site=None, target=None, access_key_id=None, now=1.0) is not None
            for _ in range(200)
        ]

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert 30 <= sum(run(7)) <= 90


def test_latency_rule_delays_then_succeeds(emulator: Emulator, ebs: EbsCall) -> None:
    set_faults(emulator, FaultRule(action="DescribeDiskReplicaGroups", latency_ms=150))
    ebs("DescribeDiskReplicaGroups")
    ebs("DescribeDiskReplicaPairs")
    first, second = emulator.ledger.snapshot()["requests"]
    assert first["durationMs"] >= 150 and first["status"] == 200 and first["fault"] == "rule-1"
    assert second["durationMs"] < 150 and "fault" not in second


def test_connection_reset(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    set_faults(emulator, FaultRule(action="FailoverDiskReplicaPair", reset=True, phase="after", count=1))
    with pytest.raises(ClientException) as exc:
        ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="r")
    assert exc.value.get_error_code() == "SDK.HttpError"
    assert emulator.ledger.wait_for_requests(1, timeout=10)  # the server records after the client saw the RST
    assert len(emulator.ledger.snapshot()["effects"]) == 1  # applied, then the answer was lost
    assert emulator.ledger.snapshot()["requests"][0]["code"] == "ConnectionReset"


def test_hang_past_the_read_timeout(emulator: Emulator, endpoint: str) -> None:
    seed_basic(emulator)
    set_faults(emulator, FaultRule(action="FailoverDiskReplicaPair", hang_ms=1500, count=1))
    impatient = AcsClient(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DR, timeout=0.5)
    with pytest.raises(ClientException) as exc:
        legacy_call(
            impatient, endpoint, "FailoverDiskReplicaPair", RegionId=DR, ReplicaPairId="pair-0", ClientToken="h"
        )
    assert exc.value.get_error_code() == "SDK.HttpError"
    # the server finishes the call after the client gave up: the effect still happens
    assert emulator.ledger.wait_for_requests(1, timeout=10)
    assert len(emulator.ledger.snapshot()["effects"]) == 1


def test_sixteen_concurrent_clients_exact_ledger(emulator: Emulator, endpoint: str) -> None:
    emulator.backend.seed_pairs(
        PairRecord(ReplicaPairId=f"pair-c{i:02d}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(32)
    )
    set_faults(
        emulator,
        FaultRule(
            action="FailoverDiskReplicaPair",
            probability=0.25,
            phase="after",
            seed=3,
            error=FaultError(status=504, code="RequestTimeout"),
        ),
    )
    errors: list[BaseException] = []
    calls = [0]
    lock = threading.Lock()

    def worker(n: int) -> None:
        client = AcsClient(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DR)
        # every worker fails over the same 32 pairs with the shared per-pair token, each 504 retried
        for i in range(32):
            for _attempt in range(10):
                with lock:
                    calls[0] += 1
                try:
                    legacy_call(
                        client,
                        endpoint,
                        "FailoverDiskReplicaPair",
                        RegionId=DR,
                        ReplicaPairId=f"pair-c{i:02d}",
                        ClientToken=f"tok-c{i:02d}",
                    )
                    break
                except ServerException as exc:
                    if exc.get_error_code() not in ("RequestTimeout", "LastTokenProcessing"):
                        errors.append(exc)
                        break
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    break

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    ledger = emulator.ledger.snapshot()
    assert len(ledger["requests"]) == calls[0]
    assert sorted(e["targetId"] for e in ledger["effects"]) == [f"pair-c{i:02d}" for i in range(32)]
    assert [r["seq"] for r in ledger["requests"]] == list(range(1, calls[0] + 1))


# -------------------------------------------------------------- control plane
def test_control_plane_round_trip(emulator: Emulator, endpoint: str) -> None:
    base = f"http://{endpoint}/_emulator"
    s = requests.Session()
    r = s.post(
        f"{base}/pairs",
        json={
            "pairs": [{"ReplicaPairId": "pair-x", "SourceRegion": PRIMARY, "DestinationRegion": DR, "Status": "normal"}]
        },
    )
    assert r.status_code == 200 and r.json() == {"seeded": ["pair-x"]}
    pair = s.get(f"{base}/pairs/pair-x").json()
    assert pair["SourceZoneId"] == "cn-hangzhou-a" and pair["DestinationDiskId"].startswith("d-")
    assert (
        s.post(
            f"{base}/groups",
            json={
                "groups": [
                    {
                        "ReplicaGroupId": "pg-x",
                        "SourceRegionId": PRIMARY,
                        "DestinationRegionId": DR,
                        "PairIds": ["pair-x"],
                    }
                ]
            },
        ).status_code
        == 200
    )
    assert s.get(f"{base}/pairs/pair-x").json()["ReplicaGroupId"] == "pg-x"
    fleet = s.post(
        f"{base}/fleet",
        json={"pairs": 40, "groupSize": 4, "groupedFraction": 0.5, "seed": 9, "statuses": {"normal": 3, "stopped": 1}},
    ).json()
    assert len(fleet["pairs"]) == 40 and fleet["groups"]
    assert (
        s.post(
            f"{base}/fleet",
            json={
                "pairs": 40,
                "groupSize": 4,
                "groupedFraction": 0.5,
                "seed": 9,
                "statuses": {"normal": 3, "stopped": 1},
            },
        ).json()
        == fleet
    )
    flipped = s.patch(f"{base}/pairs/pair-x", json={"Status": "stopping"}).json()
    assert flipped["Status"] == "stopping"
    assert s.post(f"{base}/clock", json={"advance": 5}).status_code == 200
    assert s.get(f"{base}/pairs/pair-x").json()["Status"] == "stopped"
    rules = s.post(f"{base}/faults", json=[{"action": "DescribeDiskReplicaPairs", "count": 1}]).json()["rules"]
    assert rules[0]["id"] == "rule-1" and rules[0]["error"] == {"status": 503, "code": "ServiceUnavailable"}
    assert len(s.patch(f"{base}/faults", json=[{"region": "cn-beijing"}]).json()["rules"]) == 2
    assert s.delete(f"{base}/faults", params={"id": "rule-1"}).json()["removed"] == 1
    cfg = s.post(f"{base}/config", json={"strict": True, "latencyMs": 0}).json()
    assert cfg["strict"] is True and all("accessKeySecret" not in c for c in cfg["credentials"])
    assert s.get(f"{base}/ledger").json()["requests"] == []  # control calls are not API requests
    assert s.post(f"{base}/reset", json={}).json() == {"reset": True}
    assert s.get(f"{base}/pairs").json() == {"pairs": []}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "pairs", {"pairs": [{"ReplicaPairId": "nope"}]}, 400),
        ("POST", "pairs", {"pairs": [{"ReplicaPairId": "pair-a", "SourceRegion": DR, "DestinationRegion": DR}]}, 400),
        (
            "POST",
            "groups",
            {
                "groups": [
                    {
                        "ReplicaGroupId": "pg-a",
                        "SourceRegionId": PRIMARY,
                        "DestinationRegionId": DR,
                        "PairIds": ["pair-ghost"],
                    }
                ]
            },
            400,
        ),
        ("POST", "faults", [{"probability": 2}], 400),
        ("POST", "faults", [{"phase": "during"}], 400),
        ("POST", "config", {"latencyMs": -1}, 400),
        ("POST", "config", {"typo": 1}, 400),
        ("POST", "clock", {"advance": -5}, 400),
        ("PATCH", "pairs/pair-ghost", {"Status": "normal"}, 404),
        ("PATCH", "pairs/pair-ghost", {"Status": "sleeping"}, 400),
        ("GET", "nothing", None, 404),
        ("POST", "fleet", "not json", 400),
    ],
)
def test_control_plane_rejects_bad_documents(endpoint: str, method: str, path: str, body: Any, status: int) -> None:
    kw: dict[str, Any] = (
        {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) else {"json": body}
    )
    r = requests.request(method, f"http://{endpoint}/_emulator/{path}", timeout=5, **kw)
    assert r.status_code == status and r.json()["error"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "Action",
                "Version",
                "RegionId",
                "ReplicaPairId",
                "MaxResults",
                "NextToken",
                "Tag.1.Key",
                "Signature",
                "AccessKeyId",
                "Timestamp",
            ]
        ),
        st.text(max_size=40),
        max_size=8,
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_malformed_requests_never_crash(emulator: Emulator, endpoint: str, params: dict[str, str], method: str) -> None:
    r = requests.request(method, f"http://{endpoint}/", params=params, timeout=5)
    assert r.status_code != 500 and r.json()["Code"]
    assert not any("emulatorBug" in q for q in emulator.ledger.snapshot()["requests"])


def test_unseeded_rules_replay_identically_after_reset(emulator: Emulator) -> None:
    def decisions() -> list[bool]:
        set_faults(emulator, FaultRule(action="X", probability=0.5))
        return [
            emulator.faults.decide(action="X", region=None, site=None, target=None, access_key_id=None, now=0.0)
            is not None
            for _ in range(32)
        ]

    first = decisions()
    emulator.reset()
    assert decisions() == first


def test_a_seeded_transient_state_holds_until_flipped(emulator: Emulator) -> None:
    emulator.backend.seed_pairs(
        [PairRecord(ReplicaPairId="pair-t", SourceRegion=PRIMARY, DestinationRegion=DR, Status="failovering")]
    )
    emulator.advance(3600)
    assert emulator.backend.pairs["pair-t"].Status == "failovering"  # a fixture: it stays as seeded
    emulator.backend.flip("pair", "pair-t", "failovering")  # the control plane schedules the completion
    emulator.advance(emulator.config().transition_delays["failovering"])
    assert emulator.backend.pairs["pair-t"].Status == "failovered"
