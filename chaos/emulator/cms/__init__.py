"""CloudMonitor (``Cms``, 2019-01-01) evidence APIs, RPC style on ``/``, recognised by ``Version``.

* ``urls.py``: the operation table and how a request is recognised (``Version=2019-01-01``).
* ``service.py``: :class:`CmsService`, what the emulator registers and the control plane calls; its
  ``RpcProduct`` puts it on the shared RPC pipeline (``chaos/emulator/rpc.py``: auth, RAM, flow control,
  faults, ledger).
* ``responses.py``: ``DescribeSystemEventAttribute`` and ``DescribeMetricLast``: validation, answers.
* ``backend.py``: the system-event history and the datapoints, stamped on the emulator clock.
* ``models.py``: what the control plane accepts (``SystemEventSeed``, ``DatapointSeed``).
"""

from chaos.emulator.cms.models import DatapointSeed, SystemEventSeed
from chaos.emulator.cms.service import CmsService
from chaos.emulator.cms.urls import REQUIRED, VERSION

__all__ = ["REQUIRED", "VERSION", "CmsService", "DatapointSeed", "SystemEventSeed"]
