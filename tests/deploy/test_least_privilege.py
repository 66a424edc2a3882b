"""template.yml's RAM policies, derived from what the code really does.

The failover function runs as the template deploys it (``chaos.invoke``: its code dir, handler and
environment) against the emulator, whose role key is narrowed to exactly the policy's ebs actions, so
a missing action fails the run (403 Forbidden.Action / Forbidden.RAM). Two runs cover every call: a
region-level alarm whose confirmation reads the evidence (the probe of the primary region, CloudMonitor's
events and metric) and is held, then a manual failover that acts and runs the recovery stages (tagged
standbys, a DNS record in a recovery map). The ebs, cms, ecs and alidns actions the emulator's ledger saw
must equal the policy's (no missing, no extra), every call's resource ARN must be allowed by a statement,
and a static scan of the function code finds no action the run did not exercise. Dropping any one
action must turn the run into a machine-readable permanent failure (exit 5, ``failure.cause ==
"permission"``). The remaining statements are what FC needs to deliver the async destinations.

The operations function (replica-failover-ops) is run the same way with its own policy: a drill, then -
after the failover function failed the targets over with its policy - undo, reprotect and failback, each
as a dry run and executed. Its ledger's actions equal its policy's, every call's region and resource is
allowed, and each dropped action is refused and reported. An operation event sent to the failover function
is rejected with zero calls; an alarm sent to the operations function is only planned.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.emulator.app import Emulator
from chaos.emulator.config import Credential
from chaos.emulator.dns.models import DomainRecord
from chaos.emulator.ebs.models import PairRecord
from chaos.emulator.ecs.fleet import StandbySpec
from chaos.invoke import EXIT_DONE, EXIT_FAILED, EXIT_HELD, EXIT_REJECTED, invoke
from chaos.template import FunctionDef, read_template
from tests.conftest import DR, PRIMARY, seed_basic
from tests.deploy import FUNCTION_DIR, REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yml"
FAILOVER_EVENT = (REPO_ROOT / "events" / "manual-failover.json").read_bytes()
ALARM_EVENT = (REPO_ROOT / "events" / "threshold-alert.json").read_bytes()  # region-level: needs evidence
MNS_DESTINATION_LIMIT = 64 * 1024  # FC async destinations on MNS carry at most 64 KB
ENV = {"FAILOVER_VERIFY": "false"}  # verification polls on the wall clock; the ledger is the proof here
SERVICE_PREFIXES = ("ebs:", "cms:", "ecs:", "alidns:")  # what the function calls; the rest is FC's (MNS)
RECOVERY_MAP = {"records": [{"domain": "example.com", "rr": "app", "value": "203.0.113.7"}]}

EVIDENCE_ENV = {"FAILOVER_EVIDENCE_SITE_TASK_ID": "task-probe-1"}  # so the metric is read too
RESOURCE_LESS_READS = frozenset({"cms:DescribeSystemEventAttribute", "cms:DescribeMetricLast"})

Statement = dict[str, Any]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statements(service: str) -> list[Statement]:
    tpl = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    policies = tpl["Resources"][service]["Properties"]["Policies"]
    out: list[Statement] = []
    for policy in policies if isinstance(policies, list) else [policies]:
        assert isinstance(policy, dict), f"named policy {policy!r}: attach an inline document, not a system policy"
        out.extend(policy["Statement"])
    for stmt in out:
        assert stmt["Effect"] == "Allow" and "Condition" not in stmt
        for action in as_list(stmt["Action"]):
            assert "*" not in action, f"wildcard action {action}"
        for resource in as_list(stmt["Resource"]):
            # CloudMonitor's read actions take no resource ARN ("All Resources"): '*' is their only form
            unscoped = set(as_list(stmt["Action"])) - RESOURCE_LESS_READS
            assert resource != "*" or not unscoped, f"{sorted(unscoped)} on Resource '*'"
    return out


def allows(stmts: list[Statement], action: str, resource: str) -> bool:
    """RAM's matching for Allow statements: `*` and `?` wildcards in the Resource."""
    return any(
        action in as_list(s["Action"]) and any(fnmatch.fnmatchcase(resource, r) for r in as_list(s["Resource"]))
        for s in stmts
    )


