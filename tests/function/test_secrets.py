"""Secrets never leave: canary credentials driven through every failure path, then searched for everywhere.

The function runs with unique canary keys (an STS key id, secret and token the emulator accepts, and a
canary WEBHOOK_SECRET). Each test makes a call fail the way production calls fail - refused, unresolvable,
reset, timed out, badly signed, FC answering 4xx/5xx - through the real SDK clients on 127.0.0.1, and
then looks for the canaries, and for any ``Signature=``/``SecurityToken=`` with a value, in stdout,
stderr, every root-logger record (DEBUG and up, as the container's root handler would write them), the
function's JSON log lines, results, FC error bodies and game-day report files.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_localserver.http import ContentServer
from replica_failover import redact
from replica_failover.handler import PendingWork
from replica_failover.log import JsonLogger
from typer.testing import CliRunner

from chaos.cli import app
from chaos.emulator.app import Emulator
from chaos.emulator.config import default_credentials
from chaos.emulator.faults import FaultRule
from chaos.emulator.fc import make_context
from chaos.invoke import post_to_http_function
from chaos.template import ensure_importable, load_handler, read_template
from tests.conftest import DR, seed_basic
from tests.function.conftest import base_env, fc_context

ROOT = Path(__file__).resolve().parents[2]
ensure_importable(ROOT / "functions" / "failover")  # the FC entry modules are top-level there

import container_server as cs  # noqa: E402
import index  # noqa: E402

TEMPLATE = read_template(ROOT / "template.yml")
EVENT = (ROOT / "events" / "manual-failover.json").read_bytes()

CANARY_AK = "STS.CanaryKeyId7f3a9c01"
CANARY_SK = "canary-secret-b81d4e0c2a55"
CANARY_TOKEN = "CAIS-canary/token+5e29d7a1c4=="  # '/', '+', '=': URL-encoded in a query, raw in a header
CANARY_WEBHOOK = "canary-webhook-93b1f0e2"
CANARIES = (CANARY_AK, CANARY_SK, CANARY_TOKEN, CANARY_WEBHOOK)
ENCODED = tuple(c.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D") for c in CANARIES)
# a signed-request parameter that still carries a value
SIGNED = re.compile(
    r"(?i)(?<![A-Za-z])(SecurityToken|Signature|AccessKeyId|AccessKeySecret)(=|%3D|%253D)(?!\*\*\*)[^&\s\"'\\,]"
)


def leaks(text: str) -> list[str]:
    found = [c for c in (*CANARIES, *ENCODED) if c in text]
    found += [m.group(0) for m in SIGNED.finditer(text)]
    return found


class Outputs:
    """Everything the process wrote: stdout/stderr (capfd), root-logger records, extra texts."""

    def __init__(self, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, root: io.StringIO):
        self.capfd, self.caplog, self.root = capfd, caplog, root
        self.texts: list[str] = []

    def add(self, *items: Any) -> None:
        for item in items:
            self.texts.append(item if isinstance(item, str) else json.dumps(item, default=str))

    def records(self, logger: str) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name.startswith(logger)]

    def assert_clean(self) -> None:
        out, err = self.capfd.readouterr()
        where = {
            "stdout": out,
            "stderr": err,
            "root log (container format)": self.root.getvalue(),
            "caplog": self.caplog.text,
            "records": "\n".join(r.getMessage() for r in self.caplog.records),
            **{f"output {i}": t for i, t in enumerate(self.texts)},
        }
        dirty = {name: leaks(text) for name, text in where.items() if leaks(text)}
        assert dirty == {}


@pytest.fixture
def outputs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[Outputs]:
    redact.install_logging()  # what index.py / container_server / invoke do at start
    caplog.set_level(logging.DEBUG)
    # a game day (chaos.cli) quiets the SDK for the whole process: these tests need its ERROR records
    sdk = logging.getLogger("aliyunsdkcore")
    saved = sdk.level
    sdk.setLevel(logging.DEBUG)
    # the container server's root handler, as configure_root_logging() installs it
    root_text = io.StringIO()
    handler = logging.StreamHandler(root_text)
    handler.setFormatter(cs._JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        yield Outputs(capfd, caplog, root_text)
    finally:
        logging.getLogger().removeHandler(handler)
        sdk.setLevel(saved)


@pytest.fixture
def canary(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator accepts the canary STS key and hands it to functions as their role's credentials."""
    creds = [c.model_dump(by_alias=True) for c in default_credentials()]
    creds.append({"accessKeyId": CANARY_AK, "accessKeySecret": CANARY_SK, "securityToken": CANARY_TOKEN})
    emulator.update_config({"credentials": creds, "functionRoleAccessKeyId": CANARY_AK})
    monkeypatch.setenv("WEBHOOK_SECRET", CANARY_WEBHOOK)
    seed_basic(emulator)
    return emulator


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_function(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, endpoint: str, **env: str
) -> tuple[dict[str, Any], list[Any]]:
    """index.handler as FC calls it, env from os.environ; returns (result, [what else it produced])."""
    for key, value in base_env(endpoint, FAILOVER_MAX_ATTEMPTS="3", FAILOVER_VERIFY="false", **env).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("EBS_ENDPOINT", endpoint if "://" in endpoint else f"http://{endpoint}")
    try:
        return json.loads(index.handler(EVENT, fc_context(emulator))), []
    except PendingWork as exc:
        # FC's answer to a raised handler: the container server's error body
        return exc.result, [str(exc), cs.error_body(exc)]


