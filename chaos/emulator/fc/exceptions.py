"""FC API errors: ``{"ErrorCode", "ErrorMessage"}`` answers with their HTTP status.

Codes, statuses and message templates are those of the FC 2.0 "Error codes" page
(help.aliyun.com/zh/fc/developer-reference/error-codes) unless noted.
"""

from __future__ import annotations

# code -> (HTTP status, message template)
CATALOG: dict[str, tuple[int, str]] = {
    "InvalidArgument": (400, "%s"),
    "MissingRequiredHeader": (400, "required HTTP header %s was not specified"),
    "PathNotSupported": (400, "'%s' against '%s' is not supported"),
    "EntityTooLarge": (400, "payload size exceeds maximum allowed size (%s bytes)"),
    "AccessDenied": (403, "%s"),
    "SignatureNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your access key and signing method",
    ),
    "InvalidAccessKeyID": (403, "invalid access key ID '%s'"),
    "ServiceNotFound": (404, "service '%s' does not exist"),
    # wording from the fc 2023-03-30 catalogue (the 2.0 page lists the code without a message)
    "FunctionNotFound": (404, "function '%s' does not exist in service '%s'"),
    "AliasNotFound": (404, "alias '%s' of service '%s' does not exist"),
    "VersionNotFound": (404, "version '%s' of service '%s' does not exist"),
    "ResourceExhausted": (429, "%s"),
    "InternalServerError": (500, "an internal error has occurred. Please retry."),
}


# FC 3.0 (no services) where its codes or wording differ; the wording is the emulator's [INF].
V3_CATALOG: dict[str, tuple[int, str]] = {
    "FunctionNotFound": (404, "function '%s' does not exist"),
    "AliasNotFound": (404, "alias '%s' of function '%s' does not exist"),
    "VersionNotFound": (404, "version '%s' of function '%s' does not exist"),
    "AsyncTaskNotFound": (404, "async task '%s' of function '%s' does not exist"),
    # documented: a task id already used is refused with HTTP 409; the code string is not
    "AsyncTaskAlreadyExists": (409, "async task '%s' of function '%s' already exists"),
}


class FcApiError(Exception):
    """An FC API error answer with an HTTP 4xx/5xx status (``v3``: worded from the FC 3.0 catalogue)."""

    def __init__(self, code: str, *args: str, v3: bool = False) -> None:
        self.status, template = (V3_CATALOG.get(code) if v3 else None) or CATALOG[code]
        self.code = code
        self.message = template % args if args else template
        super().__init__(f"{self.status} {code}: {self.message}")
