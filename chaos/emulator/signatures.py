"""The two signatures Alibaba Cloud's API gateway accepts, byte for byte as the installed SDKs compute them.

* ``HMAC-SHA1`` (RPC, ``SignatureVersion=1.0``): ``aliyunsdkcore/auth/composer/rpc_signature_composer.py``
  and tea-openapi's ``get_rpcsignature``; key = secret + ``"&"``.
* ``ACS3-HMAC-SHA256`` (V3 header signing): tea-openapi's ``get_authorization``; key = bare secret.

Pure functions; ``auth.py`` decides what a request must carry and which error a mismatch gets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Literal
from urllib.parse import quote

Scheme = Literal["HMAC-SHA1", "ACS3-HMAC-SHA256"]

RPC_SCHEME: Scheme = "HMAC-SHA1"
ACS3_SCHEME: Scheme = "ACS3-HMAC-SHA256"

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def percent_encode(value: str) -> str:
    """RFC 3986 over UTF-8: only ``A-Za-z0-9-_.~`` stay as they are (space is ``%20``, not ``+``)."""
    return quote(value, safe="~", encoding="utf-8")


def rpc_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&percentEncode(sorted k=v&...)`` over every parameter except ``Signature``."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params) if k != "Signature")
    return f"{method.upper()}&%2F&{percent_encode(canonical)}"


def rpc_signature(string_to_sign: str, secret: str) -> str:
    """Base64(HMAC-SHA1(secret + "&", StringToSign))."""
    mac = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def acs3_canonical_query(query: Mapping[str, str]) -> str:
    """Sorted ``k=v`` pairs joined by ``&``; only values are encoded, exactly as tea-openapi does."""
    return "&".join(f"{k}={percent_encode(query[k])}" for k in sorted(query))


def acs3_canonical_request(
    method: str,
    path: str,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_sha256: str,
) -> str:
    """``METHOD\\nURI\\nQUERY\\n<name:value\\n per signed header>\\nSignedHeaders\\nPayloadHash``."""
    names = sorted({h.lower() for h in signed_headers})
    header_block = "".join(f"{name}:{headers.get(name, '')}\n" for name in names)
    return "\n".join(
        [
            method.upper(),
            quote(path or "/", safe="/~", encoding="utf-8"),
            acs3_canonical_query(query),
            header_block,
            ";".join(names),
            payload_sha256,
        ]
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3_SCHEME}\n{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"


def acs3_signature(string_to_sign: str, secret: str) -> str:
    """hex(HMAC-SHA256(secret, StringToSign)); unlike RPC the key has no trailing ``&``."""
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def format_timestamp(epoch: float) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(epoch))
