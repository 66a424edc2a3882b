"""The function's JSON-lines logger: one object per line, secrets masked wherever they sit."""

from __future__ import annotations

import io
import json

import pytest
from replica_failover.log import JsonLogger


@pytest.mark.parametrize(
    "fields",
    [
        {"accessKeySecret": "s3cr3t"},
        {"credentials": {"security_token": "s3cr3t"}},
        {"headers": [{"ok": 1}, {"Authorization": "s3cr3t"}]},
        {"result": {"targets": [{"id": "rp-1", "nested": ({"x-fc-access-key-secret": "s3cr3t"},)}]}},
    ],
)
def test_a_secret_anywhere_in_a_record_is_masked(fields: dict[str, object]) -> None:
    out = io.StringIO()
    JsonLogger("INFO", out, requestId="r-1").info("event", **fields)
    line = out.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert "s3cr3t" not in line and "***" in line
    assert json.loads(line)["requestId"] == "r-1"


def test_a_record_without_secrets_is_written_as_is() -> None:
    out = io.StringIO()
    targets = [{"id": f"rp-{i}", "clientToken": "rf1-abc", "errors": ["RequestTimeout"]} for i in range(3)]
    JsonLogger("INFO", out).info("result", result={"targets": targets})
    assert json.loads(out.getvalue())["result"] == {"targets": targets}


def test_below_the_threshold_nothing_is_written() -> None:
    out = io.StringIO()
    JsonLogger("WARNING", out).info("chatty", n=1)
    assert out.getvalue() == ""


def test_a_registered_value_is_masked_in_any_field_and_any_encoding() -> None:
    from replica_failover.redact import register

    value = "log-test/secret+value=1"
    register(value)
    out = io.StringIO()
    JsonLogger("INFO", out).info(
        "event", note=f"raw {value}", url="http://h/?x=log-test%2Fsecret%2Bvalue%3D1&y=2", nested=[{"deep": value}]
    )
    line = out.getvalue()
    assert "log-test" not in line
    doc = json.loads(line)
    assert doc["note"] == "raw ***" and doc["url"] == "http://h/?x=***&y=2" and doc["nested"] == [{"deep": "***"}]


def test_signed_url_fragments_are_masked_and_the_cause_is_kept() -> None:
    out = io.StringIO()
    error = (
        "HTTPConnectionPool(host='h', port=1): Max retries exceeded with url: /?Action=X&AccessKeyId=LTAInotregd0"
        "&SecurityToken=CAISnotregd%2B0&Signature=c2ln%3D (Caused by NewConnectionError: Connection refused)"
    )
    JsonLogger("INFO", out).info("retry", error=error)
    doc = json.loads(out.getvalue())
    assert "notregd" not in doc["error"] and "c2ln" not in doc["error"]
    assert doc["error"].endswith("Signature=*** (Caused by NewConnectionError: Connection refused)")