def policy_actions(stmts: list[Statement], prefix: str) -> set[str]:
    return {a for s in stmts for a in as_list(s["Action"]) if a.startswith(prefix)}


def failover_function() -> FunctionDef:
    return read_template(TEMPLATE)["replica-failover/failover"]


def restrict_role(emulator: Emulator, actions: set[str]) -> None:
    """The FC role key (what the function gets as context.credentials) may call only ``actions``."""
    config = emulator.config()
    role = config.function_role_access_key_id
    creds = [
        c.model_copy(update={"allowed_actions": sorted(actions)}) if c.access_key_id == role else c
        for c in config.credentials
    ]
    emulator.update_config({"credentials": [Credential.model_dump(c, by_alias=True) for c in creds]})


def run_failover(
    endpoint: str, env: dict[str, str] | None = None, event: bytes = FAILOVER_EVENT
) -> tuple[int, dict[str, Any]]:
    code, result = invoke(
        failover_function(),
        event,
        endpoint=f"http://{endpoint}",
        env_overrides={**ENV, **(env or {})},
        log_stream=io.StringIO(),
    )
    assert isinstance(result, dict)
    return code, result


def api_action(request: dict[str, Any]) -> str:
    return f"{request.get('service') or 'ebs'}:{request['action']}"


def granted_actions(stmts: list[Statement]) -> set[str]:
    return {a for p in SERVICE_PREFIXES for a in policy_actions(stmts, p)}


def seed_recovery(emulator: Emulator, code_dir: Path) -> dict[str, str]:
    """A tagged standby per target, a DNS record switched by a recovery map; transitions at once
    (zero delays: the function here polls on the wall clock); the env that turns the map on."""
    emulator.ecs.seed_standby(emulator.ebs.snapshot(), StandbySpec(region=DR))
    emulator.dns.seed_records([DomainRecord(RecordId="7001", DomainName="example.com", RR="app", Value="10.0.0.7")])
    delays = {**emulator.config().transition_delays, "failovering": 0.0, "Attaching": 0.0, "Starting": 0.0}
    emulator.update_config({"transitionDelays": delays})
    (code_dir / "recovery.json").write_text(json.dumps(RECOVERY_MAP), encoding="utf-8")
    return {
        "FC_FUNC_CODE_PATH": str(code_dir),
        "FAILOVER_RECOVERY_TAGS": "true",
        "FAILOVER_RECOVERY_PLAN": "recovery.json",
        "FAILOVER_VERIFY_POLL_SECONDS": "0.05",
    }


def arn_of(request: dict[str, Any], account: str) -> list[str]:
    """The resources RAM checks for one request, as the policy names them."""
    service, action, region = request.get("service", "ebs"), str(request["action"]), request.get("regionId")
    if service == "ebs":
        return [ebs_arn(request, account)]
    if service == "alidns":
        return [f"acs:alidns:*:{account}:domain/example.com"]
    instance = f"acs:ecs:{region}:{account}:instance/{request.get('target') or '*'}"
    if action == "AttachDisk":
        return [f"acs:ecs:{region}:{account}:disk/{request.get('target')}", f"acs:ecs:{region}:{account}:instance/*"]
    if action == "DescribeDisks":
        return [f"acs:ecs:{region}:{account}:disk/*"]
    return [instance]


def ebs_arn(request: dict[str, Any], account: str) -> str:
    kind = "diskreplicagroup" if "Group" in str(request["action"]) else "diskreplicapair"
    return f"acs:ebs:{request['regionId']}:{account}:{kind}/{request.get('target') or '*'}"


def called_in_code() -> set[str]:
    """ebs actions named as the first argument of EbsApi.call/_pages anywhere in the function code, and
    cms actions named as the first argument of a CloudMonitor ``call(...)`` in the evidence sources."""
    found: set[str] = set()
    cms_sources = FUNCTION_DIR / "replica_failover" / "confirm" / "sources.py"
    for path in (FUNCTION_DIR / "replica_failover").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                continue
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("call", "_pages"):
                found.add(f"ebs:{node.args[0].value}")
            elif path == cms_sources and isinstance(node.func, ast.Name) and node.func.id == "call":
                found.add(f"cms:{node.args[0].value}")
    return found


