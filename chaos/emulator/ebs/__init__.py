"""The ebs 2021-07-30 async-replication API: replica pairs and groups, RPC style on ``/``.

Structure (read in this order):

* ``urls.py``: the operation table (``REQUIRED``: action -> required parameters, ``WRITE_ACTIONS``)
  and what the gateway routes (method, path ``/``, ``Action``, ``Version``).
* ``service.py``: :class:`EbsService`, the object the emulator registers; the typed surface the
  control plane uses (``seed_pairs``, ``flip``, ``snapshot``…).
* ``product.py``: ebs's stages on the shared RPC pipeline (``chaos/emulator/rpc.py``: authenticate,
  RAM, flow control, faults, ClientToken, latency, handler, the ledger entry of every request).
* ``responses.py``: one handler per operation, named after it (``failover_disk_replica_pair``…);
  parameter validation and pagination.
* ``backend.py``: the state (pairs, groups), lazy transitions (``settle``), seeding, describes.
* ``replication.py``: the write operations on that state (a mixin of :class:`EbsBackend`).
* ``drills.py``: pair and group drills (Start/Describe/Clear*Drill), another mixin.
* ``fleet.py``: deterministic fleet generation; ``models.py``: the records, in the API's field names.

Errors are the gateway's catalogue in ``chaos/emulator/errors.py`` (shared with auth and tokens).
"""

from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord, Tag
from chaos.emulator.ebs.service import EbsService
from chaos.emulator.ebs.urls import REQUIRED, VERSION, WRITE_ACTIONS

__all__ = ["REQUIRED", "VERSION", "WRITE_ACTIONS", "EbsService", "FleetSpec", "GroupRecord", "PairRecord", "Tag"]
