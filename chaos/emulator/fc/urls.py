"""Which requests are Function Compute's, and what their path names (moto's ``urls.py``).

FC 2.0 (``2016-08-15``): only ``POST /2016-08-15/services/{svc}[.{qualifier}]/functions/{fn}/invocations``
is an operation (``InvokeFunction``); any other path under the API version answers ``PathNotSupported``.

FC 3.0 (``2023-03-30``, no services; the qualifier is a query parameter): ``POST .../invocations``
(InvokeFunction), ``GET .../async-tasks`` (ListAsyncTasks), ``GET .../async-tasks/{id}``
(GetAsyncTask) and ``PUT .../async-tasks/{id}/stop`` (StopAsyncTask) under
``/2023-03-30/functions/{name}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

API_VERSION = "2016-08-15"
API_VERSION_V3 = "2023-03-30"
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
    """Every path under either API version is FC's, so unknown ones get FC's error shape."""
    return path.startswith((f"/{API_VERSION}/", f"/{API_VERSION_V3}/"))


def is_v3(path: str) -> bool:
    return path.startswith(f"/{API_VERSION_V3}/")


def invoke_target(method: str, path: str) -> InvokeTarget | None:
    """The function an ``InvokeFunction`` call names, or None when the request is not one."""
    match = _INVOKE_PATH.match(path)
    if match is None or method != "POST":
        return None
    return InvokeTarget(match["service"], match["qualifier"] or LATEST, match["function"])


_V3_PATH = re.compile(
    r"^/2023-03-30/functions/(?P<function>[^/]+)"
    r"/(?:(?P<invocations>invocations)|async-tasks(?:/(?P<task>[^/]+)(?P<stop>/stop)?)?)/?$"
)


@dataclass(frozen=True)
class V3Route:
    operation: str  # InvokeFunction | GetAsyncTask | ListAsyncTasks | StopAsyncTask
    function: str
    task_id: str | None = None


def v3_route(method: str, path: str) -> V3Route | None:
    """The FC 3.0 operation a request names, or None when method and path match none."""
    match = _V3_PATH.match(path)
    if match is None:
        return None
    function, task = match["function"], match["task"]
    if match["invocations"]:
        operation = "InvokeFunction" if method == "POST" else None
    elif task is None:
        operation = "ListAsyncTasks" if method == "GET" else None
    elif match["stop"]:
        operation = "StopAsyncTask" if method == "PUT" else None
    else:
        operation = "GetAsyncTask" if method == "GET" else None
    return None if operation is None else V3Route(operation, function, task)