def test_failover_role_is_exactly_what_the_function_calls(emulator: Emulator, endpoint: str, tmp_path: Path) -> None:
    stmts = statements("replica-failover")
    granted = granted_actions(stmts)
    seed_basic(emulator)  # loose pairs and a group replicating cn-hangzhou -> cn-shanghai
    env = seed_recovery(emulator, tmp_path)
    restrict_role(emulator, granted)
    # the alarm's confirmation reads all three evidence sources: a healthy probe and no events -> held
    code, held = run_failover(endpoint, {**env, **EVIDENCE_ENV}, ALARM_EVENT)
    assert (code, held["status"], held["writeCalls"]) == (EXIT_HELD, "held", 0), held
    sources = held["confirmation"]["evidence"]["sources"]
    assert set(sources) == {"probe", "cms_events", "metric"}
    assert sources["probe"]["available"] and sources["cms_events"]["available"], sources
    code, result = run_failover(endpoint, env)
    assert (code, result["status"], result["failure"]) == (EXIT_DONE, "completed", None), result
    assert {t["kind"] for t in result["targets"] if t["outcome"] == "failedOver"} == {"pair", "group"}
    recovery = result["recovery"]
    assert recovery["status"] == "completed" and recovery["summary"]["done"] == len(recovery["steps"]) > 0
    assert {s["step"].split(":")[0] for s in recovery["steps"]} == {"attach", "start", "switch"}

    requests = emulator.ledger.snapshot()["requests"]
    called = {api_action(r) for r in requests}
    assert called == granted, f"missing from the policy: {called - granted}; never used: {granted - called}"
    in_code = policy_actions(stmts, "ebs:") | policy_actions(stmts, "cms:")
    assert called_in_code() == in_code, "the code can send an action this run did not exercise"
    account = emulator.config().account_id
    dr = failover_function().environment["FAILOVER_DR_REGION"]
    for r in requests:
        assert r["status"] == 200, r
        action = api_action(r)
        if action.startswith("cms:"):
            assert r["regionId"] == PRIMARY and allows(stmts, action, f"acs:cms:{PRIMARY}:{account}:*")
            continue
        # the one call outside the DR region is the read-only probe of the primary's control plane
        assert r["regionId"] == dr or (r["regionId"], r["action"]) == (PRIMARY, "DescribeDiskReplicaPairs"), r
        arns = [ebs_arn(r, account)] if action.startswith("ebs:") else arn_of(r, account)
        assert all(allows(stmts, action, arn) for arn in arns), (action, arns)
    # in the primary region the role may only read the pairs (the probe): no write, no group there
    in_primary = {
        a
        for a in policy_actions(stmts, "ebs:")
        for kind in ("diskreplicapair/pair-0", "diskreplicagroup/pg-0")
        if allows(stmts, a, f"acs:ebs:{PRIMARY}:{account}:{kind}")
    }
    assert in_primary == {"ebs:DescribeDiskReplicaPairs"}


def test_the_other_failover_statements_are_the_async_destinations() -> None:
    """FC delivers the async destinations with the service role: one statement per destination, scoped to it."""
    stmts = statements("replica-failover")
    fn = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))["Resources"]["replica-failover"]["failover"]
    destinations = fn["Properties"]["AsyncConfiguration"]["Destination"]
    dr = failover_function().environment["FAILOVER_DR_REGION"]
    needed: set[tuple[str, str]] = set()
    for arn in destinations.values():
        assert arn.startswith("acs:mns:::/"), arn  # fun fills region and account at deploy
        action = "mns:SendMessage" if "/queues/" in arn else "mns:PublishMessage"
        needed.add((action, arn.replace(":::", f":{dr}:*:", 1)))
    others = {
        (a, r)
        for s in stmts
        for a in as_list(s["Action"])
        if not a.startswith(SERVICE_PREFIXES)
        for r in as_list(s["Resource"])
    }
    assert others == needed


