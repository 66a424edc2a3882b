"""The ECS and DNS adapters: the requests they build (action, version, parameters), and - over a
loopback capture server until the emulator serves ECS/DNS - what goes on the wire and how answers
and errors come back."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from pytest_localserver.http import ContentServer
from replica_failover.credentials import Credentials
from replica_failover.ebs import ApiFailure
from replica_failover.recovery import dns, ecs
from replica_failover.recovery.map import Record

CREDS = Credentials("AKID-recovery-test", "secret-recovery-test", "sts-token-recovery-test")
WWW = Record(domain="example.com", rr="www", type="A", value="10.0.0.2", ttl=60)
PZ = Record(domain="corp.internal", rr="db", value="10.1.0.2", provider="privatezone", zone_id="zone-1")


def params(request: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in request.get_query_params().items()}  # type: ignore[attr-defined]


def test_attach_disk_request() -> None:
    req = ecs.attach_disk_request("i-1", "d-1")
    assert (req.get_action_name(), req.get_version(), req.get_product()) == ("AttachDisk", "2014-05-26", "Ecs")
    assert params(req) == {"InstanceId": "i-1", "DiskId": "d-1", "DeleteWithInstance": "False"}


def test_start_instances_request_batches_per_instance_answers() -> None:
    req = ecs.start_instances_request(["i-1", "i-2"])
    assert req.get_action_name() == "StartInstances"
    assert params(req) == {"InstanceId.1": "i-1", "InstanceId.2": "i-2", "BatchOptimization": "SuccessFirst"}


@pytest.mark.parametrize("n", [0, 101])
def test_start_instances_request_refuses_a_bad_batch(n: int) -> None:
    with pytest.raises(ValueError, match="1 to 100"):
        ecs.start_instances_request([f"i-{k}" for k in range(n)])


def test_describe_requests() -> None:
    disks = ecs.describe_disks_request(["d-1", "d-2"])
    assert disks.get_action_name() == "DescribeDisks"
    assert json.loads(params(disks)["DiskIds"]) == ["d-1", "d-2"]
    inst = ecs.describe_instances_request(instance_ids=["i-1"])
    assert json.loads(params(inst)["InstanceIds"]) == ["i-1"]
    tagged = ecs.describe_instances_request(tag_key="replica-failover:standby-for")
    assert params(tagged) == {"MaxResults": "100", "Tag.1.Key": "replica-failover:standby-for"}


def test_alidns_requests() -> None:
    upd = dns.update_record_request(WWW, "rec-1")
    assert (upd.get_action_name(), upd.get_version(), upd.get_product()) == (
        "UpdateDomainRecord",
        "2015-01-09",
        "Alidns",
    )
    assert params(upd) == {"RecordId": "rec-1", "RR": "www", "Type": "A", "Value": "10.0.0.2", "TTL": "60"}
    info = dns.describe_record_request("rec-1")
    assert (info.get_action_name(), params(info)) == ("DescribeDomainRecordInfo", {"RecordId": "rec-1"})
    find = dns.find_records_request(WWW)
    assert params(find)["DomainName"] == "example.com" and params(find)["RRKeyWord"] == "www"


def test_privatezone_requests_carry_a_client_token() -> None:
    upd = dns.update_zone_record_request(PZ, "42", "tok-1")
    assert (upd.get_action_name(), upd.get_version(), upd.get_product()) == ("UpdateZoneRecord", "2018-01-01", "pvtz")
    assert params(upd) == {"RecordId": "42", "Rr": "db", "Type": "A", "Value": "10.1.0.2", "ClientToken": "tok-1"}
    assert params(dns.zone_records_request(PZ))["ZoneId"] == "zone-1"


def test_public_endpoints_and_the_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ecs.ENDPOINT_ENV, raising=False)
    monkeypatch.delenv(dns.ENDPOINT_ENV, raising=False)
    req = ecs.EcsApi(CREDS).rpc.prepare(ecs.attach_disk_request("i-1", "d-1"), "cn-shanghai")
    assert (req.endpoint, req.get_protocol_type()) == ("ecs.cn-shanghai.aliyuncs.com", "https")
    req = dns.DnsApi(CREDS).alidns.prepare(dns.describe_record_request("r"), "cn-shanghai")
    assert req.endpoint == "alidns.aliyuncs.com"
    monkeypatch.setenv(ecs.ENDPOINT_ENV, "http://127.0.0.1:18791")
    monkeypatch.setenv(dns.ENDPOINT_ENV, "127.0.0.1:18792")
    req = ecs.EcsApi(CREDS).rpc.prepare(ecs.attach_disk_request("i-1", "d-1"), "cn-shanghai")
    assert (req.endpoint, req.get_protocol_type()) == ("127.0.0.1:18791", "http")
    req = dns.DnsApi(CREDS).alidns.prepare(dns.describe_record_request("r"), "cn-shanghai")
    assert req.endpoint == "127.0.0.1:18792"


def _sent(httpserver: ContentServer) -> dict[str, str]:
    (request,) = httpserver.requests
    query = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
    form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
    return {**query, **form}


def test_start_instances_on_the_wire(httpserver: ContentServer) -> None:
    answer = {
        "RequestId": "req-1",
        "InstanceResponses": {
            "InstanceResponse": [
                {"InstanceId": "i-1", "Code": "200", "Message": "success"},
                {"InstanceId": "i-2", "Code": "IncorrectInstanceStatus", "Message": "bad"},
            ]
        },
    }
    httpserver.serve_content(json.dumps(answer), headers={"Content-Type": "application/json"})
    api = ecs.EcsApi(CREDS, endpoint=httpserver.url)
    out = api.start_instances("cn-shanghai", ["i-1", "i-2"])
    assert out == {"i-1": ("200", "success"), "i-2": ("IncorrectInstanceStatus", "bad")}
    sent = _sent(httpserver)
    assert (sent["Action"], sent["Version"], sent["RegionId"]) == ("StartInstances", "2014-05-26", "cn-shanghai")
    assert (sent["InstanceId.1"], sent["InstanceId.2"]) == ("i-1", "i-2")
    assert (api.rpc.stats.calls, api.rpc.stats.writes) == (1, 1)


def test_describe_disks_flattens_the_answer(httpserver: ContentServer) -> None:
    answer = {"Disks": {"Disk": [{"DiskId": "d-1", "Status": "Available", "InstanceId": ""}]}, "NextToken": ""}
    httpserver.serve_content(json.dumps(answer), headers={"Content-Type": "application/json"})
    disks = ecs.EcsApi(CREDS, endpoint=httpserver.url).describe_disks("cn-shanghai", ["d-1", "d-1"])
    assert disks == [{"DiskId": "d-1", "Status": "Available", "InstanceId": ""}]
    assert json.loads(_sent(httpserver)["DiskIds"]) == ["d-1"]


def test_an_error_answer_is_an_api_failure_without_credentials(httpserver: ContentServer) -> None:
    body = {
        "Code": "Forbidden.RAM",
        "Message": f"denied for {CREDS.access_key_id} token {CREDS.security_token}",
        "RequestId": "req-9",
    }
    from replica_failover.redact import register

    register(CREDS.access_key_id, CREDS.access_key_secret, CREDS.security_token)
    httpserver.serve_content(json.dumps(body), code=403, headers={"Content-Type": "application/json"})
    api = ecs.EcsApi(CREDS, endpoint=httpserver.url)
    with pytest.raises(ApiFailure) as info:
        api.attach_disk("cn-shanghai", "i-1", "d-1")
    failure = info.value
    assert (failure.code, failure.status, failure.request_id) == ("Forbidden.RAM", 403, "req-9")
    assert CREDS.access_key_id not in str(failure) and str(CREDS.security_token) not in str(failure)
    assert (api.rpc.stats.calls, api.rpc.stats.writes) == (1, 1)


def test_alidns_update_and_read_on_the_wire(httpserver: ContentServer) -> None:
    httpserver.serve_content(json.dumps({"RequestId": "req-2", "RecordId": "rec-1"}))
    api = dns.DnsApi(CREDS, endpoint=httpserver.url)
    assert api.update("cn-shanghai", WWW, "rec-1", "unused-token") == "req-2"
    sent = _sent(httpserver)
    assert (sent["Action"], sent["Version"], sent["Value"]) == ("UpdateDomainRecord", "2015-01-09", "10.0.0.2")
    assert "ClientToken" not in sent


def test_alidns_read_of_a_gone_record_is_none(httpserver: ContentServer) -> None:
    body = {"Code": "DomainRecordNotBelongToUser", "Message": "gone", "RequestId": "r"}
    httpserver.serve_content(json.dumps(body), code=400)
    assert dns.DnsApi(CREDS, endpoint=httpserver.url).read_value("cn-shanghai", WWW, "rec-1") is None


def test_a_refused_connection_names_the_host_only() -> None:
    api = ecs.EcsApi(CREDS, endpoint="http://127.0.0.1:9", connect_timeout=1, read_timeout=1)
    with pytest.raises(ApiFailure) as info:
        api.describe_instances("cn-shanghai", ["i-1"])
    assert info.value.code == "SDK.HttpError"
    assert "127.0.0.1:9" in info.value.message and "AKID" not in info.value.message
