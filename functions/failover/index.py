"""FC entry module (Handler ``index.handler``, Initializer ``index.initialize``): thin on purpose.

Runs unchanged on FC's python3.10 runtime and behind the custom-container server. The logic lives
in the typed ``replica_failover`` package next to this file.
"""

from __future__ import annotations

import json
from typing import Any

from replica_failover.handler import handle
from replica_failover.handler import initialize as _initialize


def initialize(context: Any) -> None:
    _initialize(context)


def handler(event: bytes, context: Any) -> str:
    return json.dumps(handle(event, context), separators=(",", ":"))