@pytest.mark.parametrize(
    "dropped",
    ["ebs:DescribeDiskReplicaGroups", "ebs:DescribeDiskReplicaPairs", "ebs:FailoverDiskReplicaPair",
     "ebs:FailoverDiskReplicaGroup", "ecs:DescribeInstances", "ecs:DescribeDisks", "ecs:AttachDisk",
     "ecs:StartInstances", "alidns:DescribeDomainRecords", "alidns:DescribeDomainRecordInfo",
     "alidns:UpdateDomainRecord"],
)  # fmt: skip
def test_each_granted_action_is_needed_and_its_denial_is_a_permanent_failure(
    emulator: Emulator, endpoint: str, dropped: str, tmp_path: Path
) -> None:
    seed_basic(emulator)
    env = seed_recovery(emulator, tmp_path)
    granted = granted_actions(statements("replica-failover"))
    assert dropped in granted
    restrict_role(emulator, granted - {dropped})
    code, result = run_failover(endpoint, env)
    assert code == EXIT_FAILED and result["ok"] is False, result
    failure = result["failure"]
    assert failure["kind"] == result["status"] in ("failed", "partial")
    assert failure["cause"] == "permission", failure
    refused = ("Forbidden.Action", "Forbidden.RAM")
    assert set(failure["errorCodes"]) & set(refused)
    denied = [r for r in emulator.ledger.snapshot()["requests"] if r.get("code") in refused]
    assert denied and {f"{r.get('service', 'ebs')}:{r['action']}" for r in denied} == {dropped}
    if not dropped.startswith("ebs:"):  # the result names the RAM action the role lacks
        assert dropped in result["recovery"]["permission"], result["recovery"]


def test_webhook_role_reaches_only_the_failover_function() -> None:
    stmts = statements("replica-failover-webhook")
    assert policy_actions(stmts, "") == {"fc:InvokeFunction"}
    functions = read_template(TEMPLATE)
    webhook = functions["replica-failover-webhook/webhook"]
    target = functions[f"{webhook.environment['FAILOVER_SERVICE']}/{webhook.environment['FAILOVER_FUNCTION']}"]
    assert target is functions["replica-failover/failover"]
    arn = "acs:fc:cn-shanghai:1234567890123456:services/{}/functions/{}"
    assert allows(stmts, "fc:InvokeFunction", arn.format(target.service, target.name))
    assert allows(stmts, "fc:InvokeFunction", arn.format(f"{target.service}.LATEST", target.name))
    assert not allows(stmts, "fc:InvokeFunction", arn.format(webhook.service, webhook.name))
    assert not allows(stmts, "fc:InvokeFunction", arn.format(target.service, "other"))
    assert not policy_actions(statements("replica-failover"), "fc:"), "the failover function invokes nothing"


