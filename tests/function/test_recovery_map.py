"""The recovery map: file form (JSON/YAML), FAILOVER_RECOVERY_PLAN, the standby-for tag, combining both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from replica_failover.errors import ConfigError
from replica_failover.recovery.map import (
    PLAN_ENV,
    STANDBY_TAG,
    RecoveryMap,
    RecoveryMapError,
    Standby,
    combine,
    load_map,
    map_from_env,
    parse_map,
    schema,
    standbys_from_tags,
    tags_of,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "recovery-plan.yaml"


def test_the_example_loads() -> None:
    rmap = load_map(EXAMPLE)
    assert [s.instance_id for s in rmap.standbys] == ["i-standby-web1", "i-standby-db1"]
    assert rmap.standby_for("pg-db") == "i-standby-db1" and rmap.standby_for("pair-x") is None
    assert [r.key for r in rmap.records] == ["alidns:www.example.com/A", "privatezone:db.corp.internal/A"]
    assert rmap.records[0].record_id == "1234567890" and rmap.records[1].zone_id
    assert rmap.hook is not None and rmap.hook.function == "smoke-test"


def test_json_and_yaml_are_the_same_map(tmp_path: Path) -> None:
    data = load_map(EXAMPLE).model_dump(mode="json", by_alias=True, exclude_none=True)
    path = tmp_path / "map.json"
    path.write_text(json.dumps(data))
    assert load_map(path) == load_map(EXAMPLE)


def test_apex_record_key() -> None:
    rmap = parse_map({"records": [{"domain": "example.com", "rr": "@", "value": "1.2.3.4"}]})
    assert rmap.records[0].key == "alidns:example.com/A"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "top level must be a mapping"),
        ({"standbys": [{"instanceId": "i-1", "takes": []}]}, "standbys.0.takes"),
        ({"standbys": [{"instanceId": "vm-1", "takes": ["pair-1"]}]}, "standbys.0.instanceId"),
        ({"standbys": [{"instanceId": "i-1", "takes": ["disk-1"]}]}, "not a pair or group id: disk-1"),
        ({"standbys": [{"instanceId": "i-1", "takes": ["pair-1", "pair-1"]}]}, "twice"),
        (
            {"standbys": [{"instanceId": "i-1", "takes": ["pair-1"]}, {"instanceId": "i-1", "takes": ["pair-2"]}]},
            "standby i-1 is listed twice",
        ),
        (
            {"standbys": [{"instanceId": "i-1", "takes": ["pg-1"]}, {"instanceId": "i-2", "takes": ["pg-1"]}]},
            "pg-1 is taken by two standbys: i-1 and i-2",
        ),
        ({"records": [{"domain": "a.com", "rr": "www", "value": "1.2.3.4", "provider": "privatezone"}]}, "zoneId"),
        ({"records": [{"domain": "a.com", "rr": "www", "value": "1.2.3.4", "zoneId": "z"}]}, "privatezone"),
        ({"records": [{"domain": "a.com", "rr": "www", "value": "1.2.3.4", "type": "MX"}]}, "records.0.type"),
        ({"records": [{"domain": "a.com", "rr": "www", "value": "1.2.3.4", "ttl": 0}]}, "records.0.ttl"),
        (
            {"records": [{"domain": "a.com", "rr": "w", "value": "1"}, {"domain": "a.com", "rr": "w", "value": "2"}]},
            "twice",
        ),
        ({"hook": {"function": "bad name"}}, "hook.function"),
        ({"version": 2}, "version"),
        ({"standby": []}, "standby: Extra inputs are not permitted"),
    ],
)
def test_bad_maps_are_refused_with_the_field(data: object, message: str) -> None:
    with pytest.raises(RecoveryMapError, match="recovery map") as info:
        parse_map(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("m.yaml", "standbys: [", "not valid YAML"),
        ("m.json", "{", "not valid JSON"),
        ("m.toml", "x = 1", "use a .json, .yaml or .yml file"),
        ("m.json", b"\xff\xfe", "not UTF-8"),
        ("m.yaml", "- 1\n- 2\n", "top level must be a mapping"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RecoveryMapError, match=message) as info:
        load_map(path)
    assert str(path) in str(info.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecoveryMapError, match="cannot read"):
        load_map(tmp_path / "nope.yaml")


def test_map_from_env(tmp_path: Path) -> None:
    assert map_from_env(tmp_path, {}) is None
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "recovery.yaml").write_text(EXAMPLE.read_text())
    assert map_from_env(tmp_path, {PLAN_ENV: "conf/recovery.yaml"}) == load_map(EXAMPLE)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/etc/recovery.yaml", "inside the code directory"),
        ("../x.yaml", "inside the code directory"),
        ("no.yaml", "cannot read"),
    ],
)
def test_map_from_env_refuses(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        map_from_env(tmp_path, {PLAN_ENV: value})
    assert info.value.variable == PLAN_ENV


def test_tags_in_both_shapes() -> None:
    flat = {"Tags": [{"TagKey": "a", "TagValue": "1"}]}
    nested = {"Tags": {"Tag": [{"TagKey": "a", "TagValue": "1"}]}}
    assert tags_of(flat) == tags_of(nested) == {"a": "1"}
    assert tags_of({"Tags": "junk"}) == {} and tags_of({}) == {}


def _inst(iid: str, value: str | None) -> dict[str, object]:
    tags = [] if value is None else [{"TagKey": STANDBY_TAG, "TagValue": value}]
    return {"InstanceId": iid, "Tags": {"Tag": tags}}


def test_standbys_from_tags() -> None:
    found, problems = standbys_from_tags(
        [_inst("i-1", "pair-1"), _inst("i-2", " pg-7 "), _inst("i-3", None), _inst("i-4", "my-app")]
    )
    assert found == (
        Standby(instance_id="i-1", takes=("pair-1",)),
        Standby(instance_id="i-2", takes=("pg-7",)),
    )
    assert problems == ["i-4: tag replica-failover:standby-for='my-app' is not a pair or group id"]


def test_combine_adds_tags_and_reports_disagreements() -> None:
    file_map = parse_map({"standbys": [{"instanceId": "i-1", "takes": ["pair-1"]}]})
    tagged, _ = standbys_from_tags(
        [
            _inst("i-1", "pair-1"),  # repeats the file: one standby
            _inst("i-1", "pair-2"),  # the file maps i-1 elsewhere
            _inst("i-2", "pair-1"),  # the file gives pair-1 to i-1
            _inst("i-3", "pg-1"),
            _inst("i-4", "pg-1"),  # tagged twice
        ]
    )
    combined, conflicts = combine(file_map, tagged)
    assert [(s.instance_id, s.takes) for s in combined.standbys] == [("i-1", ("pair-1",)), ("i-3", ("pg-1",))]
    assert conflicts == [
        "i-1: the file maps it to pair-1, its tag to pair-2",
        "pair-1: the file gives it to i-1, a tag to i-2",
        "pg-1: tagged on two instances, i-3 and i-4",
    ]
    tag_only, none = combine(None, tagged[3:4])
    assert tag_only.standby_for("pg-1") == "i-3" and none == []


def test_schema_describes_the_file_form() -> None:
    out = schema()
    assert out["title"] == "replica-failover recovery map"
    assert set(out["properties"]) == {"version", "standbys", "records", "hook"}
    assert out["$defs"]["Standby"]["required"] == ["instanceId", "takes"]
    assert RecoveryMap.model_validate({}).standbys == ()
