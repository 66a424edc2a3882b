"""Settings / load_settings: defaults, per-variable validation, DR-region defaulting."""

from __future__ import annotations

import functools

import pytest
from pydantic import ValidationError
from replica_failover.config import Settings, load_settings
from replica_failover.errors import ConfigError, FailoverError

BASE = {"FAILOVER_PRIMARY_REGIONS": "cn-hangzhou"}


def load(extra: dict[str, str] | None = None, *, function_region: str | None = "cn-shanghai") -> Settings:
    return load_settings({**BASE, **(extra or {})}, function_region=function_region)


def test_defaults() -> None:
    s = load()
    assert s.primary_regions == ("cn-hangzhou",)
    assert s.dr_region == "cn-shanghai"
    assert s.min_level == "CRITICAL"
    assert s.mode == "auto"
    assert s.max_targets == 50
    assert s.tags == ()
    assert s.tag_dict() == {}
    assert s.resource_group_id is None
    assert s.allow_pair_ids is None
    assert s.deny_pair_ids == frozenset()
    assert s.allow_group_ids is None
    assert s.deny_group_ids == frozenset()
    assert s.concurrency == 8
    assert s.retry_budget == 50
    assert s.retry_rate == 5.0
    assert s.max_attempts == 0  # no cap: attempts end at the deadline
    assert s.deadline_margin_seconds == 5.0
    assert s.verify is False
    assert s.verify_poll_seconds == 1.0
    assert s.alarm_region_map == ()
    assert s.max_event_bytes == 262_144
    assert s.ebs_endpoint is None
    assert s.connect_timeout_seconds == 3.0
    assert s.read_timeout_seconds == 10.0
    assert s.log_level == "INFO"


def test_all_variables_parsed() -> None:
    s = load(
        {
            "FAILOVER_PRIMARY_REGIONS": " cn-hangzhou , cn-shenzhen,cn-hangzhou ",
            "FAILOVER_DR_REGION": "cn-shanghai",
            "FAILOVER_MIN_LEVEL": "warn",
            "FAILOVER_MODE": "plan-only",
            "FAILOVER_MAX_TARGETS": "3",
            "FAILOVER_TAGS": "env=prod, dr=enabled,empty=",
            "FAILOVER_RESOURCE_GROUP_ID": "rg-aek2abc123",
            "FAILOVER_ALLOW_PAIR_IDS": "pair-cn-abc1,pair-cn-abc2",
            "FAILOVER_DENY_PAIR_IDS": "pair-cn-abc3",
            "FAILOVER_ALLOW_GROUP_IDS": "pg-g1",
            "FAILOVER_DENY_GROUP_IDS": "pg-g2, pg-g3",
            "FAILOVER_CONCURRENCY": "256",
            "FAILOVER_RETRY_BUDGET": "0",
            "FAILOVER_RETRY_RATE": "0.5",
            "FAILOVER_MAX_ATTEMPTS": "1",
            "FAILOVER_DEADLINE_MARGIN_SECONDS": "0.5",
            "FAILOVER_VERIFY": "YES",
            "FAILOVER_VERIFY_POLL_SECONDS": "2.5",
            "FAILOVER_ALARM_REGION_MAP": '{"alarmRule_1": "cn-hangzhou", "CPU 高": "cn-shenzhen"}',
            "FAILOVER_MAX_EVENT_BYTES": "4096",
            "EBS_ENDPOINT": "http://127.0.0.1:8765",
            "FAILOVER_CONNECT_TIMEOUT_SECONDS": "1",
            "FAILOVER_READ_TIMEOUT_SECONDS": "30",
            "FAILOVER_LOG_LEVEL": "warn",
        }
    )
    assert s.primary_regions == ("cn-hangzhou", "cn-shenzhen")
    assert s.min_level == "WARN"
    assert s.mode == "plan-only"
    assert s.max_targets == 3
    assert s.tag_dict() == {"env": "prod", "dr": "enabled", "empty": ""}
    assert s.resource_group_id == "rg-aek2abc123"
    assert s.allow_pair_ids == frozenset({"pair-cn-abc1", "pair-cn-abc2"})
    assert s.deny_pair_ids == frozenset({"pair-cn-abc3"})
    assert s.allow_group_ids == frozenset({"pg-g1"})
    assert s.deny_group_ids == frozenset({"pg-g2", "pg-g3"})
    assert (s.concurrency, s.retry_budget, s.retry_rate, s.max_attempts) == (256, 0, 0.5, 1)
    assert s.deadline_margin_seconds == 0.5
    assert s.verify is True
    assert s.verify_poll_seconds == 2.5
    assert s.region_for_alarm("nope", "CPU 高") == "cn-shenzhen"
    assert s.region_for_alarm("alarmRule_1", "CPU 高") == "cn-hangzhou"  # rule id first
    assert s.region_for_alarm(None) is None
    assert s.max_event_bytes == 4096
    assert s.ebs_endpoint == "http://127.0.0.1:8765"
    assert (s.connect_timeout_seconds, s.read_timeout_seconds) == (1.0, 30.0)
    assert s.log_level == "WARNING"


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8765", "https://ebs.cn-shanghai.aliyuncs.com", "localhost"])
def test_endpoint_forms(endpoint: str) -> None:
    assert load({"EBS_ENDPOINT": endpoint}).ebs_endpoint == endpoint


