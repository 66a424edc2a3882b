"""A thin typed adapter over the ebs 2021-07-30 API (aliyun-python-sdk-core + aliyun-python-sdk-ebs).

Every SDK failure becomes one :class:`ApiFailure` with the code, HTTP status and request id, and a
classification the retry policy reads (``transient``/``throttled``, decided in policy.py). The SDK itself never retries
ebs calls (it has no retry config for ebs), so retries are ours, with ClientTokens. The SDK is
imported on first use, not at import: it is on the cold-start path of a plan-only or no-op call.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from replica_failover.credentials import Credentials
from replica_failover.policy import is_throttled, is_transient
from replica_failover.redact import redact_text

VERSION = "2021-07-30"
MAX_PAGES = 10_000  # 5,000,000 records at 500 a page: a bound, not an expectation

MAX_MESSAGE = 500

# What the SDK's transport errors say, in requests'/urllib3's words (their text is all it keeps),
# mapped to the cause a reader needs. Checked in order: the first phrase found wins.
_TRANSPORT_CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("read timed out", "read timeout"), "{host}: read timeout after {read} s"),
    (
        (
            "name or service not known",
            "temporary failure in name resolution",
            "nodename nor servname",
            "getaddrinfo failed",
            "no address associated",
            "failed to resolve",
            "nameresolutionerror",
        ),
        "connect to {host}: name resolution failed",
    ),
    (("connection refused",), "connect to {host}: Connection refused"),
    (("connect timeout", "connecttimeout", "timed out"), "connect to {host}: timeout after {connect} s"),
    (("reset by peer", "connectionreseterror"), "{host}: connection reset by peer"),
    (("connection aborted", "remotedisconnected", "remote end closed"), "{host}: connection closed without a response"),
    (("certificate verify failed", "sslerror", "ssl:"), "connect to {host}: TLS handshake failed"),
)
_URL = re.compile(r"(?:\bwith url: |https?://)\S+")


# Not frozen: Python assigns __traceback__ on exceptions it re-raises (contextlib's @contextmanager
# does on the way out of a with block), which a frozen dataclass turns into FrozenInstanceError.
@dataclass(eq=False)
class ApiFailure(Exception):
    code: str
    message: str
    status: int | None = None
    request_id: str | None = None

    def __str__(self) -> str:
        return f"{self.code} (HTTP {self.status}): {self.message}"

    @property
    def throttled(self) -> bool:
        return is_throttled(self.code, self.status)

    @property
    def transient(self) -> bool:
        return is_transient(self.code, self.status)


@dataclass
class CallStats:
    calls: int = 0
    writes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, write: bool) -> None:
        with self._lock:
            self.calls += 1
            self.writes += int(write)


class EbsApi:
    """ebs calls against one endpoint. Thread-safe: each call borrows an idle AcsClient (it holds a
    Session and its connection) and returns it, so there are as many clients as calls ever in flight
    at once - FAILOVER_CONCURRENCY - however many threads take turns; a client per thread costs
    about half a MB each for the executor's waiting threads."""

    def __init__(
        self, credentials: Credentials, *, endpoint: str | None, connect_timeout: float, read_timeout: float
    ) -> None:
        self._credentials = credentials
        self._endpoint = endpoint
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.stats = CallStats()

    # --------------------------------------------------------------- plumbing
    @contextmanager
    def _client(self, region: str) -> Iterator[Any]:
        with self._lock:
            idle = self._idle.setdefault(region, [])
            client = idle.pop() if idle else None
        if client is None:
            client = self._new_client(region)
        try:
            yield client
        finally:
            with self._lock:
                idle.append(client)

    def _new_client(self, region: str) -> Any:
        from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
        from aliyunsdkcore.client import AcsClient

        c = self._credentials
        cred = (
            StsTokenCredential(c.access_key_id, c.access_key_secret, c.security_token)
            if c.security_token
            else AccessKeyCredential(c.access_key_id, c.access_key_secret)
        )
        return AcsClient(
            region_id=region,
            credential=cred,
            auto_retry=False,
            timeout=self._read_timeout,
            connect_timeout=self._connect_timeout,
        )

    def _target(self, region: str) -> tuple[str, str]:
        """(host[:port], protocol). The override is the emulator; otherwise the regional endpoint."""
        if self._endpoint:
            ep = self._endpoint
            protocol = "https" if ep.startswith("https://") else "http"
            return ep.split("://", 1)[-1].rstrip("/"), protocol
        return f"ebs.{region}.aliyuncs.com", "https"

    def call(self, action: str, region: str, params: dict[str, str], *, write: bool = False) -> dict[str, Any]:
        from aliyunsdkcore.request import CommonRequest

        host, protocol = self._target(region)
        request = CommonRequest(domain=host, version=VERSION, action_name=action, product="ebs")
        request.set_method("POST")
        request.set_protocol_type(protocol)
        request.set_accept_format("JSON")
        request.add_query_param("RegionId", region)
        for key, value in params.items():
            request.add_query_param(key, value)
        return self.send(request, region, write=write)

    def send(self, request: Any, region: str, *, write: bool = False) -> dict[str, Any]:
        """Send a prepared aliyunsdkcore request; every SDK failure becomes one :class:`ApiFailure`."""
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

        host, _ = self._target(region)
        try:
            with self._client(region) as client:
                raw = client.do_action_with_exception(request)
        except ServerException as exc:
            self.stats.count(write)
            raise ApiFailure(
                exc.get_error_code() or "Unknown",
                # a SignatureDoesNotMatch answer echoes the string to sign: AccessKeyId, SecurityToken
                redact_text(str(exc.get_error_msg() or ""))[:MAX_MESSAGE],
                exc.get_http_status(),
                exc.get_request_id(),
            ) from None
        except ClientException as exc:
            self.stats.count(write)
            code = exc.get_error_code() or "SDK.ClientError"
            message = str(exc.get_error_msg())
            cause = self._transport_cause(message, host) if code == "SDK.HttpError" else redact_text(message)
            raise ApiFailure(code, cause[:MAX_MESSAGE]) from None
        self.stats.count(write)
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiFailure("SDK.UnknownServerError", "response is not JSON") from None
        if not isinstance(body, dict):
            raise ApiFailure("SDK.UnknownServerError", "response is not a JSON object")
        return body

    def _transport_cause(self, raw: str, host: str) -> str:
        """The cause of a transport failure in a few words. The SDK's text quotes the whole signed
        request URL (AccessKeyId, SecurityToken, Signature) before the cause, which a length limit
        then cut off: the URL is never kept, the cause always is."""
        low = raw.lower()
        for phrases, template in _TRANSPORT_CAUSES:
            if any(p in low for p in phrases):
                return template.format(host=host, read=f"{self._read_timeout:g}", connect=f"{self._connect_timeout:g}")
        # unknown wording: requests' "(Caused by X(...: reason))" holds the reason; drop any URL
        caused = raw.rsplit("Caused by ", 1)[-1]
        return f"{host}: " + redact_text(_URL.sub("<url>", caused)).strip(" ()'\"")[:MAX_MESSAGE]

    # ---------------------------------------------------------------- reads
    def _pages(
        self,
        action: str,
        region: str,
        key: str,
        params: dict[str, str],
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        token = ""
        for _ in range(MAX_PAGES):
            page_params = {**params, "MaxResults": str(page_size)}
            if token:
                page_params["NextToken"] = token
            body = self.call(action, region, page_params)
            records = body.get(key) or []
            if not isinstance(records, list):
                raise ApiFailure("SDK.UnknownServerError", f"{key} is not a list")
            if fields is None:
                yield from (r for r in records if isinstance(r, dict))
            else:  # only the named fields outlive the page: a full record is about 2 KB in memory
                yield from ({f: r[f] for f in fields if f in r} for r in records if isinstance(r, dict))
            token = str(body.get("NextToken") or "")
            if not token or not records:
                return
        raise ApiFailure("SDK.UnknownServerError", f"{action}: more than {MAX_PAGES} pages")

    def describe_pairs(
        self,
        region: str,
        *,
        site: str = "backup",
        pair_ids: list[str] | None = None,
        page_size: int = 500,
        fields: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every record, or only its ``fields`` (None: all of them)."""
        params = {"Site": site}
        if pair_ids:
            params["PairIds"] = ",".join(pair_ids)
        return list(self._pages("DescribeDiskReplicaPairs", region, "ReplicaPairs", params, page_size, fields))

    def describe_groups(
        self,
        region: str,
        *,
        site: str = "backup",
        group_ids: list[str] | None = None,
        page_size: int = 500,
        fields: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every record, or only its ``fields`` (None: all of them)."""
        params = {"Site": site}
        if group_ids:
            params["GroupIds"] = ",".join(group_ids)
        return list(self._pages("DescribeDiskReplicaGroups", region, "ReplicaGroups", params, page_size, fields))

    # --------------------------------------------------------------- writes
    def failover_pair(self, region: str, pair_id: str, client_token: str) -> str:
        body = self.call(
            "FailoverDiskReplicaPair", region, {"ReplicaPairId": pair_id, "ClientToken": client_token}, write=True
        )
        return str(body.get("RequestId", ""))

    def failover_group(self, region: str, group_id: str, client_token: str) -> str:
        body = self.call(
            "FailoverDiskReplicaGroup", region, {"ReplicaGroupId": group_id, "ClientToken": client_token}, write=True
        )
        return str(body.get("RequestId", ""))
