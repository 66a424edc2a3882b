"""FC entry module (Handler ``index.handler``, Initializer ``index.initialize``): thin on purpose.

Runs unchanged on FC's python3.10 runtime and behind the custom-container server. The logic lives
in the typed ``replica_failover`` package next to this file.

Importing it installs log redaction for the whole process (the SDKs log signed URLs and credential
headers at ERROR through the root logger), and the result is serialised redacted.
"""

from __future__ import annotations

from typing import Any

from replica_failover.handler import handle
from replica_failover.handler import initialize as _initialize
from replica_failover.redact import dumps, install_logging

install_logging()


def initialize(context: Any) -> None:
    _initialize(context)


def handler(event: bytes, context: Any) -> str:
    return dumps(handle(event, context), separators=(",", ":"))