def test_empty_values_count_as_unset() -> None:
    s = load({"FAILOVER_MIN_LEVEL": "", "FAILOVER_TAGS": "  ", "EBS_ENDPOINT": ""})
    assert s.min_level == "CRITICAL" and s.tags == () and s.ebs_endpoint is None


def test_dr_defaults_to_function_region() -> None:
    assert load(function_region="cn-beijing").dr_region == "cn-beijing"


def test_dr_falls_back_to_environment() -> None:
    assert load({"ALIBABA_CLOUD_REGION": "cn-beijing"}, function_region=None).dr_region == "cn-beijing"
    assert load({"FC_REGION": "cn-qingdao"}, function_region=None).dr_region == "cn-qingdao"
    both = {"ALIBABA_CLOUD_REGION": "cn-beijing", "FC_REGION": "cn-qingdao"}
    assert load(both, function_region=None).dr_region == "cn-beijing"
    assert load(both, function_region="cn-wulanchabu").dr_region == "cn-wulanchabu"


def test_explicit_dr_wins_over_function_region() -> None:
    assert load({"FAILOVER_DR_REGION": "cn-beijing"}, function_region="cn-shanghai").dr_region == "cn-beijing"


def test_dr_unknown_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load(function_region=None)
    assert info.value.variable == "FAILOVER_DR_REGION"
    assert "FAILOVER_DR_REGION" in str(info.value)


def test_dr_must_not_be_primary() -> None:
    with pytest.raises(ConfigError) as info:
        load(function_region="cn-hangzhou")
    assert info.value.variable == "FAILOVER_DR_REGION"
    with pytest.raises(ValidationError):
        Settings(primary_regions=("cn-hangzhou",), dr_region="cn-hangzhou")


def test_primary_regions_required() -> None:
    for env in ({}, {"FAILOVER_PRIMARY_REGIONS": ""}, {"FAILOVER_PRIMARY_REGIONS": " , "}):
        with pytest.raises(ConfigError) as info:
            load_settings(env, function_region="cn-shanghai")
        assert info.value.variable == "FAILOVER_PRIMARY_REGIONS"


