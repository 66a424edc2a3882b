"""The webhook: only threshold-alert callbacks pass, every refusal invokes nothing, and the hand-off to FC
is one bounded request (refused, hanging and 4xx FC each answer 502 in about the budget or less)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from alibabacloud_fc20230330 import models as fc3_models
from alibabacloud_fc20230330.client import Client as Fc3Client
from alibabacloud_tea_openapi.utils_models import Config as Fc3Config
from pytest_localserver.http import ContentServer

from chaos.emulator.app import Emulator
from chaos.emulator.fc import make_context
from chaos.template import ensure_importable, load_handler, read_template
from tests.conftest import DR, seed_basic
from tests.function.conftest import TRUST_SIGNAL

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TEMPLATE = read_template(ROOT / "template.yml")
SECRET = "s3cr3t-webhook-token-for-tests"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
FORM_ALERT = (EVENTS / "threshold-alert.form.txt").read_bytes().strip()
JSON_ALERT = (EVENTS / "threshold-alert.json").read_bytes()

ensure_importable(TEMPLATE["webhook"].code_uri)
import webhook  # noqa: E402  (importable only once the function's code dir is on sys.path)

# generous: the budget plus scheduling noise on a shared machine; the point is "not ~30 s"
BOUND = webhook.INVOKE_BUDGET + 3.0


def register_failover(emulator: Emulator, endpoint: str) -> None:
    fn = TEMPLATE["failover"]
    spec = fn.spec({"EBS_ENDPOINT": f"http://{endpoint}", "FAILOVER_VERIFY": "false"})
    ensure_importable(fn.code_uri)
    emulator.fc.register(spec)


def call(
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    fc_endpoint: str,
    body: bytes,
    content_type: str = FORM,
    *,
    content_length: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], float]:
    """POST ``body`` to the webhook handler in-process; returns (status, JSON answer, seconds taken)."""
    fn = TEMPLATE["webhook"]
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("FC_ENDPOINT", fc_endpoint)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    handler = load_handler(fn)
    config = emulator.config()
    context = make_context(
        fn.spec(),
        request_id="wh-test",
        credential=config.credential(config.function_role_access_key_id),
        region=DR,
        account_id=config.account_id,
    )
    environ = {
        "REQUEST_METHOD": "POST",
        "QUERY_STRING": f"token={SECRET}",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
        "wsgi.input": io.BytesIO(body),
        "fc.context": context,
    }
    status: list[str] = []
    started = time.monotonic()
    out = b"".join(handler(environ, lambda s, h, e=None: status.append(s)))
    return int(status[0].split()[0]), json.loads(out), time.monotonic() - started


def nothing_invoked(emulator: Emulator) -> bool:
    return emulator.fc.invocations() == [] and emulator.ledger.snapshot()["requests"] == []


# ------------------------------------------------------------------------------------------------
# what passes


@pytest.mark.parametrize(("body", "content_type"), [(FORM_ALERT, FORM), (JSON_ALERT, JSON), (JSON_ALERT, FORM)])
def test_threshold_callbacks_are_handed_on(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch, body: bytes, content_type: str
) -> None:
    seed_basic(emulator)
    register_failover(emulator, endpoint)
    code, answer, _ = call(emulator, monkeypatch, f"http://{endpoint}", body, content_type)
    assert code == 202 and answer["accepted"] is True and answer["invocationRequestId"]
    assert emulator.fc.wait_idle(30)
    (inv,) = emulator.fc.invocations()
    assert inv["type"] == "Async" and inv["status"] == "Succeeded" and inv["function"] == "failover"


# ------------------------------------------------------------------------------------------------
# what does not


def manual_with_pairs() -> bytes:
    event = json.loads((EVENTS / "manual-failover.json").read_bytes())
    event["pairIds"] = ["pair-cn-0abc42"]
    return json.dumps(event).encode()


def alert_with(**fields: str) -> dict[str, str]:
    return {**json.loads(JSON_ALERT), **fields}


NO_STATE = {k: v for k, v in json.loads(JSON_ALERT).items() if k != "alertState"}
DUPLICATE_JSON = JSON_ALERT.rstrip().rstrip(b"}") + b', "alertState": "OK"}'
DEEP = b"[" * 30_000 + b"]" * 30_000  # 60,000 bytes: under the size limit, far over the depth limit

BAD_INPUTS: list[tuple[str, bytes, str, int, str]] = [
    ("manual event", (EVENTS / "manual-failover.json").read_bytes(), JSON, 400, "unknown-shape"),
    ("manual plan", (EVENTS / "manual-plan.json").read_bytes(), JSON, 400, "unknown-shape"),
    ("manual event with pairIds", manual_with_pairs(), JSON, 400, "unknown-shape"),
    ("manual event as a form", b"action=failover&primaryRegion=cn-hangzhou&reason=x", FORM, 400, "unknown-shape"),
    ("manual event with alertState", json.dumps(alert_with(action="failover")).encode(), JSON, 400, "unknown-shape"),
    ("system event", (EVENTS / "system-event.json").read_bytes(), JSON, 400, "unknown-shape"),
    ("EventBridge event", (EVENTS / "eventbridge.json").read_bytes(), JSON, 400, "unknown-shape"),
    ("MNS notification", (EVENTS / "mns-topic.json").read_bytes(), JSON, 400, "unknown-shape"),
    ("duplicate JSON key", DUPLICATE_JSON, JSON, 400, "invalid-field"),
    ("duplicate form field", FORM_ALERT + b"&alertState=OK", FORM, 400, "invalid-field"),
    ("deep nesting", DEEP, JSON, 400, "too-deep"),
    ("deep nesting inside an alert", JSON_ALERT.rstrip().rstrip(b"}") + b', "x": ' + b"[" * 20 + b"]" * 20 + b"}",
     JSON, 400, "too-deep"),
    ("non-UTF-8", b"\xff\xfe not a form", FORM, 400, "bad-encoding"),
    ("non-UTF-8 JSON", b'{"alertState": "\xff"}', JSON, 400, "bad-encoding"),
    ("JSON array", b"[1, 2]", JSON, 400, "unknown-shape"),
    ("JSON string", b'"ALERT"', JSON, 400, "unknown-shape"),
    ("JSON null", b"null", JSON, 400, "unknown-shape"),
    ("malformed JSON", b'{"alertState": ', JSON, 400, "malformed-json"),
    ("empty body", b"", FORM, 400, "malformed-json"),
    ("missing alertState (JSON)", json.dumps(NO_STATE).encode(), JSON, 400, "invalid-field"),
    ("missing alertState (form)", b"alertName=x&ruleId=r", FORM, 400, "invalid-field"),
    ("unrelated form", b"hello=world", FORM, 400, "unknown-shape"),
    ("bad region", json.dumps(alert_with(regionId="cn-hangzhou;rm")).encode(), JSON, 400, "invalid-field"),
    ("bad dimensions", json.dumps(alert_with(dimensions="[" * 40 + "]" * 40)).encode(), JSON, 400, "too-deep"),
    ("oversize", b"alertState=ALERT&x=" + b"a" * (64 * 1024), FORM, 413, "too-large"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_inputs_are_refused_and_invoke_nothing(
    emulator: Emulator,
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    content_type: str,
    status: int,
    reason: str,
) -> None:
    register_failover(emulator, endpoint)
    code, answer, _ = call(emulator, monkeypatch, f"http://{endpoint}", body, content_type)
    assert (code, answer["reasonCode"]) == (status, reason), answer
    assert answer["error"]
    assert nothing_invoked(emulator)


def test_refusals_name_what_they_saw(emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fc = f"http://{endpoint}"
    _, manual, _ = call(emulator, monkeypatch, fc, manual_with_pairs(), JSON)
    assert "threshold-alert callbacks" in manual["error"] and "manual event" in manual["error"]
    _, system, _ = call(emulator, monkeypatch, fc, (EVENTS / "system-event.json").read_bytes(), JSON)
    assert "system event" in system["error"]
    _, dup, _ = call(emulator, monkeypatch, fc, DUPLICATE_JSON, JSON)
    assert "'alertState' appears more than once" in dup["error"]
    assert nothing_invoked(emulator)


@pytest.mark.parametrize(("length", "status"), [("12abc", 400), ("-1", 400), (str(64 * 1024 + 1), 413)])
def test_bad_content_length(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch, length: str, status: int
) -> None:
    code, answer, _ = call(emulator, monkeypatch, f"http://{endpoint}", FORM_ALERT, content_length=length)
    assert code == status and answer["error"]
    assert nothing_invoked(emulator)


# ------------------------------------------------------------------------------------------------
# FC unreachable, hanging or refusing: 502 within the budget, one request, no retries


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: bound once to get a free number, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class SilentServer:
    """Accepts TCP connections and never answers; counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the listening socket was shut down: stop
                return
            self.accepted.append(conn)

    def stop(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    srv = SilentServer()
    try:
        yield srv
    finally:
        srv.stop()
    assert not srv.thread.is_alive()


def test_fc_refusing_connections_is_a_prompt_502(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    code, answer, elapsed = call(emulator, monkeypatch, f"http://127.0.0.1:{closed_port}", FORM_ALERT)
    assert code == 502 and "failover function" in answer["error"]
    assert elapsed < BOUND, f"{elapsed:.2f} s"
    assert nothing_invoked(emulator)


def test_fc_hanging_is_a_502_after_the_budget(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, silent_server: SilentServer
) -> None:
    code, _, elapsed = call(emulator, monkeypatch, f"http://127.0.0.1:{silent_server.port}", FORM_ALERT)
    assert code == 502
    # it waited for an answer (not a connect failure) and gave up near the budget, not after ~30 s
    assert webhook.INVOKE_BUDGET - 0.5 <= elapsed < BOUND, f"{elapsed:.2f} s"
    assert len(silent_server.accepted) == 1, "one connection: no hidden retries"


def test_fc_4xx_from_the_emulator_is_a_502(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no function registered: the emulator's FC API answers 404 FunctionNotFound
    code, _, elapsed = call(emulator, monkeypatch, f"http://{endpoint}", FORM_ALERT)
    assert code == 502 and elapsed < BOUND
    assert emulator.fc.invocations() == []


@pytest.mark.parametrize(("status", "body"), [(403, b"<html>denied</html>"), (400, b'{"ErrorCode": "X"}'), (500, b"")])
def test_fc_error_answers_are_a_502_after_one_request(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, httpserver: ContentServer, status: int, body: bytes
) -> None:
    # aliyun-fc2 would crash on the non-JSON 403 body and retry connection errors; this sends one request
    httpserver.serve_content(body, code=status)
    code, answer, elapsed = call(emulator, monkeypatch, httpserver.url, FORM_ALERT)
    assert code == 502 and answer["error"] and elapsed < BOUND
    (request,) = httpserver.requests
    assert request.method == "POST"
    assert request.path.endswith("/services/replica-failover/functions/failover/invocations")
    assert request.headers["x-fc-invocation-type"] == "Async"
    assert json.loads(request.get_data())["alertState"] == "ALERT"
    assert nothing_invoked(emulator)


# ------------------------------------------------------------------------------------------------
# FC 3.0 (s.yaml): the same hand-off through alibabacloud-fc20230330, same bounds


SYAML = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
FC3_NAME: str = SYAML["resources"]["failover"]["props"]["functionName"]
FC3_ENV = {
    k: str(v)
    for k, v in SYAML["resources"]["webhook"]["props"]["environmentVariables"].items()
    if k in ("FC_API_VERSION", "FAILOVER_FUNCTION")
}


def register_failover_fc3(emulator: Emulator, endpoint: str) -> None:
    """The failover function as s.yaml deploys it: one FC 3.0 function named ``FC3_NAME``."""
    fn = TEMPLATE["failover"]
    # the hand-off is under test, not the confirmation policy: trust the alarm
    env = {"EBS_ENDPOINT": f"http://{endpoint}", "FAILOVER_VERIFY": "false", "FAILOVER_CONFIRM": TRUST_SIGNAL}
    spec = fn.spec(env)
    ensure_importable(fn.code_uri)
    emulator.fc.register(spec.model_copy(update={"service": FC3_NAME, "name": FC3_NAME}))


def test_syaml_webhook_uses_fc3() -> None:
    assert FC3_ENV == {"FC_API_VERSION": "2023-03-30", "FAILOVER_FUNCTION": FC3_NAME}


def test_fc3_alarm_in_one_async_invocation_failover_in_the_ledger(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_basic(emulator)
    register_failover_fc3(emulator, endpoint)
    code, answer, elapsed = call(emulator, monkeypatch, f"http://{endpoint}", JSON_ALERT, JSON, env=FC3_ENV)
    assert code == 202 and answer["accepted"] is True, answer
    assert elapsed < BOUND
    assert emulator.fc.wait_idle(60)
    (inv,) = emulator.fc.invocations()
    assert (inv["api"], inv["type"], inv["function"], inv["status"]) == ("2023-03-30", "Async", FC3_NAME, "Succeeded")
    assert inv["requestId"] == answer["invocationRequestId"] == inv["taskId"]
    actions = [r["action"] for r in emulator.ledger.snapshot()["requests"]]
    assert "FailoverDiskReplicaPair" in actions and "FailoverDiskReplicaGroup" in actions, actions
    # the task the webhook created, read back through FC 3.0's own API
    config = emulator.config()
    client = Fc3Client(
        Fc3Config(
            access_key_id=config.credentials[0].access_key_id,
            access_key_secret=config.credentials[0].access_key_secret,
            endpoint=endpoint,
            protocol="http",
        )
    )
    task = client.get_async_task(FC3_NAME, answer["invocationRequestId"], fc3_models.GetAsyncTaskRequest()).body
    assert task.status == "Succeeded" and json.loads(task.task_payload)["alertState"] == "ALERT"


def test_fc3_unknown_function_is_a_502(emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, answer, elapsed = call(emulator, monkeypatch, f"http://{endpoint}", FORM_ALERT, env=FC3_ENV)
    assert code == 502 and "failover function" in answer["error"] and elapsed < BOUND
    assert nothing_invoked(emulator)


def test_fc3_down_is_a_prompt_502(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    code, _, elapsed = call(emulator, monkeypatch, f"http://127.0.0.1:{closed_port}", FORM_ALERT, env=FC3_ENV)
    assert code == 502 and elapsed < BOUND, f"{elapsed:.2f} s"
    assert nothing_invoked(emulator)


def test_fc3_hanging_is_a_502_after_the_budget(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, silent_server: SilentServer
) -> None:
    code, _, elapsed = call(emulator, monkeypatch, f"http://127.0.0.1:{silent_server.port}", FORM_ALERT, env=FC3_ENV)
    assert code == 502
    # the SDK bounds connect and read separately: it waited its whole read timeout (what the budget
    # leaves after the connect timeout) for an answer, and gave up there, not after ~30 s
    read_timeout = webhook.INVOKE_BUDGET - webhook.CONNECT_TIMEOUT
    assert read_timeout - 0.2 <= elapsed < BOUND, f"{elapsed:.2f} s"
    assert len(silent_server.accepted) == 1, "one connection: the SDK's retries stay off"


@pytest.mark.parametrize(("status", "body"), [(403, b"<html>denied</html>"), (409, b'{"Code": "X"}'), (500, b"")])
def test_fc3_error_answers_are_a_502_after_one_signed_request(
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    httpserver: ContentServer,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: bytes,
) -> None:
    httpserver.serve_content(body, code=status, headers={"Content-Type": "application/json"})
    code, answer, elapsed = call(emulator, monkeypatch, httpserver.url, FORM_ALERT, env=FC3_ENV)
    assert code == 502 and answer["error"] and elapsed < BOUND
    (request,) = httpserver.requests
    assert (request.method, request.path) == ("POST", f"/2023-03-30/functions/{FC3_NAME}/invocations")
    assert request.headers["x-fc-invocation-type"] == "Async"
    assert request.headers["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=")
    assert json.loads(request.get_data())["alertState"] == "ALERT"
    # the STS credentials went into the signature, never into what the webhook printed or answered
    config = emulator.config()
    credential = config.credential(config.function_role_access_key_id)
    assert credential is not None and credential.security_token
    assert request.headers["x-acs-security-token"] == credential.security_token
    printed = capsys.readouterr()
    for secret in (credential.access_key_secret, credential.security_token):
        assert secret not in printed.out + printed.err + json.dumps(answer)
    assert nothing_invoked(emulator)


def test_unknown_api_version_is_a_500_and_invokes_nothing(
    emulator: Emulator, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_failover(emulator, endpoint)
    code, answer, _ = call(emulator, monkeypatch, f"http://{endpoint}", FORM_ALERT, env={"FC_API_VERSION": "3.0"})
    assert code == 500 and "FC_API_VERSION must be 2016-08-15 or 2023-03-30" in answer["error"]
    assert nothing_invoked(emulator)


def test_the_fc3_sdk_is_not_imported_at_cold_start() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(TEMPLATE['webhook'].code_uri)!r}); import webhook; "
        "loaded = [m for m in ('alibabacloud_fc20230330', 'alibabacloud_tea_openapi', 'darabonba', 'fc2') "
        "if m in sys.modules]; print(loaded); sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and a constant script
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
