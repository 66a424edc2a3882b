"""How CloudMonitor (``Cms``, 2019-01-01) requests are recognised: RPC on ``/`` with its ``Version``.

CloudMonitor shares ``/`` with ebs (a real deployment tells them apart by host name,
``metrics.<region>.aliyuncs.com``); the emulator tells them apart by the API version, read from
the query, the form body or the V2 SDK's ``x-acs-version`` header.
"""

from __future__ import annotations

from werkzeug.wrappers import Request

VERSION = "2019-01-01"

# action -> required parameters (both operations are reads: no ClientToken)
REQUIRED: dict[str, tuple[str, ...]] = {
    "DescribeSystemEventAttribute": (),
    "DescribeMetricLast": ("Namespace", "MetricName"),
}


def request_version(request: Request) -> str:
    """The API version a request names, wherever the SDK put it."""
    version = request.args.get("Version") or request.headers.get("x-acs-version", "")
    if not version and request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        request.get_data(cache=True)  # keep the raw body for ACS3's hash before .form reads it
        version = request.form.get("Version", "")
    return version


def recognised(request: Request) -> bool:
    return request.path == "/" and request_version(request) == VERSION

