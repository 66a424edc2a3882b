"""FC 3.0 request authentication: ACS3-HMAC-SHA256, as ``alibabacloud_fc20230330`` signs every call.

The verification itself is the emulator's shared one (``chaos.emulator.auth.Authenticator``:
canonical request, body hash, date window, nonce, STS token), so an FC 3.0 call is checked exactly
like a V2-SDK ebs call. Only the answers differ: its gateway codes become FC's own
(``SignatureNotMatch``, ``InvalidAccessKeyID``, ``AccessDenied``, ``InvalidArgument``) [INF].
"""

from __future__ import annotations

import re

from werkzeug.wrappers import Request

from chaos.emulator.auth import Authenticator
from chaos.emulator.config import Credential
from chaos.emulator.errors import ApiError
from chaos.emulator.fc.exceptions import FcApiError
from chaos.emulator.signatures import ACS3_SCHEME

_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")


def _translate(err: ApiError, authorization: str) -> FcApiError:
    if err.code == "SignatureDoesNotMatch":
        return FcApiError("SignatureNotMatch")
    if err.code.startswith("InvalidAccessKeyId"):
        match = _CREDENTIAL.search(authorization)
        return FcApiError("InvalidAccessKeyID", match.group(1) if match else "")
    if err.code == "MissingSecurityToken" or err.code.startswith("InvalidSecurityToken"):
        return FcApiError("AccessDenied", err.message)
    return FcApiError("InvalidArgument", err.message)


def authenticate_v3(request: Request, auth: Authenticator) -> Credential:
    """The credential that signed ``request``; FcApiError when it is missing, unknown or wrong."""
    authorization = (request.headers.get("Authorization") or "").strip()
    if not authorization:
        raise FcApiError("MissingRequiredHeader", "Authorization")
    if not authorization.startswith(ACS3_SCHEME + " "):
        raise FcApiError(
            "InvalidArgument",
            f"the Authorization header must be '{ACS3_SCHEME} Credential=...,SignedHeaders=...,Signature=...'",
        )
    try:
        return auth.authenticate(request, {}).credential
    except ApiError as err:
        raise _translate(err, authorization) from None
