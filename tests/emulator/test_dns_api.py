"""The alidns emulator through CommonRequest and the real AcsClient: reads, updates, duplicate, errors."""

from __future__ import annotations

from aliyunsdkcore.client import AcsClient

from chaos.emulator.app import Emulator
from chaos.emulator.dns.models import DomainRecord
from chaos.emulator.faults import FaultRule
from tests.emulator.ecs_fixtures import dns_request, error_of, send


def seed(emulator: Emulator) -> None:
    emulator.dns.seed_records(
        [
            DomainRecord(RecordId="101", DomainName="example.com", RR="app", Value="10.0.0.5"),
            DomainRecord(RecordId="102", DomainName="example.com", RR="db", Value="10.0.0.6", TTL=60),
            DomainRecord(RecordId="201", DomainName="other.org", RR="@", Type="CNAME", Value="lb.other.org"),
        ]
    )


def test_describe_domain_records_pages_and_searches(
    emulator: Emulator, endpoint: str, legacy_client: AcsClient
) -> None:
    seed(emulator)
    body = send(legacy_client, endpoint, dns_request("DescribeDomainRecords", DomainName="example.com", PageSize="1"))
    assert (body["TotalCount"], body["PageNumber"], body["PageSize"]) == (2, 1, 1)
    rec = body["DomainRecords"]["Record"][0]
    assert (rec["RecordId"], rec["RR"], rec["Type"], rec["Value"], rec["TTL"]) == ("101", "app", "A", "10.0.0.5", 600)
    page2 = send(
        legacy_client,
        endpoint,
        dns_request("DescribeDomainRecords", DomainName="example.com", PageSize="1", PageNumber="2"),
    )
    assert [r["RecordId"] for r in page2["DomainRecords"]["Record"]] == ["102"]
    found = send(
        legacy_client,
        endpoint,
        dns_request("DescribeDomainRecords", DomainName="example.com", SearchMode="ADVANCED", RRKeyWord="db"),
    )
    assert [r["RecordId"] for r in found["DomainRecords"]["Record"]] == ["102"]
    assert error_of(legacy_client, endpoint, dns_request("DescribeDomainRecords", DomainName="nowhere.net")) == (
        400,
        "InvalidDomainName.NoExist",
    )
    assert error_of(legacy_client, endpoint, dns_request("DescribeDomainRecords")) == (400, "MissingParameter")


def test_update_then_duplicate_then_info(emulator: Emulator, endpoint: str, legacy_client: AcsClient) -> None:
    seed(emulator)
    update = dns_request("UpdateDomainRecord", RecordId="101", RR="app", Type="A", Value="10.8.0.5", TTL="60")
    assert send(legacy_client, endpoint, update)["RecordId"] == "101"
    info = send(legacy_client, endpoint, dns_request("DescribeDomainRecordInfo", RecordId="101"))
    assert (info["Value"], info["TTL"], info["DomainName"]) == ("10.8.0.5", 60, "example.com")
    # the same value again: the documented duplicate answer, no second effect
    assert error_of(legacy_client, endpoint, update) == (400, "DomainRecordDuplicate")
    effects = emulator.ledger.snapshot()["effects"]
    assert [(e["service"], e["targetId"], e["from"], e["to"]) for e in effects] == [
        ("alidns", "101", "10.0.0.5", "10.8.0.5")
    ]
    assert emulator.dns.record("101")["Value"] == "10.8.0.5"  # type: ignore[index]


def test_update_bad_input_writes_nothing(emulator: Emulator, endpoint: str, legacy_client: AcsClient) -> None:
    seed(emulator)
    cases = [
        (dict(RecordId="999", RR="app", Type="A", Value="10.1.1.1"), "DomainRecordNotBelongToUser"),
        (dict(RecordId="101", RR="app", Type="BOGUS", Value="10.1.1.1"), "InvalidParameter"),
        (dict(RecordId="101", RR="app", Type="A", Value="10.1.1.1", TTL="0"), "InvalidParameter"),
        (dict(RecordId="101", RR="a pp", Type="A", Value="10.1.1.1"), "InvalidParameter"),
        (dict(RecordId="101", RR="app", Type="A"), "MissingParameter"),
    ]
    for params, code in cases:
        assert error_of(legacy_client, endpoint, dns_request("UpdateDomainRecord", **params)) == (400, code), params
    assert emulator.ledger.snapshot()["effects"] == []
    assert emulator.dns.record("101")["Value"] == "10.0.0.5"  # type: ignore[index]


def test_lost_acknowledgement_on_update(emulator: Emulator, endpoint: str, legacy_client: AcsClient) -> None:
    seed(emulator)
    rule = FaultRule.model_validate(
        {
            "action": "UpdateDomainRecord",
            "phase": "after",
            "count": 1,
            "error": {"status": 500, "code": "InternalError"},
        }
    )
    emulator.faults.set([rule], emulator.clock.now(), 0)
    update = dns_request("UpdateDomainRecord", RecordId="102", RR="db", Type="A", Value="10.8.0.6")
    assert error_of(legacy_client, endpoint, update) == (500, "InternalError")
    assert error_of(legacy_client, endpoint, update) == (400, "DomainRecordDuplicate")  # the first one landed
    assert len(emulator.ledger.snapshot()["effects"]) == 1


def test_a_rule_scoped_to_a_service_reaches_only_that_product(
    emulator: Emulator, endpoint: str, legacy_client: AcsClient
) -> None:
    seed(emulator)
    down = {"action": "UpdateDomainRecord", "error": {"status": 503, "code": "ServiceUnavailable"}}
    emulator.faults.set([FaultRule.model_validate({**down, "service": "ecs"})], emulator.clock.now(), 0)
    update = dns_request("UpdateDomainRecord", RecordId="102", RR="db", Type="A", Value="10.8.0.7")
    send(legacy_client, endpoint, update)  # an ecs-scoped rule does not touch alidns
    emulator.faults.set([FaultRule.model_validate({**down, "service": "alidns"})], emulator.clock.now(), 0)
    again = dns_request("UpdateDomainRecord", RecordId="102", RR="db", Type="A", Value="10.8.0.8")
    assert error_of(legacy_client, endpoint, again) == (503, "ServiceUnavailable")
