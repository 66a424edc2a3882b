"""What keeps one invocation's memory down at 10,000 targets (docs/performance.md, "Memory"):
modules an invocation does not need stay unimported, and the result's models are dropped as dumped."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from replica_failover.plan import PlanItem
from replica_failover.result import Result, TargetResult, dump_targets, target_result

from chaos.emulator.app import Emulator
from tests.conftest import DR, PRIMARY, seed_basic
from tests.function.conftest import base_env

# Runs two invocations in a fresh interpreter and prints, for each, the recovery stage modules it
# imported (the package itself is a few lines: it holds the check).
SCRIPT = """
import json, sys
spec = json.load(sys.stdin)
from chaos.emulator.config import Credential
from chaos.emulator.fc import FunctionSpec, make_context
from replica_failover.handler import handle

fn = FunctionSpec(service="replica-failover", name="failover", handler="index:handler", timeout=30)
context = make_context(fn, request_id="mem", credential=Credential.model_validate(spec["credential"]),
                       region=spec["region"], account_id=spec["account"])
event = json.dumps({"action": "failover", "primaryRegion": spec["primary"], "reason": "memory test"})
out = []
for env in (spec["env"], {**spec["env"], "FAILOVER_RECOVERY_TAGS": "true"}):
    before = set(sys.modules)
    result = handle(event, context, env=env)
    loaded = sorted(m for m in set(sys.modules) - before if m.startswith("replica_failover.recovery."))
    out.append({"status": result["status"], "loaded": loaded})
print(json.dumps(out))
"""


def test_an_invocation_without_a_recovery_map_never_imports_the_stages(emulator: Emulator, endpoint: str) -> None:
    seed_basic(emulator)
    config = emulator.config()
    credential = config.credential(config.function_role_access_key_id)
    assert credential is not None
    spec: dict[str, Any] = {
        "credential": credential.model_dump(mode="json", by_alias=True),
        "region": DR,
        "account": config.account_id,
        "primary": PRIMARY,
        "env": base_env(endpoint),
    }
    done = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and a constant script
        [sys.executable, "-c", SCRIPT], input=json.dumps(spec), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    plain, recovering = json.loads(done.stdout.strip().splitlines()[-1])
    assert plain == {"status": "completed", "loaded": []}  # acted, and the stages (about 2 MB) stayed out
    # the same invocation with recovery switched on does load them: the check above can fail
    assert "replica_failover.recovery.prepare" in recovering["loaded"]


def _item(n: int) -> PlanItem:
    return PlanItem(
        kind="group" if n % 3 == 0 else "pair",
        id=f"id-{n}",
        name=f"name-{n}",
        region=DR,
        source_region=PRIMARY,
        status="normal",
        decision="failover",
        reason="replicating",
        client_token=f"token-{n}",
        token_base=f"base-{n}",
        members=(f"pair-m{n}",) if n % 3 == 0 else (),
    )


def _results() -> list[TargetResult]:
    return [
        target_result(
            _item(n),
            "failedOver" if n % 2 else "pending",
            f"reason {n}",
            status_after="failovering",
            client_token=f"token-{n}-1",
            token_round=1,
            passed_rounds=["normal"],
            attempts=n,
            request_ids=[f"req-{n}"],
            errors=["RequestTimeout"] * (n % 2),
            started_at=1.5 + n,
            duration_ms=2.5,
        )
        for n in range(7)
    ]


def test_dump_targets_is_the_results_dump_and_drops_every_model() -> None:
    whole = Result(ok=True, status="completed", reason="r", mode="auto", incident={}, targets=_results(),
                   started_at=1.0, duration_ms=2.0).dump()  # fmt: skip
    targets = _results()
    assert dump_targets(targets) == whole["targets"]
    assert targets == []  # the caller's list no longer holds the models