def reasons(result: dict[str, Any]) -> str:
    return " | ".join([result["reason"], *(t["reason"] for t in result.get("targets", []))])


# ------------------------------------------------------------------------------ the ebs failure paths


def test_connection_refused_reads_as_such_and_leaks_nothing(
    canary: Emulator, monkeypatch: pytest.MonkeyPatch, outputs: Outputs
) -> None:
    port = closed_port()
    result, extra = run_function(canary, monkeypatch, f"127.0.0.1:{port}")
    assert result["status"] == "pending"
    assert f"connect to 127.0.0.1:{port}: Connection refused" in result["reason"]
    # the SDK's own ERROR line (it carries the signed request URL) was written, masked
    sdk = [m for m in outputs.records("aliyunsdkcore") if "HttpError occurred" in m]
    assert sdk and all("Signature=***" in m and "SecurityToken=***" in m for m in sdk)
    outputs.add(result, *extra)
    outputs.assert_clean()


def test_name_resolution_failure_reads_as_such_and_leaks_nothing(
    canary: Emulator, monkeypatch: pytest.MonkeyPatch, outputs: Outputs
) -> None:
    real = socket.getaddrinfo

    def no_dns_for_invalid(host: Any, *args: Any, **kwargs: Any) -> Any:
        # .invalid never resolves (RFC 6761); answering here keeps the test off the network
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns_for_invalid)
    result, extra = run_function(canary, monkeypatch, "ebs.canary.invalid")
    assert "connect to ebs.canary.invalid: name resolution failed" in result["reason"]
    outputs.add(result, *extra)
    outputs.assert_clean()


@pytest.mark.parametrize(
    ("rule", "env", "cause"),
    [
        # an RST before the request is read shows as a reset, after it as a connection closed unanswered
        ({"reset": True}, {}, r": connection (reset by peer|closed without a response)$"),
        ({"hangMs": 1500}, {"FAILOVER_READ_TIMEOUT_SECONDS": "0.3"}, r": read timeout after 0\.3 s$"),
    ],
    ids=["reset", "read-timeout"],
)
def test_reset_and_read_timeout_read_as_such_and_leak_nothing(
    canary: Emulator,
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    outputs: Outputs,
    rule: dict[str, Any],
    env: dict[str, str],
    cause: str,
) -> None:
    canary.faults.set([FaultRule.model_validate({"action": "DescribeDiskReplicaGroups", **rule})], 0.0, 0)
    result, extra = run_function(canary, monkeypatch, endpoint, **env)
    assert result["status"] == "pending"
    assert re.search(cause, result["reason"]), result["reason"]
    outputs.add(result, *extra)
    outputs.assert_clean()


