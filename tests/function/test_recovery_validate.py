"""Plan-time review of the recovery map against described resources, and the layout of the steps."""

from __future__ import annotations

from typing import Any

from replica_failover.recovery.map import combine, parse_map, standbys_from_tags
from replica_failover.recovery.steps import Attach, Switch
from replica_failover.recovery.validate import Change, TargetRef, build_layout, review

ZONE = "cn-shanghai-b"
MAP = parse_map(
    {
        "standbys": [
            {"instanceId": "i-web", "takes": ["pair-web"]},
            {"instanceId": "i-db", "takes": ["pg-db"]},
        ],
        "records": [
            {"domain": "example.com", "rr": "www", "value": "10.0.0.2", "after": ["i-web", "i-db"]},
            {"domain": "example.com", "rr": "db", "value": "10.0.1.2", "after": ["i-db"]},
            {"domain": "example.com", "rr": "status", "type": "TXT", "recordId": "r-status", "value": "dr"},
            {"domain": "other.com", "rr": "www", "value": "1.1.1.1", "after": ["i-unrelated"]},
        ],
    }
)
TARGETS: list[TargetRef] = [("pair", "pair-web"), ("group", "pg-db"), ("pair", "pair-plain")]


def pair(pid: str, disk: str, group: str = "") -> dict[str, Any]:
    return {"ReplicaPairId": pid, "DestinationDiskId": disk, "DestinationZoneId": ZONE, "ReplicaGroupId": group}


PAIRS = [pair("pair-web", "d-web"), pair("pair-db1", "d-db1", "pg-db"), pair("pair-db2", "d-db2", "pg-db")]
PAIRS.append(pair("pair-plain", "d-plain"))
GROUPS = [{"ReplicaGroupId": "pg-db", "DestinationZoneId": ZONE, "PairIds": ["pair-db1"]}]
INSTANCES = [
    {"InstanceId": "i-web", "Status": "Stopped", "ZoneId": ZONE},
    {"InstanceId": "i-db", "Status": "Running", "ZoneId": ZONE},
]
DISKS = [
    {"DiskId": "d-web", "Status": "Available", "InstanceId": ""},
    {"DiskId": "d-db1", "Status": "Available", "InstanceId": ""},
    {"DiskId": "d-db2", "Status": "In_use", "InstanceId": "i-db"},
]
DNS = [
    {"RecordId": "r-www", "DomainName": "example.com", "RR": "www", "Type": "A", "Value": "10.9.0.2"},
    {"RecordId": "r-db", "DomainName": "example.com", "RR": "db", "Type": "A", "Value": "10.9.1.2"},
    {"RecordId": "r-status", "DomainName": "example.com", "RR": "status", "Type": "TXT", "Value": "prod"},
]


def test_a_sound_map_has_no_errors_and_shows_before_and_after() -> None:
    out = review(MAP, TARGETS, pairs=PAIRS, groups=GROUPS, instances=INSTANCES, disks=DISKS, dns_records=DNS)
    assert out.ok, out.findings
    assert [(f.code, f.target) for f in out.findings] == [("no-standby", "pair-plain")]
    assert out.changes == (
        Change(step="attach:d-web", subject="d-web", before="Available", after="In_use on i-web"),
        Change(step="start:i-web", subject="i-web", before="Stopped", after="Running"),
        Change(step="attach:d-db1", subject="d-db1", before="Available", after="In_use on i-db"),
        Change(step="attach:d-db2", subject="d-db2", before="In_use on i-db", after="In_use on i-db"),
        Change(step="start:i-db", subject="i-db", before="Running", after="Running"),
        Change(
            step="switch:alidns:www.example.com/A",
            subject="alidns:www.example.com/A",
            before="10.9.0.2",
            after="10.0.0.2",
        ),
        Change(
            step="switch:alidns:db.example.com/A",
            subject="alidns:db.example.com/A",
            before="10.9.1.2",
            after="10.0.1.2",
        ),
        Change(
            step="switch:alidns:status.example.com/TXT",
            subject="alidns:status.example.com/TXT",
            before="prod",
            after="dr",
        ),
    )


def codes(out: Any) -> list[tuple[str, str, str | None, str]]:
    return [(f.severity, f.code, f.target, f.subject) for f in out.findings if f.code != "no-standby"]


def test_standby_problems_are_reported_per_target() -> None:
    instances = [
        {"InstanceId": "i-web", "Status": "Stopping", "ZoneId": "cn-shanghai-a"},
    ]
    out = review(MAP, TARGETS, pairs=PAIRS, groups=GROUPS, instances=instances, disks=DISKS, dns_records=DNS)
    assert not out.ok
    assert codes(out) == [
        ("error", "standby-status", "pair-web", "i-web"),
        ("error", "zone-mismatch", "pair-web", "i-web"),
        ("error", "standby-missing", "pg-db", "i-db"),
    ]
    assert [f.code for f in out.for_target("pg-db")] == ["standby-missing"]
    assert "cn-shanghai-a" in out.for_target("pair-web")[1].message