BAD_VALUES = [
    ("FAILOVER_PRIMARY_REGIONS", "cn-hangzhou,CN_HANGZHOU"),
    ("FAILOVER_PRIMARY_REGIONS", "cn-hangzhou;rm -rf /"),
    ("FAILOVER_DR_REGION", "shanghai"),
    ("FAILOVER_MIN_LEVEL", "FATAL"),
    ("FAILOVER_MODE", "manual"),
    ("FAILOVER_MAX_TARGETS", "0"),
    ("FAILOVER_MAX_TARGETS", "ten"),
    ("FAILOVER_TAGS", "novalue"),
    ("FAILOVER_TAGS", "=v"),
    ("FAILOVER_TAGS", "a=1,a=2"),
    ("FAILOVER_TAGS", ",".join(f"k{i}=v" for i in range(21))),
    ("FAILOVER_RESOURCE_GROUP_ID", "group-1"),
    ("FAILOVER_ALLOW_PAIR_IDS", "pair-cn-ok,d-disk1"),
    ("FAILOVER_DENY_PAIR_IDS", "PAIR-CN-X"),
    ("FAILOVER_ALLOW_GROUP_IDS", "pair-cn-x"),
    ("FAILOVER_DENY_GROUP_IDS", "pg-"),
    ("FAILOVER_ALLOW_PAIR_IDS", ","),
    ("FAILOVER_CONCURRENCY", "0"),
    ("FAILOVER_CONCURRENCY", "257"),
    ("FAILOVER_RETRY_BUDGET", "-1"),
    ("FAILOVER_MAX_ATTEMPTS", "-1"),
    ("FAILOVER_RETRY_RATE", "-1"),
    ("FAILOVER_RETRY_RATE", "inf"),
    ("FAILOVER_DEADLINE_MARGIN_SECONDS", "-1"),
    ("FAILOVER_DEADLINE_MARGIN_SECONDS", "nan"),
    ("FAILOVER_VERIFY", "maybe"),
    ("FAILOVER_VERIFY_POLL_SECONDS", "0"),
    ("FAILOVER_VERIFY_POLL_SECONDS", "inf"),
    ("FAILOVER_ALARM_REGION_MAP", "{not json"),
    ("FAILOVER_ALARM_REGION_MAP", '["cn-hangzhou"]'),
    ("FAILOVER_ALARM_REGION_MAP", '{"rule": "Hangzhou"}'),
    ("FAILOVER_ALARM_REGION_MAP", '{"rule": 1}'),
    ("FAILOVER_MAX_EVENT_BYTES", "10"),
    ("FAILOVER_MAX_EVENT_BYTES", "1e6"),
    ("EBS_ENDPOINT", "ftp://host"),
    ("EBS_ENDPOINT", "http://host:1/path"),
    ("FAILOVER_CONNECT_TIMEOUT_SECONDS", "0"),
    ("FAILOVER_READ_TIMEOUT_SECONDS", "soon"),
    ("FAILOVER_LOG_LEVEL", "LOUD"),
    ("FAILOVER_OPERATIONS", "drill,explode"),
    ("FAILOVER_OPERATIONS", "failover"),
    ("FAILOVER_OPERATIONS", " , "),
]


@pytest.mark.parametrize(("variable", "value"), BAD_VALUES)
def test_invalid_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load({variable: value})
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}: ")
    assert isinstance(info.value, FailoverError)


def test_endpoint_credentials_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        load({"EBS_ENDPOINT": "http://admin:hunter2-secret@127.0.0.1:8765"})
    assert info.value.variable == "EBS_ENDPOINT"
    assert "hunter2" not in str(info.value)


def test_settings_are_frozen_and_hashable() -> None:
    a = load({"FAILOVER_TAGS": "b=2,a=1", "FAILOVER_ALARM_REGION_MAP": '{"r": "cn-hangzhou"}'})
    b = load({"FAILOVER_TAGS": "a=1,b=2", "FAILOVER_ALARM_REGION_MAP": '{"r": "cn-hangzhou"}'})
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    with pytest.raises(ValidationError):
        a.mode = "plan-only"  # type: ignore[misc]

    @functools.cache
    def cached(settings: Settings) -> int:
        return settings.max_targets

    assert cached(a) == cached(b) == 50
    assert cached.cache_info().hits == 1


def test_level_at_least() -> None:
    s = load({"FAILOVER_MIN_LEVEL": "WARN"})
    assert s.level_at_least("CRITICAL") and s.level_at_least("WARN")
    assert not s.level_at_least("INFO") and not s.level_at_least(None) and not s.level_at_least("OK")


def test_operations_are_off_by_default_and_listed_in_a_fixed_order() -> None:
    from replica_failover import operations

    assert load().operations == () and load({"FAILOVER_OPERATIONS": ""}).operations == ()
    assert load({"FAILOVER_OPERATIONS": " Failback, drill ,drill"}).operations == ("drill", "failback")
    assert load({"FAILOVER_OPERATIONS": "drill,undo,reprotect,failback"}).operations == operations.NAMES
    assert set(operations.NAMES) == set(operations.ACTIONS)  # every enabled name has its module
    with pytest.raises(ConfigError, match="unknown action 'explode'"):
        load({"FAILOVER_OPERATIONS": "drill,explode"})