def test_a_bad_signature_leaks_nothing(
    canary: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch, outputs: Outputs
) -> None:
    # the emulator holds another secret for the canary key: every call is signed wrongly
    creds = [c.model_dump(by_alias=True) for c in default_credentials()]
    creds.append({"accessKeyId": CANARY_AK, "accessKeySecret": "the-real-secret-0000", "securityToken": CANARY_TOKEN})
    context = fc_context(canary)  # made before the change: it carries CANARY_SK
    canary.update_config({"credentials": creds})
    for key, value in base_env(endpoint, FAILOVER_VERIFY="false").items():
        monkeypatch.setenv(key, value)
    result = json.loads(index.handler(EVENT, context))
    assert result["status"] == "failed"
    assert "SignatureDoesNotMatch" in reasons(result) or "InvalidAccessKeySecret" in reasons(result)
    outputs.add(result)
    outputs.assert_clean()


def test_a_string_to_sign_echo_is_masked_by_pattern() -> None:
    """The gateway's SignatureDoesNotMatch message, with keys this process never registered."""
    sts = (
        "POST&%2F&AccessKeyId%3DLTAIunregistered01%26Action%3DDescribeDiskReplicaPairs%26Format%3DJSON"
        "%26SecurityToken%3DCAISunregistered%252Btoken%26Signature%3Dabc%26SignatureMethod%3DHMAC-SHA1"
    )
    message = f"Specified signature is not matched with our calculation. server string to sign is:{sts}"
    clean = redact.redact_text(message)
    assert "unregistered" not in clean
    assert "AccessKeyId%3D***%26Action%3DDescribeDiskReplicaPairs" in clean
    assert clean.startswith("Specified signature is not matched")


@pytest.mark.parametrize(
    ("text", "secrets", "kept"),
    [
        (
            "GET https://ebs.cn-shanghai.aliyuncs.com/?Action=X&AccessKeyId=LTAIabc123456&Signature=q%2Bz%3D&Tz=1",
            ["LTAIabc123456", "q%2Bz"],
            ["?Action=X&AccessKeyId=***&Signature=***&Tz=1"],
        ),
        (
            "{'x-fc-security-token': 'CAISsecret-token', 'authorization': 'FC STS.abc:c2lnbmF0dXJl', 'date': 'x'}",
            ["CAISsecret-token", "STS.abc", "c2lnbmF0dXJl"],
            ["'x-fc-security-token': '***'", "'authorization': '***'", "'date': 'x'"],
        ),
        ('{"X-Acs-Security-Token":"CAISsecret-token","x-acs-date":"2026"}', ["CAISsecret"], ['"x-acs-date":"2026"']),
        (
            "Authorization: ACS3-HMAC-SHA256 Credential=LTAIabc123456,SignedHeaders=host,Signature=9f86d081884c7d65",
            ["LTAIabc123456", "9f86d081884c7d65"],
            ["SignedHeaders=host"],
        ),
        ("x-fc-access-key-secret: plain-secret-value\nhost: fc", ["plain-secret"], ["\nhost: fc"]),
    ],
    ids=["query", "dict-repr", "json", "acs3-header", "header-dump"],
)
def test_headers_and_signed_urls_are_masked_by_pattern(text: str, secrets: list[str], kept: list[str]) -> None:
    clean = redact.redact_text(text)
    assert [s for s in secrets if s in clean] == []
    assert [k for k in kept if k not in clean] == []


# ------------------------------------------------------------------------------ the container server