def test_a_permanent_failure_at_the_target_cap_fits_the_mns_destination(emulator: Emulator, endpoint: str) -> None:
    """The on-success destination (MNS, 64 KB) must carry the worst returned result: every target failed."""
    cap = int(failover_function().environment["FAILOVER_MAX_TARGETS"])
    emulator.backend.seed_pairs(
        PairRecord(ReplicaPairId=f"pair-cn-{i:012d}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(cap)
    )
    restrict_role(emulator, granted_actions(statements("replica-failover")) - {"ebs:FailoverDiskReplicaPair"})
    code, result = run_failover(endpoint)
    assert code == EXIT_FAILED and result["summary"]["failed"] == cap
    payload = len(json.dumps(result).encode()) + len(FAILOVER_EVENT)
    # the destination message wraps the result and the request payload in a small envelope
    assert payload + 4096 < MNS_DESTINATION_LIMIT, f"{payload} bytes at {cap} targets"


# --------------------------------------------------------------------------------------------------
# the operations function (replica-failover-ops): drill, undo, reprotect, failback

OPS_SERVICE = "replica-failover-ops"
ACTION_CLIENTS = ("drill/client.py", "reverse/client.py")  # the ebs calls of the operator actions
# reprotect and failback share one pair and the group; undo gets a pair of its own
UNDO_PAIRS, REVERSE_PAIRS, REVERSE_GROUPS = ["pair-0"], ["pair-1"], ["pg-1"]


def ops_function() -> FunctionDef:
    return read_template(TEMPLATE)[f"{OPS_SERVICE}/operations"]


@pytest.fixture
def emulator_clock(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The actions' waits advance the emulator's clock instead of the wall's."""
    from replica_failover.drill import Clock as DrillClock
    from replica_failover.drill import event as drill_event
    from replica_failover.reverse import event as reverse_event
    from replica_failover.reverse.run import Clock as ReverseClock

    def make_clock(left: float) -> tuple[DrillClock, Any]:
        return DrillClock(now=emulator.clock.now, sleep=emulator.advance), lambda: None

    monkeypatch.setattr(drill_event, "make_clock", make_clock)
    monkeypatch.setattr(reverse_event, "CLOCK", ReverseClock(sleep=lambda s: emulator.advance(float(s))))
    return emulator


def run_ops(endpoint: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The operations function as the template deploys it (its environment), pointed at the emulator."""
    code, result = invoke(
        ops_function(),
        json.dumps(payload).encode(),
        endpoint=f"http://{endpoint}",
        env_overrides={"ECS_ENDPOINT": f"http://{endpoint}"},
        log_stream=io.StringIO(),
    )
    assert isinstance(result, dict)
    return code, result


def reverse_event(action: str, dry_run: bool, key: str) -> dict[str, Any]:
    ids = {"pairIds": UNDO_PAIRS} if action == "undo" else {"pairIds": REVERSE_PAIRS, "groupIds": REVERSE_GROUPS}
    change = {"incidentKey": key, "changeId": "CHG-UNDO-1"} if action == "undo" else {"changeId": key}
    return {"action": action, "dryRun": dry_run, "primaryRegion": PRIMARY, "reason": "least-privilege test",
            **change, **ids}  # fmt: skip


DRILL_EVENT = {"action": "drill", "primaryRegion": PRIMARY, "reason": "least-privilege test"}


def fail_over_as_the_failover_function(emulator: Emulator, endpoint: str) -> str:
    """The alarm path's failover, with the failover function's own policy; returns its incident key."""
    restrict_role(emulator, granted_actions(statements("replica-failover")))
    code, result = run_failover(endpoint)
    assert (code, result["status"]) == (EXIT_DONE, "completed"), result
    emulator.advance(5)
    return str(result["incident"]["incidentKey"])


def ops_world(emulator: Emulator) -> None:
    seed_basic(emulator)
    delays = {**emulator.config().transition_delays, "failovering": 0.0}
    emulator.update_config({"transitionDelays": delays})


def requests_since(emulator: Emulator, start: int) -> list[dict[str, Any]]:
    return list(emulator.ledger.snapshot()["requests"])[start:]


def called_by_the_actions() -> set[str]:
    """The ebs actions the drill and reverse clients can send: ``self._call(region, "<sdk method>", ...)``."""
    found: set[str] = set()
    for rel in ACTION_CLIENTS:
        tree = ast.parse((FUNCTION_DIR / "replica_failover" / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "_call"
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                found.add("ebs:" + "".join(part.title() for part in node.args[1].value.split("_")))
    return found


def test_ops_role_is_exactly_what_the_operator_actions_call(
    emulator_clock: Emulator, endpoint: str
) -> None:
    emulator = emulator_clock
    ops_world(emulator)
    stmts = statements(OPS_SERVICE)
    granted = granted_actions(stmts)
    ops_requests: list[dict[str, Any]] = []

    def ops(payload: dict[str, Any], status: str) -> dict[str, Any]:
        restrict_role(emulator, granted)
        start = len(emulator.ledger.snapshot()["requests"])
        code, result = run_ops(endpoint, payload)
        assert (code, result["status"]) == (EXIT_DONE, status), result
        ops_requests.extend(requests_since(emulator, start))
        return result

    drilled = ops(DRILL_EVENT, "completed")
    assert drilled["summary"]["executed"] == drilled["summary"]["cleared"] == 4, drilled["summary"]
    key = fail_over_as_the_failover_function(emulator, endpoint)
    for action in ("undo", "reprotect", "failback"):
        writes = sum(1 for r in ops_requests if not r["action"].startswith("Describe"))
        planned = ops(reverse_event(action, True, key if action == "undo" else "CHG-7"), "planned")
        assert sum(1 for r in ops_requests if not r["action"].startswith("Describe")) == writes, planned
        done = ops(reverse_event(action, False, key if action == "undo" else "CHG-7"), "completed")
        assert {t["outcome"] for t in done["targets"]} == {"done"}, done
        emulator.advance(10)  # reprotecting -> stopped, Start -> syncing -> normal

    called = {api_action(r) for r in ops_requests}
    assert called == granted, f"missing from the policy: {called - granted}; never used: {granted - called}"
    assert called_by_the_actions() == policy_actions(stmts, "ebs:"), "an action can send a call this run did not"
    account = emulator.config().account_id
    dr = ops_function().environment["FAILOVER_DR_REGION"]
    for r in ops_requests:
        assert r["status"] == 200, r
        action = api_action(r)
        arns = [ebs_arn(r, account)] if action.startswith("ebs:") else arn_of(r, account)
        assert all(allows(stmts, action, arn) for arn in arns), (action, r["regionId"], arns)
    # per region as each call goes: in the primary region only failback's Failover and reverse Reprotect
    # (the secondary's region) and the disk precondition's read
    in_primary = {api_action(r) for r in ops_requests if r["regionId"] == PRIMARY}
    assert in_primary == {
        "ebs:FailoverDiskReplicaPair", "ebs:FailoverDiskReplicaGroup", "ebs:ReprotectDiskReplicaPair",
        "ebs:ReprotectDiskReplicaGroup", "ecs:DescribeDisks",
    }  # fmt: skip
    assert {r["regionId"] for r in ops_requests} == {PRIMARY, dr}
    for kind in ("diskreplicapair/pair-0", "diskreplicagroup/pg-1"):  # this role never fails over into the DR region
        assert not any(a.startswith("ebs:Failover") and allows(stmts, a, f"acs:ebs:{dr}:{account}:{kind}")
                       for a in granted)  # fmt: skip


# dropped action -> the operator action whose run sends it (the ones before it run with the whole policy)
OPS_RUN_OF = {
    "ebs:DescribeDiskReplicaPairs": "drill", "ebs:DescribeDiskReplicaGroups": "drill",
    "ebs:StartPairDrill": "drill", "ebs:StartReplicaGroupDrill": "drill",
    "ebs:DescribePairDrills": "drill", "ebs:DescribeReplicaGroupDrills": "drill",
    "ebs:ClearPairDrill": "drill", "ebs:ClearReplicaGroupDrill": "drill",
    "ebs:ReprotectDiskReplicaPair": "undo", "ebs:StartDiskReplicaPair": "undo", "ecs:DescribeDisks": "undo",
    "ebs:ReprotectDiskReplicaGroup": "reprotect", "ebs:StartDiskReplicaGroup": "reprotect",
    "ebs:FailoverDiskReplicaPair": "failback", "ebs:FailoverDiskReplicaGroup": "failback",
}  # fmt: skip
REFUSED = ("Forbidden.Action", "Forbidden.RAM")


def test_every_ops_action_has_a_denial_case() -> None:
    assert set(OPS_RUN_OF) == granted_actions(statements(OPS_SERVICE))


@pytest.mark.parametrize("dropped", sorted(OPS_RUN_OF))
def test_each_ops_action_is_needed_and_its_denial_is_reported(
    emulator_clock: Emulator, endpoint: str, dropped: str
) -> None:
    emulator = emulator_clock
    ops_world(emulator)
    granted = granted_actions(statements(OPS_SERVICE))
    action = OPS_RUN_OF[dropped]
    if action != "drill":
        key = fail_over_as_the_failover_function(emulator, endpoint)
        restrict_role(emulator, granted)
        if action == "failback":  # failback starts where reprotect ends: replicating towards the old primary
            code, ready = run_ops(endpoint, reverse_event("reprotect", False, "CHG-7"))
            assert (code, ready["status"]) == (EXIT_DONE, "completed"), ready
            emulator.advance(10)
    payload = DRILL_EVENT if action == "drill" else reverse_event(action, False, key if action == "undo" else "CHG-7")
    restrict_role(emulator, granted - {dropped})
    start = len(emulator.ledger.snapshot()["requests"])
    code, result = run_ops(endpoint, payload)
    denied = [r for r in requests_since(emulator, start) if r.get("code") in REFUSED]
    assert denied and {api_action(r) for r in denied} == {dropped}, denied
    if dropped == "ecs:DescribeDisks":
        # undo must know the DR disks are detached: unreadable, the target is blocked before any write
        pre = [p for t in result["targets"] for p in t["preconditions"]]
        assert pre and all(p["state"] == "unknown" and p["code"] in REFUSED for p in pre), pre
        assert not [r for r in requests_since(emulator, start) if api_action(r).startswith("ebs:Reprotect")]
    if dropped.startswith("ebs:Clear"):
        # a refused clear leaves the drill behind, named with the code: a retry would only start more drills
        assert result["drill"]["notCleared"] and emulator.backend.drills(), result["drill"]
        assert set(result["drill"]["clearRefused"].values()) & set(REFUSED), result["drill"]
    assert code == EXIT_FAILED and result["ok"] is False and result["status"] in ("failed", "partial"), result
    failure = result["failure"]
    assert (failure["kind"], failure["cause"]) == (result["status"], "permission"), failure
    assert set(failure["errorCodes"]) & set(REFUSED), failure


def test_an_operation_sent_to_the_failover_function_is_rejected_with_zero_calls(
    emulator: Emulator, endpoint: str
) -> None:
    """The alarm-triggered function leaves FAILOVER_OPERATIONS empty: whatever its role, nothing is called."""
    seed_basic(emulator)
    assert "FAILOVER_OPERATIONS" not in failover_function().environment  # '' in the template: unset
    for payload in (DRILL_EVENT, reverse_event("undo", False, "INC-1"), reverse_event("failback", True, "CHG-7")):
        code, result = run_failover(endpoint, event=json.dumps(payload).encode())
        assert (code, result["status"], result["writeCalls"]) == (EXIT_REJECTED, "rejected", 0), result
        assert result["failure"]["cause"] == "event" and OPS_SERVICE in result["reason"], result
    assert emulator.ledger.snapshot()["requests"] == []


def test_an_alarm_sent_to_the_operations_function_is_only_planned(emulator: Emulator, endpoint: str) -> None:
    """FAILOVER_MODE=plan-only there: an alarm gets a dry-run plan from reads its role has, and no write."""
    seed_basic(emulator)
    stmts = statements(OPS_SERVICE)
    restrict_role(emulator, granted_actions(stmts))
    for event in (FAILOVER_EVENT, ALARM_EVENT):
        code, result = invoke(ops_function(), event, endpoint=f"http://{endpoint}", log_stream=io.StringIO())
        assert isinstance(result, dict)
        assert (code, result["status"], result["writeCalls"]) == (EXIT_DONE, "planned", 0), result
    requests = emulator.ledger.snapshot()["requests"]
    assert requests and all(r["status"] == 200 and r["action"].startswith("Describe") for r in requests), requests
    account = emulator.config().account_id
    assert all(allows(stmts, api_action(r), ebs_arn(r, account)) for r in requests)


def test_the_readme_drill_policy_is_the_drill_part_of_the_ops_policy() -> None:
    from tests.test_drill_cli import readme_drill_policy

    readme = {a for st in readme_drill_policy()["Statement"] for a in st["Action"]}
    ops = granted_actions(statements(OPS_SERVICE))
    assert readme == {a for a in ops if "Drill" in a or a.startswith("ebs:DescribeDiskReplica")}
