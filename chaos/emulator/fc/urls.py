"""Which requests are Function Compute's, and what their path names (moto's ``urls.py``).

Only ``POST /2016-08-15/services/{svc}[.{qualifier}]/functions/{fn}/invocations`` is an
operation (``InvokeFunction``); any other path under the API version answers ``PathNotSupported``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

API_VERSION = "2016-08-15"
LATEST = "LATEST"

_INVOKE_PATH = re.compile(
    r"^/2016-08-15/services/(?P<service>[^/.]+)(?:\.(?P<qualifier>[^/]+))?"
    r"/functions/(?P<function>[^/]+)/invocations/?$"
)


@dataclass(frozen=True)
class InvokeTarget:
    service: str
    qualifier: str
    function: str


def handles(path: str) -> bool:
    """Every path under the API version is FC's, so unknown ones get FC's error shape."""
    return path.startswith(f"/{API_VERSION}/")


def invoke_target(method: str, path: str) -> InvokeTarget | None:
    """The function an ``InvokeFunction`` call names, or None when the request is not one."""
    match = _INVOKE_PATH.match(path)
    if match is None or method != "POST":
        return None
    return InvokeTarget(match["service"], match["qualifier"] or LATEST, match["function"])