def test_the_container_server_masks_its_logs_and_error_bodies(
    canary: Emulator, monkeypatch: pytest.MonkeyPatch, outputs: Outputs
) -> None:
    for key, value in base_env(f"127.0.0.1:{closed_port()}", FAILOVER_MAX_ATTEMPTS="2").items():
        monkeypatch.setenv(key, value)
    log = io.StringIO()
    server_app = cs.ContainerApp(handler="index.handler", log=cs.JsonLog(log))
    headers = [
        ("x-fc-request-id", "req-canary"),
        ("x-fc-access-key-id", CANARY_AK),
        ("x-fc-access-key-secret", CANARY_SK),
        ("x-fc-security-token", CANARY_TOKEN),
        ("x-fc-function-timeout", "30"),
        ("x-fc-region", DR),
    ]
    request = cs.Request("POST", "/invoke", headers, EVENT)
    response = server_app.handle(request, "invoke", cs.build_context(request.lower_headers))
    body = json.loads(response.body)
    assert response.status == 404 and body["errorType"] == "PendingWork"
    assert "Connection refused" in body["errorMessage"]
    outputs.add(response.body.decode(), log.getvalue())
    outputs.assert_clean()


def test_an_error_body_is_masked_whatever_the_exception_says() -> None:
    redact.register(CANARY_SK)
    body = cs.error_body(RuntimeError(f"boom at http://h/?Signature=abc&x=1 with {CANARY_SK}"))
    assert leaks(json.dumps(body)) == []
    assert body["errorMessage"].startswith("boom at http://h/?Signature=***&x=1")


# ------------------------------------------------------------------------------ FC through the webhook


def call_webhook(emulator: Emulator, fc_endpoint: str, monkeypatch: pytest.MonkeyPatch, token: str) -> Any:
    fn = TEMPLATE["webhook"]
    monkeypatch.setenv("FC_ENDPOINT", fc_endpoint)
    config = emulator.config()
    context = make_context(
        fn.spec(),
        request_id="wh-canary",
        credential=config.credential(config.function_role_access_key_id),
        region=DR,
        account_id=config.account_id,
    )
    body = (ROOT / "events" / "threshold-alert.form.txt").read_bytes().strip()
    return post_to_http_function(load_handler(fn), body, context, token=token)


def test_the_webhook_leaks_nothing_when_fc_answers_4xx(
    canary: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch, outputs: Outputs
) -> None:
    # no function is registered in the emulator's FC: 404 ServiceNotFound, answered to a signed request
    status, payload = call_webhook(canary, f"http://{endpoint}", monkeypatch, CANARY_WEBHOOK)
    assert status == 502
    forged = call_webhook(canary, f"http://{endpoint}", monkeypatch, "not-the-secret")
    assert forged[0] == 401
    outputs.add(payload, forged[1])
    outputs.assert_clean()


def test_the_webhook_leaks_nothing_when_fc_answers_5xx(
    canary: Emulator, monkeypatch: pytest.MonkeyPatch, outputs: Outputs
) -> None:
    fc = ContentServer(host="127.0.0.1", port=0)
    fc.start()
    try:
        fc.serve_content(
            json.dumps({"ErrorCode": "ServiceUnavailable", "ErrorMessage": "try later"}),
            code=503,
            headers={"Content-Type": "application/json", "X-Fc-Request-Id": "fc-503"},
        )
        status, payload = call_webhook(canary, fc.url, monkeypatch, CANARY_WEBHOOK)
    finally:
        fc.stop()
    assert status == 502
    outputs.add(payload)
    outputs.assert_clean()


# ------------------------------------------------------------------------------ CLI: invoke, game day


