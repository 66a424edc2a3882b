"""How CloudMonitor (``Cms``, 2019-01-01) requests are recognised: RPC on ``/`` with its ``Version``.

CloudMonitor shares ``/`` with ebs (a real deployment tells them apart by host name,
``metrics.<region>.aliyuncs.com``); the emulator tells them apart by the API version, read from
the query, the form body or the V2 SDK's ``x-acs-version`` header (``rpc.request_version``).
"""

from __future__ import annotations

VERSION = "2019-01-01"

# action -> required parameters (both operations are reads: no ClientToken)
REQUIRED: dict[str, tuple[str, ...]] = {
    "DescribeSystemEventAttribute": (),
    "DescribeMetricLast": ("Namespace", "MetricName"),
}
