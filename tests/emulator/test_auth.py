"""chaos.emulator.auth against the official SDKs, unmodified, over real HTTP on 127.0.0.1.

Crafted requests (stale timestamps, replays, tampering) are signed by a small signer written
here from the published algorithm, independent of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests
from alibabacloud_ebs20210730 import models as ebs_models
from alibabacloud_ebs20210730.client import Client as V2Client
from alibabacloud_tea_openapi.exceptions import ClientException as V2ClientException
from alibabacloud_tea_openapi.utils_models import Config as V2Config
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkebs.request.v20210730.DescribeDiskReplicaPairsRequest import DescribeDiskReplicaPairsRequest
from aliyunsdkebs.request.v20210730.FailoverDiskReplicaPairRequest import FailoverDiskReplicaPairRequest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_localserver.http import WSGIServer
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from chaos.emulator import config as cfg
from chaos.emulator.auth import Authenticator, Principal, _NonceCache
from chaos.emulator.config import Credential, EmulatorConfig, default_credentials
from chaos.emulator.errors import ApiError

AK = cfg.DEFAULT_ACCESS_KEY_ID
SECRET = cfg.DEFAULT_ACCESS_KEY_SECRET
STS_AK = cfg.DEFAULT_STS_ACCESS_KEY_ID
STS_SECRET = cfg.DEFAULT_STS_ACCESS_KEY_SECRET
STS_TOKEN = cfg.DEFAULT_STS_SECURITY_TOKEN
REGION = "cn-shanghai"
PAIR = "pair-cn-abc123"
OTHER_STS_AK = "STS.OtherRoleKey000002"
OTHER_STS_TOKEN = "CAIS-other-role-token-02"
DISABLED_AK = "LTAI5tDisabledKey0001"
TOLERANCE = 900.0


# --------------------------------------------------------------------------- test server


@dataclass
class Env:
    """Everything a test can poke: the config, the clock, and what the server saw."""

    config: EmulatorConfig
    now: float | None = None  # None: real time (the SDKs sign with the real clock)
    principals: list[Principal] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    auth: Authenticator = field(init=False)
    url: str = ""

    def __post_init__(self) -> None:
        self.auth = Authenticator(lambda: self.config, now=self.clock)

    def clock(self) -> float:
        return time.time() if self.now is None else self.now

    @property
    def endpoint(self) -> str:
        return self.url.removeprefix("http://")


def make_config() -> EmulatorConfig:
    creds = default_credentials()
    creds.append(
        Credential(
            access_key_id=OTHER_STS_AK, access_key_secret="other-secret", security_token=OTHER_STS_TOKEN
        )
    )
    creds.append(Credential(access_key_id=DISABLED_AK, access_key_secret="disabled-secret", enabled=False))
    return EmulatorConfig(credentials=creds, timestamp_tolerance_seconds=TOLERANCE)


def make_app(env: Env) -> Any:
    @Request.application
    def app(request: Request) -> Response:
        body = request.get_data(cache=True)  # before .form: ACS3 hashes the raw body
        params: dict[str, str] = {}
        for source in (request.args, request.form):
            for key in source:
                params.setdefault(key, source[key])
        with env.lock:
            env.seen.append(
                {
                    "method": request.method,
                    "url": request.url,
                    "headers": {k: v for k, v in request.headers.items()},
                    "body": body,
                }
            )
        request_id = str(uuid.uuid4()).upper()
        try:
            principal = env.auth.authenticate(request, params)
        except ApiError as err:
            return Response(
                json.dumps(err.body(request_id, "127.0.0.1")),
                status=err.status,
                content_type="application/json;charset=utf-8",
            )
        with env.lock:
            env.principals.append(principal)
        return Response(
            json.dumps({"RequestId": request_id}), status=200, content_type="application/json;charset=utf-8"
        )

    return app


@pytest.fixture(scope="module")
def served_env() -> Iterator[Env]:
    e = Env(config=make_config())
    server = WSGIServer(host="127.0.0.1", port=0, application=make_app(e), threaded=True)
    server.start()
    e.url = server.url
    try:
        yield e
    finally:
        server.stop()


@pytest.fixture
def env(served_env: Env) -> Env:
    """One server per module (stopping one costs ~0.5 s); fresh state for every test."""
    e = served_env
    with e.lock:
        e.config = make_config()
        e.now = None
        e.principals.clear()
        e.seen.clear()
    e.auth.reset()
    return e


# --------------------------------------------------------------------------- SDK helpers


def legacy_client(ak: str = AK, secret: str = SECRET, token: str | None = None) -> Any:
    if token is not None:
        return AcsClient(region_id=REGION, credential=StsTokenCredential(ak, secret, token), auto_retry=False)
    return AcsClient(ak, secret, REGION, auto_retry=False)


def legacy_failover(env: Env, client: Any, **body: str) -> dict[str, Any]:
    req = FailoverDiskReplicaPairRequest()
    req.set_endpoint(env.endpoint)
    req.set_protocol_type("http")
    req.set_ReplicaPairId(PAIR)
    req.set_ClientToken("tok-1")
    for k, v in body.items():
        req.add_body_params(k, v)
    raw = client.do_action_with_exception(req)
    result: dict[str, Any] = json.loads(raw)
    return result


def legacy_error(env: Env, client: Any) -> Any:
    with pytest.raises(LegacyServerException) as info:
        legacy_failover(env, client)
    return info.value


def v2_client(env: Env, mode: str, ak: str = AK, secret: str = SECRET, token: str | None = None) -> Any:
    cfg = V2Config(
        access_key_id=ak,
        access_key_secret=secret,
        security_token=token,
        region_id=REGION,
        endpoint=env.endpoint,
        protocol="http",
    )
    if mode == "v2":
        cfg.signature_algorithm = "v2"
    return V2Client(cfg)


def v2_failover(client: Any) -> Any:
    return client.failover_disk_replica_pair(
        ebs_models.FailoverDiskReplicaPairRequest(
            region_id=REGION, replica_pair_id=PAIR, client_token="tok-1"
        )
    )


def v2_error(client: Any) -> Any:
    with pytest.raises(V2ClientException) as info:
        v2_failover(client)
    return info.value


V2_MODES = ["acs3", "v2"]
SCHEME_OF = {"acs3": "ACS3-HMAC-SHA256", "v2": "HMAC-SHA1"}


# --------------------------------------------------------------------------- independent signer


def enc(s: str) -> str:
    return quote(s, safe="-_.~")


def rpc_sts(method: str, params: dict[str, str]) -> str:
    pairs = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    return f"{method}&{enc('/')}&{enc(pairs)}"


def rpc_request(
    env: Env,
    *,
    ak: str = AK,
    secret: str = SECRET,
    timestamp: str | None = None,
    nonce: str | None = None,
    extra: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> tuple[str, dict[str, str], dict[str, str]]:
    """A signed RPC request as (url, query, body); ``drop`` removes parameters after signing."""
    query = {
        "Action": "FailoverDiskReplicaPair",
        "Version": "2021-07-30",
        "Format": "JSON",
        "RegionId": REGION,
        "ReplicaPairId": PAIR,
        "AccessKeyId": ak,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(env.clock())),
        **(extra or {}),
    }
    body = body or {}
    sts = rpc_sts("POST", {**query, **body})
    digest = hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()
    query["Signature"] = base64.b64encode(digest).decode()
    for name in drop:
        query.pop(name, None)
    return build_url(env, query), query, body


def build_url(env: Env, query: dict[str, str]) -> str:
    return f"{env.url}/?{urlencode(query, quote_via=quote, safe='')}"


def post_form(url: str, body: dict[str, str]) -> requests.Response:
    data = urlencode(body, quote_via=quote, safe="") if body else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    return requests.post(url, data=data, headers=headers, timeout=10)


def acs3_request(
    env: Env,
    *,
    ak: str = AK,
    secret: str = SECRET,
    date: str | None = None,
    nonce: str | None = None,
    body: bytes = b"",
    query: dict[str, str] | None = None,
    token: str | None = None,
    claimed_sha256: str | None = None,
) -> tuple[str, dict[str, str], bytes]:
    """A signed ACS3 request as (url, headers, body); every header sent is signed, like the SDK."""
    query = query if query is not None else {"RegionId": REGION, "ReplicaPairId": PAIR}
    headers = {
        "host": env.endpoint,
        "x-acs-action": "FailoverDiskReplicaPair",
        "x-acs-version": "2021-07-30",
        "x-acs-date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(env.clock())),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": claimed_sha256 or hashlib.sha256(body).hexdigest(),
        "accept": "application/json",
    }
    if body:
        headers["content-type"] = "application/x-www-form-urlencoded"
    if token is not None:
        headers["x-acs-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "&".join(f"{k}={enc(v)}" for k, v in sorted(query.items())),
            "".join(f"{n}:{headers[n].strip()}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={';'.join(names)},Signature={sig}"
    )
    return build_url(env, query), headers, body


def send_acs3(url: str, headers: dict[str, str], body: bytes) -> requests.Response:
    return requests.post(url, headers=headers, data=body, timeout=10)


def code_of(resp: requests.Response) -> str:
    assert resp.headers["Content-Type"] == "application/json;charset=utf-8"
    code: str = resp.json()["Code"]
    return code


# --------------------------------------------------------------------------- success paths


def test_legacy_sdk_signs_and_is_accepted(env: Env) -> None:
    result = legacy_failover(env, legacy_client())
    assert result["RequestId"]
    principal = env.principals[-1]
    assert (principal.access_key_id, principal.scheme, principal.security_token) == (AK, "HMAC-SHA1", None)
    assert principal.account_id == env.config.account_id
    # the legacy core signs an empty SignatureType: it must be part of the verified string
    assert "SignatureType=" in env.seen[-1]["url"]


def test_legacy_sdk_awkward_characters_in_parameters(env: Env) -> None:
    req = DescribeDiskReplicaPairsRequest()
    req.set_endpoint(env.endpoint)
    req.set_protocol_type("http")
    req.add_query_param("RegionId", "cn-beijing")
    req.set_PairIds("pair-1,pair-2")
    req.add_query_param("Name", "a b*c~d/é+&=%")
    req.add_query_param("Tag.1.Key", "env")
    raw = legacy_client().do_action_with_exception(req)
    assert json.loads(raw)["RequestId"]


def test_legacy_sdk_form_body_parameters_are_signed(env: Env) -> None:
    result = legacy_failover(env, legacy_client(), Description="moved by game day", Extra="x y")
    assert result["RequestId"]
    seen = env.seen[-1]
    assert seen["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert b"Description=moved" in seen["body"]


@pytest.mark.parametrize("mode", V2_MODES)
def test_v2_sdk_is_accepted(env: Env, mode: str) -> None:
    client = v2_client(env, mode)
    resp = v2_failover(client)
    assert resp.status_code == 200 and resp.body.request_id
    resp = client.describe_disk_replica_pairs(
        ebs_models.DescribeDiskReplicaPairsRequest(
            region_id="cn-beijing",
            site="backup",
            max_results=50,
            name="a b*c~d/é+",
            tag=[ebs_models.DescribeDiskReplicaPairsRequestTag(key="k 1", value="v/1")],
        )
    )
    assert resp.status_code == 200
    assert [p.scheme for p in env.principals] == [SCHEME_OF[mode]] * 2
    if mode == "acs3":
        assert env.seen[-1]["headers"]["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=" + AK)


# --------------------------------------------------------------------------- STS


def test_legacy_sts_token(env: Env) -> None:
    legacy_failover(env, legacy_client(STS_AK, STS_SECRET, STS_TOKEN))
    assert env.principals[-1].security_token == STS_TOKEN
    assert env.principals[-1].access_key_id == STS_AK

    cases = {
        "MissingSecurityToken": legacy_client(STS_AK, STS_SECRET),
        "InvalidSecurityToken.Malformed": legacy_client(STS_AK, STS_SECRET, "CAIS-forged"),
        "InvalidSecurityToken.MismatchWithAccessKey": legacy_client(STS_AK, STS_SECRET, OTHER_STS_TOKEN),
    }
    for code, client in cases.items():
        err = legacy_error(env, client)
        assert (err.get_error_code(), err.get_http_status()) == (code, 400)
    # a permanent key must not carry a token either
    assert (
        legacy_error(env, legacy_client(AK, SECRET, "CAIS-forged"))
        .get_error_code()
        .startswith("InvalidSecurityToken.")
    )


@pytest.mark.parametrize("mode", V2_MODES)
def test_v2_sts_token(env: Env, mode: str) -> None:
    v2_failover(v2_client(env, mode, STS_AK, STS_SECRET, STS_TOKEN))
    assert env.principals[-1].security_token == STS_TOKEN
    assert env.principals[-1].scheme == SCHEME_OF[mode]

    assert v2_error(v2_client(env, mode, STS_AK, STS_SECRET)).code == "MissingSecurityToken"
    err = v2_error(v2_client(env, mode, STS_AK, STS_SECRET, "CAIS-forged"))
    assert (err.code, err.status_code) == ("InvalidSecurityToken.Malformed", 400)
    err = v2_error(v2_client(env, mode, STS_AK, STS_SECRET, OTHER_STS_TOKEN))
    assert err.code == "InvalidSecurityToken.MismatchWithAccessKey"


# --------------------------------------------------------------------------- keys and secrets


def test_legacy_unknown_and_disabled_keys(env: Env) -> None:
    err = legacy_error(env, legacy_client("LTAI5tNoSuchKey", SECRET))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidAccessKeyId.NotFound", 404)
    assert err.get_error_msg() == "Specified access key is not found."
    err = legacy_error(env, legacy_client(DISABLED_AK, "disabled-secret"))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidAccessKeyId.Inactive", 400)


@pytest.mark.parametrize("mode", V2_MODES)
def test_v2_unknown_and_disabled_keys(env: Env, mode: str) -> None:
    err = v2_error(v2_client(env, mode, "LTAI5tNoSuchKey", SECRET))
    assert (err.code, err.status_code) == ("InvalidAccessKeyId.NotFound", 404)
    err = v2_error(v2_client(env, mode, DISABLED_AK, "disabled-secret"))
    assert err.code == "InvalidAccessKeyId.Inactive"


def test_legacy_wrong_secret_becomes_invalid_access_key_secret(env: Env) -> None:
    # The core rewrites the code only when the server's StringToSign equals its own: this
    # proves the emulator canonicalises exactly like the SDK and keeps the ':' message format.
    err = legacy_error(env, legacy_client(AK, "not-the-secret"))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidAccessKeySecret", 400)


@pytest.mark.parametrize("mode", V2_MODES)
def test_v2_wrong_secret_is_signature_does_not_match(env: Env, mode: str) -> None:
    err = v2_error(v2_client(env, mode, AK, "not-the-secret"))
    assert (err.code, err.status_code) == ("SignatureDoesNotMatch", 400)
    if mode == "acs3":
        assert "server StringToSign is [ACS3-HMAC-SHA256\n" in err.message
    else:
        assert "server string to sign is:POST&%2F&" in err.message


# --------------------------------------------------------------------------- tampering


def test_tampered_rpc_query_is_refused_with_server_string_to_sign(env: Env) -> None:
    url, query, _ = rpc_request(env)
    assert post_form(url, {}).status_code == 200
    tampered = {**query, "ReplicaPairId": "pair-cn-victim", "SignatureNonce": uuid.uuid4().hex}
    resp = post_form(build_url(env, tampered), {})
    assert (resp.status_code, code_of(resp)) == (400, "SignatureDoesNotMatch")
    message: str = resp.json()["Message"]
    assert message.startswith("Specified signature is not matched with our calculation.")
    # exactly what the legacy SDK parses: everything after the first ':' is the server's STS
    expected = rpc_sts("POST", {k: v for k, v in tampered.items() if k != "Signature"})
    assert message.split(":")[1] == expected


def test_tampered_sdk_request_is_refused(env: Env) -> None:
    legacy_failover(env, legacy_client())
    seen = env.seen[-1]
    url = seen["url"].replace(PAIR, "pair-cn-victim")
    assert url != seen["url"]
    resp = requests.post(url, timeout=10)
    assert code_of(resp) == "SignatureDoesNotMatch"


def test_tampered_form_body_is_refused(env: Env) -> None:
    url, _, body = rpc_request(env, body={"Description": "original"})
    resp = post_form(url, {"Description": "changed"})
    assert code_of(resp) == "SignatureDoesNotMatch"
    url, _, body = rpc_request(env, body={"Description": "original text"})
    assert post_form(url, body).status_code == 200


def test_acs3_body_and_query_are_bound(env: Env) -> None:
    form = b"ReplicaPairId=pair-cn-abc123&Description=x%20y"
    url, headers, body = acs3_request(env, body=form)
    assert send_acs3(url, headers, body).status_code == 200
    assert env.principals[-1].scheme == "ACS3-HMAC-SHA256"

    url, headers, body = acs3_request(env, body=form)
    resp = send_acs3(url, headers, body.replace(b"abc123", b"victim"))
    assert code_of(resp) == "SignatureDoesNotMatch"
    assert resp.json()["Message"].startswith("Specified signature does not match our calculation.")

    url, headers, body = acs3_request(env)
    resp = send_acs3(url.replace(PAIR, "pair-cn-victim"), headers, body)
    assert code_of(resp) == "SignatureDoesNotMatch"

    # a claimed x-acs-content-sha256 that is not the body's hash, even when signed consistently
    url, headers, body = acs3_request(env, body=form, claimed_sha256=hashlib.sha256(b"other").hexdigest())
    assert code_of(send_acs3(url, headers, body)) == "SignatureDoesNotMatch"

    url, headers, body = acs3_request(env)
    headers["x-acs-action"] = "DeleteDiskReplicaPair"
    assert code_of(send_acs3(url, headers, body)) == "SignatureDoesNotMatch"


# --------------------------------------------------------------------------- timestamps


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


NOW = 1_760_000_000.0


@pytest.mark.parametrize(
    ("offset", "code"),
    [(0, None), (-TOLERANCE + 1, None), (TOLERANCE - 1, None), (-TOLERANCE - 1, "InvalidTimeStamp.Expired"),
     (TOLERANCE + 1, "InvalidTimeStamp.Expired"), (-86_400, "InvalidTimeStamp.Expired")],
)  # fmt: skip
def test_timestamp_window(env: Env, offset: float, code: str | None) -> None:
    env.now = NOW
    url, _, _ = rpc_request(env, timestamp=iso(NOW + offset))
    rpc_resp = post_form(url, {})
    acs3_resp = send_acs3(*acs3_request(env, date=iso(NOW + offset)))
    for resp in (rpc_resp, acs3_resp):
        if code is None:
            assert resp.status_code == 200, resp.text
        else:
            assert (resp.status_code, code_of(resp)) == (400, code)
            assert resp.json()["Message"] == "Specified time stamp or date value is expired."


@pytest.mark.parametrize(
    "stamp", ["2025-10-09T08:53:20.123Z", "2025-10-09 08:53:20", "2025-13-09T08:53:20Z", "1760000000", "x"]
)
def test_unparsable_timestamp(env: Env, stamp: str) -> None:
    env.now = NOW
    url, _, _ = rpc_request(env, timestamp=stamp)
    assert code_of(post_form(url, {})) == "InvalidTimeStamp.Format"
    assert code_of(send_acs3(*acs3_request(env, date=stamp))) == "InvalidTimeStamp.Format"


def test_missing_timestamp(env: Env) -> None:
    url, _, _ = rpc_request(env, drop=("Timestamp",))
    assert code_of(post_form(url, {})) == "IllegalTimestamp"
    url, headers, body = acs3_request(env)
    del headers["x-acs-date"]
    assert code_of(send_acs3(url, headers, body)) == "IllegalTimestamp"


# --------------------------------------------------------------------------- nonces


def test_replayed_sdk_request_is_refused(env: Env) -> None:
    legacy_failover(env, legacy_client())
    seen = env.seen[-1]
    resp = requests.post(seen["url"], timeout=10)
    assert (resp.status_code, code_of(resp)) == (400, "SignatureNonceUsed")
    assert resp.json()["Message"] == "Specified signature nonce was used already."

    v2_failover(v2_client(env, "acs3"))
    seen = env.seen[-1]
    headers = {k: v for k, v in seen["headers"].items() if k.lower() not in {"content-length"}}
    resp = requests.post(seen["url"], headers=headers, data=seen["body"], timeout=10)
    assert code_of(resp) == "SignatureNonceUsed"


def test_nonce_is_per_key_and_forgotten_on_reset(env: Env) -> None:
    url, _, _ = rpc_request(env, nonce="fixed-nonce")
    assert post_form(url, {}).status_code == 200
    assert code_of(post_form(url, {})) == "SignatureNonceUsed"
    # the same nonce under another key is a different request
    url2, _, _ = rpc_request(
        env, ak=STS_AK, secret=STS_SECRET, nonce="fixed-nonce", extra={"SecurityToken": STS_TOKEN}
    )
    assert post_form(url2, {}).status_code == 200
    # the same nonce in the other scheme is still a replay for this key
    assert code_of(send_acs3(*acs3_request(env, nonce="fixed-nonce"))) == "SignatureNonceUsed"
    env.auth.reset()
    assert post_form(url, {}).status_code == 200


def test_failed_request_does_not_burn_the_nonce(env: Env) -> None:
    bad, _, _ = rpc_request(env, secret="wrong", nonce="n-1")
    assert code_of(post_form(bad, {})) == "SignatureDoesNotMatch"
    good, _, _ = rpc_request(env, nonce="n-1")
    assert post_form(good, {}).status_code == 200


def test_concurrent_replays_let_exactly_one_through(env: Env) -> None:
    url, _, _ = rpc_request(env)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: post_form(url, {}).status_code, range(16)))
    assert statuses.count(200) == 1 and statuses.count(400) == 15


def test_nonce_memory_is_bounded_and_expires() -> None:
    cache = _NonceCache(max_entries=3)
    for i in range(10):
        assert cache.check_and_add("ak", f"n{i}", expires_at=100.0 + i, now=0.0)
    assert len(cache) == 3
    assert not cache.check_and_add("ak", "n9", expires_at=200.0, now=0.0)
    assert cache.check_and_add("ak", "n9", expires_at=300.0, now=150.0)  # expired, so new again
    assert len(cache) == 1


def test_nonce_window_follows_injected_clock(env: Env) -> None:
    env.now = NOW
    url, _, _ = rpc_request(env, nonce="clocked")
    assert post_form(url, {}).status_code == 200
    env.now = NOW + TOLERANCE - 1
    assert code_of(post_form(url, {})) == "SignatureNonceUsed"
    env.now = NOW + TOLERANCE + 1
    assert code_of(post_form(url, {})) == "InvalidTimeStamp.Expired"


# --------------------------------------------------------------------------- incomplete requests


def test_missing_rpc_pieces(env: Env) -> None:
    for name, code in [
        ("Signature", "MissingParameter"),
        ("AccessKeyId", "MissingParameter"),
        ("SignatureNonce", "MissingParameter"),
        ("SignatureMethod", "MissingParameter"),
    ]:
        url, _, _ = rpc_request(env, drop=(name,))
        resp = post_form(url, {})
        assert (resp.status_code, code_of(resp)) == (400, code)
        assert f'"{name}"' in resp.json()["Message"]
    resp = requests.post(f"{env.url}/?Action=FailoverDiskReplicaPair&RegionId={REGION}", timeout=10)
    assert code_of(resp) == "MissingParameter"
    url, _, _ = rpc_request(env, extra={"SignatureMethod": "HMAC-SHA256"})
    assert code_of(post_form(url, {})) == "IncompleteSignature"


def test_missing_acs3_pieces(env: Env) -> None:
    url, headers, body = acs3_request(env)
    del headers["x-acs-signature-nonce"]
    resp = send_acs3(url, headers, body)
    assert code_of(resp) == "MissingParameter"
    assert "x-acs-signature-nonce" in resp.json()["Message"]

    # a common header that is sent but left out of SignedHeaders
    url, headers, body = acs3_request(env)
    headers["Authorization"] = headers["Authorization"].replace("x-acs-date;", "")
    resp = send_acs3(url, headers, body)
    assert (resp.status_code, code_of(resp)) == (400, "IncompleteSignature")


MALFORMED_AUTHORIZATION = [
    "ACS3-HMAC-SHA256",
    "ACS3-HMAC-SHA256 ",
    "ACS3-HMAC-SHA256 Credential=",
    "ACS3-HMAC-SHA256 garbage",
    "ACS3-HMAC-SHA256 Credential=LTAI5tEmulatorKey0001",
    "ACS3-HMAC-SHA256 Credential=LTAI5tEmulatorKey0001,SignedHeaders=,Signature=ab",
    "ACS3-HMAC-SHA256 Credential=LTAI5tEmulatorKey0001,SignedHeaders=host,Signature=",
    "ACS3-HMAC-SM3 Credential=LTAI5tEmulatorKey0001,SignedHeaders=host,Signature=ab",
    "ACS3-HMAC-SHA256 Credential==,SignedHeaders=;;;,Signature==",
    "ACS3-HMAC-SHA256 Credential=LTAI5tEmulatorKey0001,SignedHeaders=host;x-acs-date,Signature=zz",
    "Bearer abc.def",
    "acs3-hmac-sha256 Credential=a,SignedHeaders=host,Signature=b",
    "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/s3/aws4_request",
]


@pytest.mark.parametrize("authorization", MALFORMED_AUTHORIZATION)
def test_malformed_authorization_header_over_http(env: Env, authorization: str) -> None:
    url, headers, body = acs3_request(env)
    headers["Authorization"] = authorization
    resp = send_acs3(url, headers, body)
    assert 400 <= resp.status_code < 500
    assert code_of(resp) in {
        "IncompleteSignature",
        "MissingParameter",
        "SignatureDoesNotMatch",
        "IllegalTimestamp",
    }


@settings(max_examples=300, deadline=None)
@given(authorization=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200))
def test_any_authorization_header_raises_only_api_error(authorization: str) -> None:
    auth = Authenticator(make_config)
    environ = EnvironBuilder(
        method="POST",
        path="/",
        query_string="RegionId=cn-shanghai",
        headers=Headers([("Authorization", authorization), ("x-acs-date", "2025-01-01T00:00:00Z")]),
    ).get_environ()
    request = Request(environ)
    try:
        auth.authenticate(request, {"RegionId": "cn-shanghai"})
    except ApiError as err:
        assert 400 <= err.status < 500
        assert ":" in err.message or err.code != "SignatureDoesNotMatch"
    else:  # pragma: no cover - a random header can never authenticate
        pytest.fail("authenticated a random Authorization header")