def test_replica_failover_invoke_leaks_nothing(
    canary: Emulator, monkeypatch: pytest.MonkeyPatch, outputs: Outputs
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", CANARY_AK)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", CANARY_SK)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", CANARY_TOKEN)
    res = CliRunner().invoke(
        app,
        [
            "invoke", "--event", str(ROOT / "events" / "manual-failover.json"),
            "--endpoint", f"http://127.0.0.1:{closed_port()}", "--template", str(ROOT / "template.yml"),
            "--env", "FAILOVER_MAX_ATTEMPTS=2", "--env", "FAILOVER_PRIMARY_REGIONS=cn-hangzhou,cn-beijing",
        ],
    )  # fmt: skip
    assert res.exit_code == 3, res.output
    assert "Connection refused" in json.loads(res.stdout)["reason"]
    outputs.add(res.stdout, res.stderr)
    outputs.assert_clean()


def run_canary_game_day(tmp_path: Path) -> tuple[Any, list[Path]]:
    """``replica-failover gameday run`` of the region-outage scenario, the function's role holding the
    canary key, delivered through the emulator's FC (fc-sync) so the function gets it in its context."""
    source = ROOT / "chaos" / "scenarios" / "region-outage.yaml"
    doc = yaml.safe_load(source.read_text())
    creds = [c.model_dump(by_alias=True) for c in default_credentials()]
    creds.append({"accessKeyId": CANARY_AK, "accessKeySecret": CANARY_SK, "securityToken": CANARY_TOKEN})
    doc["emulator"] = {**doc.get("emulator", {}), "credentials": creds, "functionRoleAccessKeyId": CANARY_AK}
    # the first listing is reset: the function retries, logging the error, and the reports hold it
    faults = doc.setdefault("method", {}).setdefault("faults", [])
    faults.insert(0, {"action": "DescribeDiskReplicaGroups", "reset": True, "count": 1})
    doc["trigger"]["channel"] = "fc-sync"
    scenario = tmp_path / "canary-outage.yaml"
    scenario.write_text(yaml.safe_dump(doc))
    reports = tmp_path / "reports"
    res = CliRunner().invoke(app, ["gameday", "run", str(scenario), "--report-dir", str(reports)])
    # 1 is a violated expectation (the reset may cost one); 2 or an exception means the run broke
    assert res.exit_code in (0, 1) and isinstance(res.exception, SystemExit | None), (res.output, res.exception)
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"report.json", "function-log.jsonl"}
    log_text = (reports / "canary-outage" / "function-log.jsonl").read_text()
    assert '"event":"retry"' in log_text  # the fault fired and the error was logged
    return res, files


def test_a_game_day_with_canary_credentials_leaks_nothing(tmp_path: Path, outputs: Outputs) -> None:
    res, files = run_canary_game_day(tmp_path)
    outputs.add(res.stdout, res.stderr)
    for path in files:
        text = path.read_text(errors="replace")
        if path.name != "function-log.jsonl":  # see the next test: reports name the caller's key id
            text = text.replace(CANARY_AK, "<key id, see below>")
        outputs.add(text)
    outputs.assert_clean()


def test_game_day_reports_do_not_name_the_functions_access_key_id(tmp_path: Path) -> None:
    _, files = run_canary_game_day(tmp_path)
    assert [p.name for p in files if CANARY_AK in p.read_text(errors="replace")] == []


# ------------------------------------------------------------------------------ the logger's cost


def test_a_secret_value_in_a_large_record_is_masked_and_the_line_stays_json() -> None:
    redact.register(CANARY_TOKEN)
    targets = [{"id": f"pair-{i}", "reason": "ok"} for i in range(2000)]
    targets[1234]["reason"] = f"echo SecurityToken={CANARY_TOKEN.replace('/', '%2F')}&x=1 and {CANARY_TOKEN}"
    out = io.StringIO()
    JsonLogger("INFO", out).info("result", result={"targets": targets})
    line = out.getvalue()
    assert leaks(line) == []
    parsed = json.loads(line)
    assert parsed["result"]["targets"][1234]["reason"] == "echo SecurityToken=***&x=1 and ***"
    assert parsed["result"]["targets"][0] == {"id": "pair-0", "reason": "ok"}
