"""The ebs API's error catalogue: codes, HTTP statuses and verbatim messages.

Messages are copied from the ebs 2021-07-30 metadata and from gateway answers quoted
publicly. The legacy SDK parses some of them (it splits
SignatureDoesNotMatch on ':'), so wording matters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

PRODUCT = "Ebs"

# code -> (HTTP status, message). Messages with %s take one argument.
CATALOG: dict[str, tuple[int, str]] = {
    # every ebs operation
    "Forbidden": (403, "User is not authorized to operate."),
    "Forbidden.Action": (403, "User is not authorized to operate this action."),
    "NoSuchResource": (404, "The specified resource does not exist."),
    "InternalError": (
        500,
        "The request processing has failed due to some unknown error, exception or failure.",
    ),
    "RequestTimeout": (504, "The request is timeout, please try again later."),
    # per-operation state errors (HTTP 403 unless noted)
    "OperationDenied": (403, "The operation is not allowed."),
    "OperationDenied.InvalidStatus": (403, "The operation is not allowed in current status."),
    "OperationDenied.OperateNotAllowedForPrimary": (403, "Operation is not allowed on the primary site."),
    "OperationDenied.OperateNotAllowedForStandby": (403, "Operation is not allowed on the secondary site."),
    "OperationDenied.NoPairInGroup": (403, "The operation is not allowed because no pair in the group."),
    "OperationDenied.PairGroupStatusConflict": (
        403,
        "The operation is not allowed due to pair and group status are not consistent.",
    ),
    "OperationDenied.PairGroupAZoneConflict": (
        403,
        "The operation is not allowed due to pair and group having different RegionId or ZoneId.",
    ),
    "OperationDenied.PairInAnotherGroup": (
        403,
        "The operation is not allowed because pair is already in another group.",
    ),
    "OperationDenied.PairNotInGroup": (
        403,
        "The operation is not allowed because pair is not in any group.",
    ),
    "OperationDenied.ManualSyncLimit": (
        403,
        "One shot start manual syncing too frequently, please try again later.",
    ),
    "OperationDenied.StandbyDeviceAttached": (400, "The secondary disk is attached."),
    # Start*Drill
    "OperationDenied.RecoverPointNotFound": (403, "Recover point is not found."),
    "OperationDenied.StartDrillShouldOnDestRegion": (403, "Operation should be executed on the secondary region."),
    "IdempotentParameterMismatch": (
        400,
        "The specified parameter has changed while using an already used clientToken.",
    ),
    "LastTokenProcessing": (403, "The last token request is processing."),
    # gateway
    "MissingParameter": (
        400,
        'The input parameter "%s" that is mandatory for processing this request is not supplied.',
    ),
    "InvalidParameter": (400, "The parameter %s is invalid."),
    "InvalidApi.NotFound": (404, "Specified api is not found, please check your url and method."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "InvalidAccessKeyId.Inactive": (400, "Specified access key is disabled."),
    "SignatureDoesNotMatch": (
        400,
        "Specified signature is not matched with our calculation. server string to sign is:%s",
    ),
    "IncompleteSignature": (
        400,
        "The request signature does not conform to Aliyun standards. server string to sign is:%s",
    ),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "IllegalTimestamp": (
        400,
        'The input parameter "Timestamp" that is mandatory for processing this request is not supplied.',
    ),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value is not well formatted."),
    "MissingSecurityToken": (400, "SecurityToken is mandatory for this action."),
    "InvalidSecurityToken.Expired": (400, "Specified SecurityToken is expired."),
    "InvalidSecurityToken.Malformed": (400, "Specified SecurityToken is malformed."),
    "InvalidSecurityToken.MismatchWithAccessKey": (
        400,
        "Specified SecurityToken mismatch with the AccessKey.",
    ),
    "Throttling": (400, "Request was denied due to request throttling."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
}


def new_request_id() -> str:
    """Request ids look like the gateway's: an upper-case UUID."""
    return str(uuid.uuid4()).upper()


@dataclass
class ApiError(Exception):
    """An error answer of the API. ``status``/``message`` default from the catalogue."""

    code: str
    status: int = 0
    message: str = ""
    args_: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        known = CATALOG.get(self.code)
        if not self.status:
            self.status = known[0] if known else 400
        if not self.message:
            template = known[1] if known else self.code
            self.message = template % self.args_ if "%s" in template else template
        super().__init__(f"{self.status} {self.code}: {self.message}")

    @classmethod
    def of(cls, code: str, *args: str) -> ApiError:
        """``ApiError.of("MissingParameter", "RegionId")`` fills the catalogue message's ``%s``."""
        return cls(code=code, args_=tuple(args))

    def body(self, request_id: str, host_id: str) -> dict[str, str]:
        return {
            "RequestId": request_id,
            "HostId": host_id,
            "Code": self.code,
            "Message": self.message,
            "Recommend": (
                f"https://api.aliyun.com/troubleshoot?q={self.code}&product={PRODUCT}&requestId={request_id}"
            ),
        }
