"""Request authentication, verified the way Alibaba Cloud's API gateway (PopGw) verifies it.

Two schemes reach the ebs API:

* ``HMAC-SHA1``: RPC query signing (``SignatureVersion=1.0``), sent by aliyun-python-sdk-core and by
  the V2 Tea SDK with ``Config(signature_algorithm='v2')``. Every parameter except ``Signature``
  (query and form body) is signed; key = secret + ``"&"``.
* ``ACS3-HMAC-SHA256``: header signing, the V2 Tea SDK's default. ``Authorization`` names the signed
  headers; the key is the bare secret; the body is bound through ``x-acs-content-sha256``.

Both canonicalisations (``signatures.py``) are byte-for-byte those of the installed SDKs
(``aliyunsdkcore/auth/composer/rpc_signature_composer.py``,
``alibabacloud_tea_openapi/utils.py:get_rpcsignature`` / ``get_authorization``).

Errors (all from the catalogue in errors.py; sources are real gateway answers quoted publicly):
unknown key ``InvalidAccessKeyId.NotFound`` 404, disabled key ``InvalidAccessKeyId.Inactive``,
``SignatureDoesNotMatch`` (RPC wording ends in ``is:<StringToSign>``, which the legacy SDK parses),
timestamp outside the window ``InvalidTimeStamp.Expired``, unparsable ``InvalidTimeStamp.Format``,
absent ``IllegalTimestamp``, replay ``SignatureNonceUsed``, STS ``MissingSecurityToken`` /
``InvalidSecurityToken.Malformed`` / ``.MismatchWithAccessKey``, structural problems
``IncompleteSignature`` and absent pieces ``MissingParameter``.
The WSGI app must call ``request.get_data(cache=True)`` *before* it touches ``request.form``:
werkzeug does not keep the raw body once the form has been parsed, and ACS3 hashes the raw body.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import threading
import time
from calendar import timegm
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from werkzeug.wrappers import Request

from chaos.emulator.config import Credential, EmulatorConfig
from chaos.emulator.errors import ApiError
from chaos.emulator.signatures import (
    ACS3_SCHEME,
    RPC_SCHEME,
    TIMESTAMP_FORMAT,
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    rpc_signature,
    rpc_string_to_sign,
)

# Both SDKs send whole seconds in UTC; the gateway rejects anything else (e.g. fractional seconds)
# with InvalidTimeStamp.Format, so strptime's leniency (single-digit fields) is not enough.
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

# V3 doc: "every common request header except Authorization, if present, must be signed".
_ACS3_MUST_SIGN = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-security-token",
)

# Upper bound on remembered nonces; beyond it the nonces closest to expiry are forgotten first.
MAX_REMEMBERED_NONCES = 200_000


@dataclass(frozen=True)
class Principal:
    """Who sent an authenticated request."""

    access_key_id: str
    account_id: str
    credential: Credential
    scheme: Literal["HMAC-SHA1", "ACS3-HMAC-SHA256"]
    security_token: str | None


# --------------------------------------------------------------------------- errors


def _missing(name: str) -> ApiError:
    return ApiError.of("MissingParameter", name)


def _incomplete(detail: str) -> ApiError:
    # First sentence verbatim from the gateway; the detail is the emulator's hint.
    return ApiError(
        code="IncompleteSignature",
        message=f"The request signature does not conform to Aliyun standards. {detail}",
    )


def _rpc_mismatch(string_to_sign: str) -> ApiError:
    # The legacy SDK runs Message.split(':')[1] and compares it with its own StringToSign, so
    # nothing may follow the StringToSign (which, being percent-encoded, never contains ':').
    return ApiError.of("SignatureDoesNotMatch", string_to_sign)


def _acs3_mismatch(string_to_sign: str, canonical_request: str) -> ApiError:
    return ApiError(
        code="SignatureDoesNotMatch",
        message=(
            "Specified signature does not match our calculation. "
            f"server StringToSign is [{string_to_sign}] server CanonicalRequest is [{canonical_request}]"
        ),
    )


# --------------------------------------------------------------------------- nonce memory


class _NonceCache:
    """Nonces seen per access key, each kept until its request's timestamp would be refused anyway."""

    def __init__(self, max_entries: int = MAX_REMEMBERED_NONCES) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._max = max_entries

    def check_and_add(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Remember the nonce; False if it is already remembered (a replay)."""
        key = (access_key_id, nonce)
        with self._lock:
            self._purge(now)
            if key in self._expiry:
                return False
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            while len(self._expiry) > self._max:
                # bounded memory: drop the nonce that would have expired soonest
                _, old = heapq.heappop(self._heap)
                self._expiry.pop(old, None)
            return True

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            _, key = heapq.heappop(self._heap)
            self._expiry.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()
            self._heap.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)


# --------------------------------------------------------------------------- authenticator


class Authenticator:
    """Verifies a request's signature, timestamp, nonce and STS token; returns its Principal.

    Every failure is an :class:`ApiError` carrying the gateway's code, HTTP status and message.
    """

    def __init__(self, config: Callable[[], EmulatorConfig], now: Callable[[], float] = time.time) -> None:
        self._config = config
        self._now = now
        self._nonces = _NonceCache()

    def reset(self) -> None:
        """Forget every nonce seen so far."""
        self._nonces.clear()

    def authenticate(self, request: Request, params: Mapping[str, str]) -> Principal:
        """Authenticate ``request``; ``params`` is the merged query + form (first value per key)."""
        authorization = request.headers.get("Authorization")
        if authorization is not None and authorization.strip():
            if authorization.lstrip().upper().startswith("ACS3-"):
                return self._authenticate_acs3(request, authorization)
            if "Signature" not in params:
                raise _incomplete("Unsupported Authorization header; expected ACS3-HMAC-SHA256.")
        return self._authenticate_rpc(request, params)

    # ----------------------------------------------------------------- HMAC-SHA1 (RPC)

    def _authenticate_rpc(self, request: Request, params: Mapping[str, str]) -> Principal:
        # Presence checks in the order of the gateway's documented MissingParameter list. A missing
        # Timestamp gets IllegalTimestamp, whose gateway message is exactly "... not supplied."
        access_key_id = params.get("AccessKeyId", "")
        if not access_key_id:
            raise _missing("AccessKeyId")
        signature = params.get("Signature", "")
        if not signature:
            raise _missing("Signature")
        timestamp = params.get("Timestamp")
        if not timestamp:
            raise ApiError.of("IllegalTimestamp")
        for name in ("SignatureMethod", "SignatureVersion", "SignatureNonce"):
            if not params.get(name):
                raise _missing(name)

        config = self._config()
        now = self._now()
        signed_at = self._check_timestamp(timestamp, now, config.timestamp_tolerance_seconds)

        string_to_sign = rpc_string_to_sign(request.method, params)
        # Only AccessKey HMAC-SHA1 is emulated: no SignatureType=BEARERTOKEN, no other methods.
        if (
            params["SignatureMethod"] != "HMAC-SHA1"
            or params["SignatureVersion"] != "1.0"
            or params.get("SignatureType", "") != ""
        ):
            raise _incomplete(f"server string to sign is:{string_to_sign}")

        credential = self._credential(config, access_key_id)
        token = params.get("SecurityToken") or None
        self._check_token(config, credential, token)

        expected = rpc_signature(string_to_sign, credential.access_key_secret)
        if not hmac.compare_digest(expected.encode("utf-8"), signature.encode("utf-8")):
            raise _rpc_mismatch(string_to_sign)

        self._check_nonce(access_key_id, params["SignatureNonce"], signed_at, now, config)
        return Principal(access_key_id, credential.account_id, credential, RPC_SCHEME, token)

    # ----------------------------------------------------------------- ACS3-HMAC-SHA256

    def _authenticate_acs3(self, request: Request, authorization: str) -> Principal:
        access_key_id, signed_headers, signature = _parse_authorization(authorization)

        headers = _signed_header_values(request, signed_headers)
        unsigned = [h for h in _ACS3_MUST_SIGN if h not in signed_headers and h in request.headers]
        if unsigned:
            raise _incomplete(f"Header {unsigned[0]} is present but not in SignedHeaders.")

        date = request.headers.get("x-acs-date")
        if not date:
            raise ApiError.of("IllegalTimestamp")
        nonce = request.headers.get("x-acs-signature-nonce")
        if not nonce:
            raise _missing("x-acs-signature-nonce")
        claimed_sha256 = request.headers.get("x-acs-content-sha256")
        if not claimed_sha256:
            raise _missing("x-acs-content-sha256")

        config = self._config()
        now = self._now()
        signed_at = self._check_timestamp(date, now, config.timestamp_tolerance_seconds)

        credential = self._credential(config, access_key_id)
        token = request.headers.get("x-acs-security-token") or None
        self._check_token(config, credential, token)

        # The server hashes the body it received, so a body changed in transit cannot verify.
        payload_sha256 = hashlib.sha256(_raw_body(request)).hexdigest()
        query = {k: request.args[k] for k in request.args}
        canonical = acs3_canonical_request(
            request.method,
            request.path,
            query=query,
            headers=headers,
            signed_headers=signed_headers,
            payload_sha256=payload_sha256,
        )
        string_to_sign = acs3_string_to_sign(canonical)
        expected = acs3_signature(string_to_sign, credential.access_key_secret)
        body_ok = hmac.compare_digest(claimed_sha256.lower().encode("utf-8"), payload_sha256.encode("utf-8"))
        sig_ok = hmac.compare_digest(expected.encode("utf-8"), signature.lower().encode("utf-8"))
        if not (body_ok and sig_ok):
            raise _acs3_mismatch(string_to_sign, canonical)

        self._check_nonce(access_key_id, nonce, signed_at, now, config)
        return Principal(access_key_id, credential.account_id, credential, ACS3_SCHEME, token)

    # ----------------------------------------------------------------- shared checks

    @staticmethod
    def _check_timestamp(value: str, now: float, tolerance: float) -> float:
        if not _TIMESTAMP_RE.fullmatch(value):
            raise ApiError.of("InvalidTimeStamp.Format")
        try:
            signed_at = float(timegm(time.strptime(value, TIMESTAMP_FORMAT)))
        except ValueError:  # e.g. month 13: matches the pattern but is no date
            raise ApiError.of("InvalidTimeStamp.Format") from None
        # Future timestamps are refused too: the gateway allows a symmetric 15-minute skew.
        if abs(now - signed_at) > tolerance:
            raise ApiError.of("InvalidTimeStamp.Expired")
        return signed_at

    @staticmethod
    def _credential(config: EmulatorConfig, access_key_id: str) -> Credential:
        credential = config.credential(access_key_id)
        if credential is None:
            raise ApiError.of("InvalidAccessKeyId.NotFound")
        if not credential.enabled:
            raise ApiError.of("InvalidAccessKeyId.Inactive")
        return credential

    @staticmethod
    def _check_token(config: EmulatorConfig, credential: Credential, presented: str | None) -> None:
        expected = credential.security_token
        if expected is None and presented is None:
            return
        if presented is None:
            raise ApiError.of("MissingSecurityToken")
        if expected is not None and hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8")):
            return
        # A genuine token of another key is "mismatch"; anything else cannot be a token at all.
        others = {c.security_token for c in config.credentials if c is not credential and c.security_token}
        if presented in others:
            raise ApiError.of("InvalidSecurityToken.MismatchWithAccessKey")
        raise ApiError.of("InvalidSecurityToken.Malformed")

    def _check_nonce(
        self, access_key_id: str, nonce: str, signed_at: float, now: float, config: EmulatorConfig
    ) -> None:
        # Checked last so a forged request cannot burn a legitimate client's nonce. A replay would
        # pass the timestamp check until signed_at + tolerance, so remember the nonce that long.
        expires_at = max(signed_at, now) + config.timestamp_tolerance_seconds
        if not self._nonces.check_and_add(access_key_id, nonce, expires_at, now):
            raise ApiError.of("SignatureNonceUsed")


# --------------------------------------------------------------------------- helpers


def _parse_authorization(authorization: str) -> tuple[str, list[str], str]:
    """Split ``ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex``."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ACS3_SCHEME:
        raise _incomplete(f"Unsupported signature algorithm {algorithm[:40]!r}; expected {ACS3_SCHEME}.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    access_key_id = fields.get("Credential", "")
    signed = [h.strip().lower() for h in fields.get("SignedHeaders", "").split(";") if h.strip()]
    signature = fields.get("Signature", "")
    if not access_key_id or not signed or not signature:
        raise _incomplete("Authorization must carry Credential, SignedHeaders and Signature.")
    return access_key_id, signed, signature


def _signed_header_values(request: Request, names: Iterable[str]) -> dict[str, str]:
    # tea-openapi trims each value and joins repeated headers with ',' after sorting them.
    return {name: ",".join(sorted(v.strip() for v in request.headers.getlist(name))) for name in names}


def _raw_body(request: Request) -> bytes:
    data = request.get_data(cache=True)
    if not data and request.content_length and "form" in request.__dict__:
        # Programming error in the app, not a client error: werkzeug dropped the raw body.
        raise RuntimeError("call request.get_data(cache=True) before reading request.form")
    return data
