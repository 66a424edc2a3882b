"""FC request signing, as ``fc2/auth.py`` (aliyun-fc2 2.5.2) computes it, and its verification.

``Authorization: FC <AccessKeyID>:<Signature>``, where the signature is
Base64(HMAC-SHA256(secret, string_to_sign)); an STS key also sends ``x-fc-security-token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

from werkzeug.wrappers import Request

from chaos.emulator.config import Credential, EmulatorConfig
from chaos.emulator.fc.exceptions import FcApiError

_AUTHORIZATION = re.compile(r"^FC ([^:\s]+):(\S+)$")


def string_to_sign(
    method: str, path: str, headers: Mapping[str, str], queries: Mapping[str, list[str]] | None = None
) -> str:
    """What fc2/auth.py ``Auth.sign_request`` signs; ``headers`` keys in any case."""
    lower = {k.lower(): v for k, v in headers.items()}
    canonical = "".join(f"{k}:{v}\n" for k, v in sorted(lower.items()) if k.startswith("x-fc-"))
    resource = path
    if queries:
        params = [f"{key}={value}" for key, values in queries.items() for value in values]
        params += [key for key, values in queries.items() if not values]
        resource = path + "\n" + "\n".join(sorted(params))
    return "\n".join(
        [
            method.upper(),
            lower.get("content-md5", ""),
            lower.get("content-type", ""),
            lower.get("date", ""),
            canonical + resource,
        ]
    )


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.strip().encode(), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def authenticate(request: Request, config: EmulatorConfig) -> Credential:
    """The credential that signed ``request``; FcApiError when it is missing, unknown or wrong."""
    authorization = request.headers.get("Authorization")
    if not authorization:
        raise FcApiError("MissingRequiredHeader", "Authorization")
    if not request.headers.get("Date"):
        raise FcApiError("MissingRequiredHeader", "Date")
    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:
        raise FcApiError("InvalidArgument", "the Authorization header must be 'FC <AccessKeyID>:<Signature>'")
    access_key_id, signature = match.groups()
    credential = config.credential(access_key_id)
    if credential is None or not credential.enabled:
        raise FcApiError("InvalidAccessKeyID", access_key_id)
    queries = {key: request.args.getlist(key) for key in request.args} or None
    expected = sign(
        credential.access_key_secret,
        string_to_sign(request.method, request.path, dict(request.headers.items()), queries),
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise FcApiError("SignatureNotMatch")
    if credential.security_token is not None:
        # FC has no documented code for STS token problems; AccessDenied is its generic 403
        token = request.headers.get("x-fc-security-token")
        if token is None:
            raise FcApiError("AccessDenied", f"the security token is required for STS access key '{access_key_id}'")
        if not hmac.compare_digest(token.encode(), credential.security_token.encode()):
            raise FcApiError("AccessDenied", "the security token included in the request is invalid")
    return credential
