"""The function through FC: the webhook's async hand-off, FC re-invocation after a timeout, `invoke`."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import fc2
import pytest
from typer.testing import CliRunner

from chaos.cli import app
from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, DEFAULT_STS_SECURITY_TOKEN
from chaos.emulator.ebs.models import FleetSpec
from chaos.emulator.faults import FaultRule
from chaos.emulator.fc import FunctionSpec, make_context
from chaos.template import load_handler, read_template
from tests.conftest import DR, PRIMARY, seed_basic
from tests.function.conftest import TRUST_SIGNAL

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = read_template(ROOT / "template.yml")
SECRET = "s3cr3t-webhook-token-for-tests"


def register_failover(emulator: Emulator, endpoint: str, **env: str) -> FunctionSpec:
    fn = TEMPLATE["failover"]
    spec = fn.spec(
        {
            "EBS_ENDPOINT": f"http://{endpoint}",
            "CMS_ENDPOINT": f"http://{endpoint}",
            "FAILOVER_CONFIRM": TRUST_SIGNAL,
            "FAILOVER_VERIFY": "false",
            "FAILOVER_DEADLINE_MARGIN_SECONDS": "1",
            **env,
        }
    )
    from chaos.template import ensure_importable

    ensure_importable(fn.code_uri)
    emulator.fc.register(spec)
    return spec


def effects(emulator: Emulator) -> Counter[str]:
    return Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"])


def call_webhook(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch, body: bytes, token: str | None
) -> tuple[int, dict[str, Any]]:
    fn = TEMPLATE["webhook"]
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("FC_ENDPOINT", f"http://{endpoint}")
    handler = load_handler(fn)
    config = emulator.config()
    context = make_context(
        fn.spec(),
        request_id="wh-1",
        credential=config.credential(config.function_role_access_key_id),
        region=DR,
        account_id=config.account_id,
    )
    status: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "QUERY_STRING": f"token={token}" if token is not None else "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "fc.context": context,
    }
    out = b"".join(handler(environ, lambda s, h, e=None: status.append(s)))
    return int(status[0].split()[0]), json.loads(out)


FORM_ALERT = (ROOT / "events" / "threshold-alert.form.txt").read_bytes().strip()


def test_webhook_hands_the_alarm_to_the_function_asynchronously(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_basic(emulator)
    register_failover(emulator, endpoint)
    code, body = call_webhook(emulator, endpoint, monkeypatch, FORM_ALERT, SECRET)
    assert code == 202 and body["accepted"] is True
    assert emulator.fc.wait_idle(30)
    (inv,) = emulator.fc.invocations()
    assert inv["type"] == "Async" and inv["status"] == "Succeeded" and inv["function"] == "failover"
    assert effects(emulator) == Counter({"pair-0": 1, "pair-1": 1, "pair-2": 1, "pg-1": 1})


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET + "x"])
def test_webhook_rejects_missing_or_wrong_secret(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    seed_basic(emulator)
    register_failover(emulator, endpoint)
    code, body = call_webhook(emulator, endpoint, monkeypatch, FORM_ALERT, token)
    assert code == 401 and "token" in body["error"]
    assert emulator.fc.invocations() == [] and emulator.ledger.snapshot()["requests"] == []


def test_webhook_with_no_configured_secret_fails_closed(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_failover(emulator, endpoint)
    monkeypatch.setattr("os.environ", {**__import__("os").environ, "WEBHOOK_SECRET": ""})
    fn = TEMPLATE["webhook"]
    handler = load_handler(fn)
    status: list[str] = []
    environ = {"REQUEST_METHOD": "POST", "QUERY_STRING": "token=", "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO()}
    handler(environ, lambda s, h, e=None: status.append(s))
    assert status == ["401 Unauthorized"] and emulator.fc.invocations() == []


def test_webhook_refuses_garbage_without_invoking(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_failover(emulator, endpoint)
    code, _ = call_webhook(emulator, endpoint, monkeypatch, b"\xff\xfe not a form", SECRET)
    assert code == 400 and emulator.fc.invocations() == []


def test_fc_reinvocation_after_a_function_timeout_adds_no_second_effect(emulator: Emulator, endpoint: str) -> None:
    """FC kills nothing here: the timed-out attempt keeps running while FC's async retry starts.
    The shared ClientTokens (and state) keep it at one effect per pair."""
    emulator.backend.generate(FleetSpec(pairs=16, routes=[(PRIMARY, DR)], seed=5))
    # each failover call takes 300 ms: with concurrency 2, 16 pairs need ~2.4 s; the function times out at 1.5 s
    emulator.faults.set(
        [FaultRule(action="FailoverDiskReplicaPair", latency_ms=300)], emulator.clock.now(), emulator.config().seed
    )
    spec = register_failover(emulator, endpoint, FAILOVER_CONCURRENCY="2", FAILOVER_DEADLINE_MARGIN_SECONDS="0")
    emulator.fc.register(spec.model_copy(update={"timeout": 1.5, "max_async_retry_attempts": 4}))
    client = fc2.Client(
        endpoint=f"http://{endpoint}",
        accessKeyID=DEFAULT_STS_ACCESS_KEY_ID,
        accessKeySecret=DEFAULT_STS_ACCESS_KEY_SECRET,
        securityToken=DEFAULT_STS_SECURITY_TOKEN,
        Timeout=10,
    )
    event = (ROOT / "events" / "threshold-alert.json").read_bytes()
    resp = client.invoke_function(
        "replica-failover", "failover", payload=event, headers={"x-fc-invocation-type": "Async"}
    )
    assert resp.headers["X-Fc-Request-Id"]
    assert emulator.fc.wait_idle(60)
    (inv,) = emulator.fc.invocations()
    outcomes = [a["outcome"] for a in inv["attempts"]]
    assert outcomes[0] in ("Timeout", "Error") and inv["status"] == "Succeeded", inv
    counts = effects(emulator)
    assert len(counts) == 16 and set(counts.values()) == {1}


def test_invoke_command_runs_the_template_function(emulator: Emulator, endpoint: str) -> None:
    seed_basic(emulator)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "invoke",
            "--event",
            str(ROOT / "events" / "manual-plan.json"),
            "--endpoint",
            f"http://{endpoint}",
            "--template",
            str(ROOT / "template.yml"),
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["status"] == "planned" and result["summary"]["pending"] == 4
    assert [r for r in emulator.ledger.snapshot()["requests"] if r["action"].startswith("Failover")] == []
    res = runner.invoke(
        app,
        [
            "invoke",
            "--event",
            str(ROOT / "events" / "manual-failover.json"),
            "--endpoint",
            f"http://{endpoint}",
            "--template",
            str(ROOT / "template.yml"),
            "--env",
            "FAILOVER_VERIFY=false",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["summary"]["failedOver"] == 4
    assert sum(effects(emulator).values()) == 4


def test_invoke_command_reports_bad_configuration(emulator: Emulator, endpoint: str) -> None:
    res = CliRunner().invoke(
        app,
        [
            "invoke",
            "--event",
            str(ROOT / "events" / "manual-plan.json"),
            "--endpoint",
            f"http://{endpoint}",
            "--template",
            str(ROOT / "template.yml"),
            "--env",
            "FAILOVER_PRIMARY_REGIONS=not a region",
        ],
    )
    assert res.exit_code == 1
    assert "FAILOVER_PRIMARY_REGIONS" in json.loads(res.stdout)["errorMessage"]
    assert emulator.ledger.snapshot()["requests"] == []
