"""Exception hierarchy of the failover function.

Every error the function raises on purpose derives from :class:`FailoverError`, so the handler can tell
"we refused this" from "we crashed" with one ``except`` clause.
"""

from __future__ import annotations

from typing import Final

# Reason codes of EventError; stable strings meant for logs, metrics and alert routing.
MALFORMED_JSON: Final = "malformed-json"
BAD_ENCODING: Final = "bad-encoding"
TOO_LARGE: Final = "too-large"
TOO_DEEP: Final = "too-deep"
UNKNOWN_SHAPE: Final = "unknown-shape"
INVALID_FIELD: Final = "invalid-field"
ACCOUNT_MISMATCH: Final = "account-mismatch"
OPERATION_DISABLED: Final = "operation-disabled"  # an operator action this function's FAILOVER_OPERATIONS omits

EVENT_REASON_CODES: Final = frozenset(
    {MALFORMED_JSON, BAD_ENCODING, TOO_LARGE, TOO_DEEP, UNKNOWN_SHAPE, INVALID_FIELD, ACCOUNT_MISMATCH,
     OPERATION_DISABLED}
)  # fmt: skip


class FailoverError(Exception):
    """Base class of every deliberate failover error."""


class ConfigError(FailoverError):
    """An environment variable is missing or invalid. ``str()`` always names the variable."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


class EventError(FailoverError):
    """The invocation payload was rejected; ``reason_code`` is one of :data:`EVENT_REASON_CODES`."""

    def __init__(self, reason_code: str, message: str) -> None:
        self.reason_code = reason_code
        self.message = message
        super().__init__(f"{reason_code}: {message}")
