"""What keeps one invocation's memory down at 10,000 targets (docs/performance.md, "Memory"):
modules an invocation does not need stay unimported, and the result's models are dropped as dumped."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from replica_failover.credentials import resolve_credentials
from replica_failover.ebs import EbsApi
from replica_failover.handler import settings_for
from replica_failover.intake import parse_event
from replica_failover.plan import GROUP_FIELDS, PAIR_FIELDS, PlanItem, build_plan
from replica_failover.result import Result, TargetResult, dump_targets, target_result

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import FleetSpec
from tests.conftest import DR, PRIMARY, seed_basic
from tests.function.conftest import base_env, fc_context

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


class _Reads(dict[str, Any]):
    """A describe record that notes every field read from it."""

    seen: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        _Reads.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        _Reads.seen.add(key)
        return super().__getitem__(key)


def test_the_plan_reads_only_the_fields_an_invocation_keeps(emulator: Emulator, endpoint: str) -> None:
    """The fields an invocation keeps of each record are every one build_plan reads, on every branch
    (tags, resource group, allow and deny lists, groups and their members), and the plan built from the
    trimmed records is the plan built from the whole ones."""
    statuses = {"normal": 4.0, "failovered": 1.0, "invalid": 1.0, "reprotecting": 1.0}
    emulator.backend.generate(FleetSpec(pairs=120, routes=[(PRIMARY, DR)], statuses=statuses, group_size=4,
                                        grouped_fraction=0.3, tags={"env": "prod"}, seed=3))  # fmt: skip
    env = base_env(
        endpoint,
        FAILOVER_TAGS="env=prod",
        FAILOVER_RESOURCE_GROUP_ID="rg-acfmemulator01",
        FAILOVER_DENY_PAIR_IDS="pair-gen3-000001",
        FAILOVER_DENY_GROUP_IDS="pg-gen3-00000",
    )
    settings = settings_for(env, DR)
    api = EbsApi(resolve_credentials(fc_context(emulator), env), endpoint=f"http://{endpoint}",
                 connect_timeout=5, read_timeout=10)  # fmt: skip
    event = json.dumps({"action": "failover", "primaryRegion": PRIMARY, "reason": "fields"}).encode()
    incident = parse_event(event, settings, account_id=None)
    pairs, groups = api.describe_pairs(DR), api.describe_groups(DR)
    assert groups and any(p.get("ReplicaGroupId") for p in pairs)
    _Reads.seen = set()
    whole = build_plan(incident, settings, [_Reads(p) for p in pairs], [])
    assert _Reads.seen <= set(PAIR_FIELDS), _Reads.seen - set(PAIR_FIELDS)
    _Reads.seen = set()
    whole = build_plan(incident, settings, pairs, [_Reads(g) for g in groups])
    assert _Reads.seen <= set(GROUP_FIELDS), _Reads.seen - set(GROUP_FIELDS)

    kept_pairs, kept_groups = api.describe_pairs(DR, fields=PAIR_FIELDS), api.describe_groups(DR, fields=GROUP_FIELDS)
    assert {k for p in kept_pairs for k in p} <= set(PAIR_FIELDS) < {k for p in pairs for k in p}
    assert {k for g in kept_groups for k in g} <= set(GROUP_FIELDS) < {k for g in groups for k in g}
    trimmed = build_plan(incident, settings, kept_pairs, kept_groups)
    assert trimmed == whole
    assert {i.decision for i in whole.items} == {"failover", "alreadyFailedOver", "skipped"}


def test_plan_items_of_one_shape_share_their_fields_set_and_a_copy_does_not_touch_it(
    emulator: Emulator, endpoint: str
) -> None:
    seed_basic(emulator, n_pairs=5)
    env = base_env(endpoint)
    settings = settings_for(env, DR)
    api = EbsApi(resolve_credentials(fc_context(emulator), env), endpoint=f"http://{endpoint}",
                 connect_timeout=5, read_timeout=10)  # fmt: skip
    event = json.dumps({"action": "failover", "primaryRegion": PRIMARY, "reason": "shape"}).encode()
    plan = build_plan(parse_event(event, settings, account_id=None), settings, api.describe_pairs(DR),
                      api.describe_groups(DR))  # fmt: skip
    pairs = [i for i in plan.items if i.kind == "pair"]
    assert len(pairs) == 5 and len({id(i.model_fields_set) for i in pairs}) == 1
    assert pairs[0].model_fields_set == set(pairs[0].model_dump()) - {"members"}  # what _item gave, no more
    before = set(pairs[1].model_fields_set)
    copied = pairs[0].model_copy(update={"decision": "skipped", "reason": "held"})  # as the approval gate does
    assert copied.decision == "skipped" and pairs[0].decision == "failover"
    assert pairs[1].model_fields_set == before and copied.model_fields_set is not pairs[1].model_fields_set
