"""Shared by the fan-out tests: the failover function registered in the emulator under FC 2.0 or 3.0
names, a coordinator run in-process, and the ledger's effects per target."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from replica_failover.handler import PendingWork, handle
from replica_failover.retry import Backoff

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import GroupRecord, PairRecord
from chaos.emulator.fc import make_context
from chaos.template import ensure_importable, read_template
from tests.conftest import DR, PRIMARY
from tests.function.conftest import TRUST_SIGNAL

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = read_template(ROOT / "template.yml")
FC2 = "2016-08-15"
FC3 = "2023-03-30"
FC3_NAME = "replica-failover"
N_PAIRS = 10  # plus one group: 11 targets, 4 batches of at most 3


def names(api: str) -> tuple[str, str]:
    """(service, function) as template.yml (FC 2.0) and s.yaml (FC 3.0) name the failover function."""
    fn = TEMPLATE["failover"]
    return (fn.service, fn.name) if api == FC2 else (FC3_NAME, FC3_NAME)


def fanout_env(endpoint: str, api: str, **extra: str) -> dict[str, str]:
    service, function = names(api)
    env = {
        "FAILOVER_PRIMARY_REGIONS": f"{PRIMARY},cn-beijing",
        "FAILOVER_DR_REGION": DR,
        "EBS_ENDPOINT": f"http://{endpoint}",
        "CMS_ENDPOINT": f"http://{endpoint}",
        # the split and the workers are under test, not the confirmation policy: trust the signal
        "FAILOVER_CONFIRM": TRUST_SIGNAL,
        "FAILOVER_MAX_TARGETS": "500",
        "FAILOVER_RETRY_BUDGET": "500",
        "FAILOVER_DEADLINE_MARGIN_SECONDS": "1",
        "FAILOVER_READ_TIMEOUT_SECONDS": "5",
        "FAILOVER_VERIFY": "false",
        "FAILOVER_BATCH_SIZE": "3",
        "FC_API_VERSION": api,
        "FC_ENDPOINT": f"http://{endpoint}",
        "FAILOVER_SERVICE": service,
        "FAILOVER_FUNCTION": function,
    }
    env.update(extra)
    return env


def register(emulator: Emulator, env: dict[str, str], *, retries: int = 3, timeout: float = 60) -> None:
    """The failover function, running the workers, with exactly ``env`` as its environment."""
    fn = TEMPLATE["failover"]
    ensure_importable(fn.code_uri)
    service, function = names(env["FC_API_VERSION"])
    spec = fn.spec().model_copy(
        update={
            "service": service,
            "name": function,
            "environment": env,
            "max_async_retry_attempts": retries,
            "timeout": timeout,
        }
    )
    emulator.fc.register(spec)
    emulator.fc.retry_backoff_seconds = 0.01  # FC's async retry, without waiting seconds for it


def seed(emulator: Emulator, n_pairs: int = N_PAIRS) -> set[str]:
    """``n_pairs`` loose pairs and one group of two, all replicating PRIMARY -> DR; the target ids."""
    pairs = [
        PairRecord(ReplicaPairId=f"pair-{i:03d}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(n_pairs)
    ]
    pairs += [PairRecord(ReplicaPairId=f"pair-g{i}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(2)]
    emulator.backend.seed_pairs(pairs)
    emulator.backend.seed_groups(
        [
            GroupRecord(
                ReplicaGroupId="pg-1", SourceRegionId=PRIMARY, DestinationRegionId=DR, PairIds=["pair-g0", "pair-g1"]
            )
        ]
    )
    return {f"pair-{i:03d}" for i in range(n_pairs)} | {"pg-1"}


def run(emulator: Emulator, event: Any, env: dict[str, str], *, request_id: str = "coord-1") -> dict[str, Any]:
    """The handler in-process, as FC would run the invocation the alarm started (the coordinator)."""
    config = emulator.config()
    service, function = names(env["FC_API_VERSION"])
    spec = TEMPLATE["failover"].spec().model_copy(update={"service": service, "name": function})
    context = make_context(
        spec,
        request_id=request_id,
        credential=config.credential(config.function_role_access_key_id),
        region=DR,
        account_id=config.account_id,
    )
    raw = event if isinstance(event, bytes | str) else json.dumps(event)
    logs = io.StringIO()
    try:
        result = handle(raw, context, env=env, log_stream=logs, backoff=Backoff(base=0.01, cap=0.2))
        result["raised"] = False
    except PendingWork as exc:
        result = {**exc.result, "raised": True}
    result["logLines"] = [json.loads(line) for line in logs.getvalue().splitlines()]
    return result


def effects_per_target(emulator: Emulator) -> Counter[str]:
    return Counter(str(e["targetId"]) for e in emulator.ledger.snapshot()["effects"])


def writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.ledger.snapshot()["requests"] if str(r.get("action", "")).startswith("Failover")]


def worker_results(emulator: Emulator) -> list[dict[str, Any]]:
    """Each finished FC 3.0 worker's returned result (its async task's ``returnPayload``)."""
    out = []
    for inv in emulator.fc.invocations():
        body = inv.get("returnPayload")
        if isinstance(body, str):
            doc = json.loads(body)
            if isinstance(doc, dict) and doc.get("fanout"):
                out.append(doc)
    return out
