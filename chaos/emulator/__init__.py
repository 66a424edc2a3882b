"""A local, stateful stand-in for the Alibaba Cloud APIs this project calls, one package per service.

Layout (moto-style; docs/emulator.md has the full reference):

* ``ebs/``: the ebs 2021-07-30 replica pair/group API (RPC on ``/``).
* ``fc/``: the Function Compute 2.0 invoke API (``/2016-08-15/...``).
* ``cms/``: CloudMonitor 2019-01-01 evidence reads (RPC on ``/``, recognised by ``Version``).
* ``notify/``: a DingTalk-compatible robot (``/robot/send``) and a JSON webhook receiver (``/hooks/…``).
* ``services.py``: the registry, ``SERVICES``: the one place a service is added.
* ``app.py``: :class:`Emulator`, the WSGI app: shared pieces + registered services + control plane.
* ``control.py`` (+ ``control_models.py``, ``control_guard.py``): the ``/_emulator/`` control plane.
* Shared by every service: ``shared.py`` (the bundle a service is built from), ``auth.py``
  (request verification) and ``signatures.py`` (the gateway's two signatures), ``tokens.py``
  (ClientToken store), ``faults.py``, ``ratelimit.py``, ``ledger.py``, ``clock.py``, ``config.py``,
  ``errors.py`` (gateway error catalogue), ``wire.py`` (JSON answers, body limits, fault
  misbehaviour), ``server.py``, ``seedfile.py``.

Adding a service (``ecs/``, ``dns/``, ``cms/`` …):

1. Create ``chaos/emulator/<svc>/`` with ``urls.py`` (how its requests are recognised: a path
   prefix, or for an RPC API on ``/`` its ``Version``; the operation table), ``responses.py`` (one
   handler per operation, named after it), ``models.py``/``backend.py`` (its state) and
   ``service.py``: a class with ``name``, ``recognises(request)``, ``dispatch(request)``,
   ``settle()``, ``reset()``, ``shutdown()`` and ``create(shared)`` (see
   :class:`chaos.emulator.services.Service`). An RPC service on ``/`` declares an
   ``RpcProduct`` and runs on the shared pipeline, ``rpc.py`` (auth, RAM, flow control, faults,
   ClientToken, ledger), built from ``Shared``.
2. Add ``<Svc>Service.create`` to ``SERVICES`` in ``services.py``, before ``ebs`` (the catch-all).
3. Control-plane endpoints for its state, if any, call typed methods on the service object.

Nothing here may import ``app.py`` except ``server.py`` and ``seedfile.py``; tests check that
the import graph has no cycle. Names are re-exported lazily below, so importing a light module
(``chaos.emulator.config``) does not load the whole emulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.emulator.app import Emulator
    from chaos.emulator.config import EmulatorConfig
    from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord, Tag
    from chaos.emulator.faults import FaultError, FaultRule
    from chaos.emulator.fc import FcContext, FunctionSpec, make_context
    from chaos.emulator.server import RunningEmulator, running, start

_EXPORTS = {
    "Emulator": "chaos.emulator.app",
    "EmulatorConfig": "chaos.emulator.config",
    "FleetSpec": "chaos.emulator.ebs.models",
    "GroupRecord": "chaos.emulator.ebs.models",
    "PairRecord": "chaos.emulator.ebs.models",
    "Tag": "chaos.emulator.ebs.models",
    "FaultError": "chaos.emulator.faults",
    "FaultRule": "chaos.emulator.faults",
    "FcContext": "chaos.emulator.fc",
    "FunctionSpec": "chaos.emulator.fc",
    "make_context": "chaos.emulator.fc",
    "RunningEmulator": "chaos.emulator.server",
    "running": "chaos.emulator.server",
    "start": "chaos.emulator.server",
}

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "FaultError",
    "FaultRule",
    "FcContext",
    "FleetSpec",
    "FunctionSpec",
    "GroupRecord",
    "PairRecord",
    "RunningEmulator",
    "Tag",
    "make_context",
    "running",
    "start",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chaos.emulator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
