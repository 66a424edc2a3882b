"""The confirmation, approval, evidence and notification settings."""

from __future__ import annotations

import logging

import pytest
from replica_failover import redact
from replica_failover.config import Settings, load_secrets, load_settings
from replica_failover.confirm.policy import DEFAULT_POLICY, Policy
from replica_failover.errors import ConfigError

BASE = {"FAILOVER_PRIMARY_REGIONS": "cn-hangzhou"}
SECRET = "approval-secret-abcdef0123456789"
ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=robot-token-0123456789abcdef"


def load(extra: dict[str, str] | None = None) -> Settings:
    return load_settings({**BASE, **(extra or {})}, function_region="cn-shanghai")


def test_defaults() -> None:
    s = load()
    assert s.confirm == str(Policy(DEFAULT_POLICY))
    assert (s.evidence_window_minutes, s.evidence_timeout_seconds) == (10, 3.0)
    assert (s.evidence_site_task_id, s.evidence_availability_below, s.cms_endpoint) == (None, 90.0, None)
    assert (s.notify_dingtalk, s.notify_webhook) == (False, False)


def test_policy_is_parsed_and_normalised_at_load() -> None:
    s = load({"FAILOVER_CONFIRM": "ALARM AND (probe OR events>=5)"})
    assert s.confirm == "alarm and (probe or events>=5)"


def test_bad_policy_names_variable_and_position() -> None:
    with pytest.raises(ConfigError) as info:
        load({"FAILOVER_CONFIRM": "alarm and probez"})
    assert info.value.variable == "FAILOVER_CONFIRM"
    assert "unknown term 'probez'" in str(info.value) and "position 10" in str(info.value)


def test_approve_mode_needs_a_long_enough_secret() -> None:
    with pytest.raises(ConfigError, match="FAILOVER_APPROVAL_SECRET: is required when FAILOVER_MODE=approve"):
        load({"FAILOVER_MODE": "approve"})
    with pytest.raises(ConfigError) as info:
        load({"FAILOVER_MODE": "approve", "FAILOVER_APPROVAL_SECRET": "short-s3cret"})
    assert "short-s3cret" not in str(info.value) and "at least 16" in str(info.value)
    s = load({"FAILOVER_MODE": "Approve", "FAILOVER_APPROVAL_SECRET": SECRET})
    assert s.mode == "approve"
    assert SECRET not in s.model_dump_json() and SECRET not in repr(s)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("FAILOVER_EVIDENCE_WINDOW_MINUTES", "0", "greater than or equal to 1"),
        ("FAILOVER_EVIDENCE_WINDOW_MINUTES", "ten", "must be an integer"),
        ("FAILOVER_EVIDENCE_TIMEOUT_SECONDS", "31", "less than or equal to 30"),
        ("FAILOVER_EVIDENCE_TIMEOUT_SECONDS", "nan", "finite"),
        ("FAILOVER_EVIDENCE_SITE_TASK_ID", "bad id!", "should match pattern"),
        ("FAILOVER_EVIDENCE_AVAILABILITY_BELOW", "101", "less than or equal to 100"),
        ("CMS_ENDPOINT", "http://user:pw@host/path", "must look like http(s)://host[:port]"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load({name: value})
    assert info.value.variable == name
    assert fragment in str(info.value)
    if name == "CMS_ENDPOINT":
        assert "pw" not in str(info.value)


def test_notification_settings_validated_without_echo() -> None:
    with pytest.raises(ConfigError) as info:
        load({"FAILOVER_NOTIFY_DINGTALK_URL": "https://oapi.dingtalk.com/robot/send?token=tok-9876543210"})
    assert info.value.variable == "FAILOVER_NOTIFY_DINGTALK_URL" and "tok-9876543210" not in str(info.value)
    with pytest.raises(ConfigError, match="FAILOVER_NOTIFY_WEBHOOK_URL: must be an http"):
        load({"FAILOVER_NOTIFY_WEBHOOK_URL": "ftp://hooks.example.com/x"})
    with pytest.raises(ConfigError, match="FAILOVER_NOTIFY_DINGTALK_SECRET: is set but"):
        load({"FAILOVER_NOTIFY_DINGTALK_SECRET": "SECabcdef0123456789"})
    s = load({"FAILOVER_NOTIFY_DINGTALK_URL": ROBOT, "FAILOVER_NOTIFY_WEBHOOK_URL": "https://hooks.example.com/T/B/x"})
    assert (s.notify_dingtalk, s.notify_webhook) == (True, True)
    assert "robot-token" not in s.model_dump_json()


def test_secrets_are_loaded_apart_and_masked_everywhere(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        **BASE,
        "FAILOVER_APPROVAL_SECRET": SECRET,
        "FAILOVER_NOTIFY_DINGTALK_URL": ROBOT,
        "FAILOVER_NOTIFY_DINGTALK_SECRET": "SECdingtalk-signing-secret-0001",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    load_settings(env, function_region="cn-shanghai")
    secrets = load_secrets(env)
    assert secrets.approval_secret == SECRET and secrets.dingtalk_url == ROBOT
    assert SECRET not in repr(secrets) and "SECdingtalk" not in repr(secrets)
    text = f"approval {SECRET} robot {ROBOT} sign SECdingtalk-signing-secret-0001"
    clean = redact.redact_text(text)
    assert SECRET not in clean and ROBOT not in clean and "SECdingtalk-signing-secret-0001" not in clean
    redact.install_logging()
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("leak %s", SECRET)
    assert SECRET not in caplog.text