def test_a_standby_already_starting_is_no_problem() -> None:
    """A retry that lands while an earlier invocation's start is under way resumes (the start step waits)."""
    starting = [{**i, "Status": "Starting"} if i["InstanceId"] == "i-web" else i for i in INSTANCES]
    out = review(MAP, TARGETS, pairs=PAIRS, groups=GROUPS, instances=starting, disks=DISKS, dns_records=DNS)
    assert "standby-status" not in [f.code for f in out.findings]


def test_disk_problems() -> None:
    disks = [{"DiskId": "d-web", "Status": "In_use", "InstanceId": "i-someone"}, DISKS[1]]
    out = review(MAP, TARGETS, pairs=PAIRS, groups=GROUPS, instances=INSTANCES, disks=disks, dns_records=DNS)
    assert codes(out) == [
        ("error", "disk-attached-elsewhere", "pair-web", "d-web"),
        ("warning", "disk-undescribed", "pg-db", "d-db2"),
    ]


def test_undescribed_targets_are_warnings() -> None:
    out = review(MAP, TARGETS, pairs=[], groups=[], instances=INSTANCES, disks=DISKS, dns_records=DNS)
    assert codes(out) == [
        ("warning", "target-undescribed", "pair-web", "pair-web"),
        ("warning", "target-undescribed", "pg-db", "pg-db"),
    ]


def test_record_problems() -> None:
    dns = [DNS[0], {**DNS[0], "RecordId": "r-www2"}, DNS[2]]
    rmap = parse_map(
        {
            "standbys": [{"instanceId": "i-web", "takes": ["pair-web"]}],
            "records": [
                {"domain": "example.com", "rr": "www", "value": "x", "after": ["i-web"]},
                {"domain": "example.com", "rr": "db", "value": "x", "after": ["i-web", "i-ghost"]},
            ],
        }
    )
    out = review(rmap, TARGETS[:1], pairs=PAIRS, instances=INSTANCES, disks=DISKS, dns_records=dns)
    assert codes(out) == [
        ("error", "record-ambiguous", None, "alidns:www.example.com/A"),
        ("error", "unknown-instance", None, "alidns:db.example.com/A"),
        ("error", "record-missing", None, "alidns:db.example.com/A"),
    ]
    assert "r-www, r-www2" in out.findings[0].message


def test_privatezone_records_match_by_zone() -> None:
    rmap = parse_map(
        {"records": [{"domain": "corp", "rr": "db", "value": "v2", "provider": "privatezone", "zoneId": "z1"}]}
    )
    described = [
        {"RecordId": 1, "Rr": "db", "Type": "A", "Value": "v0", "ZoneId": "z0"},
        {"RecordId": 2, "Rr": "db", "Type": "A", "Value": "v1", "ZoneId": "z1"},
    ]
    out = review(rmap, [], dns_records=described)
    assert out.ok and [(c.before, c.after) for c in out.changes] == [("v1", "v2")]


def test_claims_by_two_maps_are_errors() -> None:
    tagged, _ = standbys_from_tags(
        [
            {
                "InstanceId": "i-other",
                "Tags": {"Tag": [{"TagKey": "replica-failover:standby-for", "TagValue": "pair-web"}]},
            }
        ]
    )
    combined, conflicts = combine(MAP, tagged)
    out = review(
        combined,
        TARGETS,
        pairs=PAIRS,
        groups=GROUPS,
        instances=INSTANCES,
        disks=DISKS,
        dns_records=DNS,
        conflicts=conflicts,
    )
    assert codes(out)[0] == ("error", "claimed-twice", None, "pair-web")


def test_layout_of_the_steps() -> None:
    layout = build_layout(MAP, TARGETS, PAIRS, GROUPS)
    assert layout.attaches == (
        Attach("d-web", "pair-web", "i-web"),
        Attach("d-db1", "pg-db", "i-db"),
        Attach("d-db2", "pg-db", "i-db"),
    )
    assert layout.instances == ("i-web", "i-db")
    assert layout.switches == (
        Switch("alidns:www.example.com/A", "10.0.0.2", ("i-web", "i-db")),
        Switch("alidns:db.example.com/A", "10.0.1.2", ("i-db",)),
        Switch("alidns:status.example.com/TXT", "dr", ()),
    )
    assert not layout.hook
    # a recovery of pair-web alone leaves the db record (it waits for i-db only) alone
    only_web = build_layout(MAP, [("pair", "pair-web")], PAIRS)
    assert [s.key for s in only_web.switches] == ["alidns:www.example.com/A", "alidns:status.example.com/TXT"]


def test_a_record_id_naming_another_record_is_an_error() -> None:
    rmap = parse_map({"records": [{"domain": "example.com", "rr": "www", "recordId": "r-status", "value": "x"}]})
    out = review(rmap, [], dns_records=DNS)
    assert codes(out) == [("error", "record-mismatch", None, "alidns:www.example.com/A")]
    assert "status TXT" in out.findings[0].message
