"""Non-disruptive drills: start a drill per replica pair/group of a route, measure its RPO, always clear.

``runner.py`` holds the flow, ``client.py`` the ebs drill calls (official V2 SDK, imported on use),
``models.py`` the request and the JSON report.
"""

from replica_failover.drill.client import DrillApi, DrillApiError, EbsDrillClient, Target
from replica_failover.drill.models import DrillReport, DrillRequest, TargetResult
from replica_failover.drill.runner import Clock, DrillRefused, DrillRunner, Terminated

__all__ = [
    "Clock",
    "DrillApi",
    "DrillApiError",
    "DrillRefused",
    "DrillReport",
    "DrillRequest",
    "DrillRunner",
    "EbsDrillClient",
    "Target",
    "TargetResult",
    "Terminated",
]
