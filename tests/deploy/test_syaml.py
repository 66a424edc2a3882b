"""s.yaml (Serverless Devs, fc3, FC 3.0) against its model and against template.yml (Funcraft, FC 2.0).

The model (tests/deploy/syaml_model.py) says which fc3 fields are checked and where each rule comes from.
The drift test compares both files' functions field by field and each function's ram/ policy with the
template's service policy; the mutation tests below prove that each kind of drift is caught.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tests.deploy import REPO_ROOT
from tests.deploy.syaml_model import SYaml, drift, load_policy, resolve, role_name

SYAML = REPO_ROOT / "s.yaml"
TEMPLATE = REPO_ROOT / "template.yml"
RAM = REPO_ROOT / "ram"
ACCOUNT = "1234567890123456"
CONFIG = {"AccountID": ACCOUNT}
DEPLOY_ENV = {"WEBHOOK_SECRET": "a-long-random-value-from-the-deploying-shell"}
SECRETS = {"WEBHOOK_SECRET"}  # set at deploy time in both files: values are not compared
# which FC API the webhook calls: differs by design (template.yml is FC 2.0, s.yaml FC 3.0), so these
# values are checked by test_webhook_calls_the_failover_function_through_each_files_api instead
PER_API = {"FC_API_VERSION", "FAILOVER_FUNCTION"}
PRIMARY_OPS = {f"ebs:{verb}DiskReplica{noun}" for verb in ("Failover", "Reprotect") for noun in ("Pair", "Group")} | {
    "ecs:DescribeDisks"
}


def raw_syaml() -> dict[str, Any]:
    doc = yaml.safe_load(SYAML.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def template() -> dict[str, Any]:
    doc = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def parse(raw: dict[str, Any], env: dict[str, str] | None = None) -> SYaml:
    return SYaml.model_validate(resolve(raw, DEPLOY_ENV if env is None else env, CONFIG))


def drift_of(raw: dict[str, Any], tpl: dict[str, Any] | None = None, ram: Path = RAM) -> list[str]:
    return drift(template() if tpl is None else tpl, parse(raw), ram, SECRETS | PER_API)


# --------------------------------------------------------------------------------------------------
# s.yaml itself


def test_syaml_fits_the_fc3_model() -> None:
    doc = parse(raw_syaml())
    assert set(doc.resources) == {"failover", "webhook", "operations"}
    assert doc.resources["operations"].props.triggers == [], "an operator invokes it; no trigger"
    assert {r.props.region for r in doc.resources.values()} == {doc.vars["region"]}


def test_no_drift_from_template_yml() -> None:
    assert drift_of(raw_syaml()) == []


def test_webhook_calls_the_failover_function_through_each_files_api() -> None:
    doc = parse(raw_syaml())
    fc3 = doc.resources["webhook"].props.environmentVariables
    assert fc3["FC_API_VERSION"] == "2023-03-30"
    # FC 3.0 names the function alone; the webhook's role allows exactly that function (policy test above)
    assert fc3["FAILOVER_FUNCTION"] == doc.resources["failover"].props.functionName
    fc2 = template()["Resources"]["replica-failover-webhook"]["webhook"]["Properties"]["EnvironmentVariables"]
    assert fc2["FC_API_VERSION"] == "2016-08-15"
    assert (fc2["FAILOVER_SERVICE"], fc2["FAILOVER_FUNCTION"]) == ("replica-failover", "failover")
    assert "failover" in template()["Resources"]["replica-failover"]


def test_secrets_come_from_the_deploying_shell_only() -> None:
    text = SYAML.read_text(encoding="utf-8")
    assert raw_syaml()["resources"]["webhook"]["props"]["environmentVariables"]["WEBHOOK_SECRET"] == (
        "${env('WEBHOOK_SECRET')}"
    )
    # no default that could stand in for a secret
    assert not re.search(r"env\(\s*'[A-Z_]*(SECRET|TOKEN|PASSWORD|ACCESS_?KEY)[A-Z_]*'\s*,", text)
    # without it in the environment, s.yaml does not resolve (s would deploy an empty, fail-closed secret)
    with pytest.raises(ValueError, match="WEBHOOK_SECRET is not set"):
        parse(raw_syaml(), env={})


def test_each_function_has_its_own_role_and_policy_document() -> None:
    doc = parse(raw_syaml())
    roles = {name: role_name(r.props) for name, r in doc.resources.items()}
    assert roles == {
        "failover": "replica-failover",
        "webhook": "replica-failover-webhook",
        "operations": "replica-failover-ops",
    }
    for name, res in doc.resources.items():
        assert res.props.role == f"acs:ram::{ACCOUNT}:role/{roles[name]}"
    assert sorted(p.name for p in RAM.glob("*.policy.json")) == sorted(f"{r}.policy.json" for r in roles.values())
    trust = json.loads((RAM / "fc-trust.json").read_text(encoding="utf-8"))
    assert trust["Statement"] == [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": ["fc.aliyuncs.com"]}}
    ]


def test_policies_are_pinned_to_the_dr_region() -> None:
    doc = parse(raw_syaml())
    region = doc.vars["region"]
    assert doc.resources["failover"].props.environmentVariables["FAILOVER_DR_REGION"] == region
    primaries = doc.resources["failover"].props.environmentVariables["FAILOVER_PRIMARY_REGIONS"].split(",")
    for res in doc.resources.values():
        for st in load_policy(RAM, role_name(res.props))["Statement"]:
            for arn in [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]:
                if arn == "*":  # CloudMonitor's evidence reads take no resource ARN
                    assert set(st["Action"]) <= {"cms:DescribeSystemEventAttribute", "cms:DescribeMetricLast"}, st
                elif arn.startswith("acs:alidns:"):  # Alidns is global: acs:alidns:*:<account>:domain/<name>
                    assert arn.split(":")[2] == "*", arn
                elif arn.split(":")[2] in primaries and role_name(res.props) == "replica-failover-ops":
                    # failback: Failover and the reverse Reprotect go to the old primary; the disk check reads it
                    assert set(st["Action"]) <= PRIMARY_OPS, st
                elif arn.split(":")[2] in primaries:  # the read-only probe of a primary region
                    assert st["Action"] == ["ebs:DescribeDiskReplicaPairs"], st
                else:
                    assert arn.split(":")[2] == region, arn
    webhook = load_policy(RAM, "replica-failover-webhook")["Statement"]
    assert webhook == [
        {
            "Effect": "Allow",
            "Action": ["fc:InvokeFunction"],
            "Resource": [f"acs:fc:{region}:*:functions/{doc.resources['failover'].props.functionName}"],
        }
    ]


# --------------------------------------------------------------------------------------------------
# the model rejects what fc3 / FC 3.0 would reject (or silently ignore)


def _props(raw: dict[str, Any], name: str = "failover") -> dict[str, Any]:
    props = raw["resources"][name]["props"]
    assert isinstance(props, dict)
    return props


MODEL_BREAKS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("misspelt key", lambda d: _props(d).update(memorysize=512), "memorysize"),
    ("retries over the API's 8", lambda d: _props(d)["asyncInvokeConfig"].update(maxAsyncRetryAttempts=9), "8"),
    ("event age over 7 days", lambda d: _props(d)["asyncInvokeConfig"].update(maxAsyncEventAgeInSeconds=604_801),
     "604800"),
    ("FC 2.0 casing of authType", lambda d: _props(d, "webhook")["triggers"][0]["triggerConfig"].update(
        authType="ANONYMOUS"), "authType"),
    ("custom-container without its config", lambda d: _props(d).pop("customContainerConfig"), "customContainerConfig"),
    ("memory not a multiple of 64", lambda d: _props(d).update(memorySize=500), "multiple"),
    ("cpu too big for the memory", lambda d: _props(d).update(cpu=1.0), "1:1..1:4"),
    ("mns trigger without its topic", lambda d: _props(d)["triggers"][0].pop("sourceArn"), "sourceArn"),
    ("another component", lambda d: d["resources"]["failover"].update(component="fc"), "fc3"),
    ("edition 2", lambda d: d.update(edition="2.0.0"), "3.0.0"),
    ("FC 2.0 runtime name", lambda d: _props(d).update(runtime="python3"), "runtime"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "mutate", "message"), MODEL_BREAKS, ids=[m[0] for m in MODEL_BREAKS])
def test_model_rejects(what: str, mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    raw = copy.deepcopy(raw_syaml())
    mutate(raw)
    with pytest.raises(ValidationError, match=re.escape(message)):
        parse(raw)


def test_unknown_expression_is_an_error() -> None:
    raw = copy.deepcopy(raw_syaml())
    _props(raw)["handler"] = "${path('./x')}"
    with pytest.raises(ValueError, match="not an expression this project uses"):
        parse(raw)


# --------------------------------------------------------------------------------------------------
# drift is caught, whichever side moves


def _set_env(props: dict[str, Any], key: str, value: str | None) -> None:
    if value is None:
        props["environmentVariables"].pop(key)
    else:
        props["environmentVariables"][key] = value


SYAML_DRIFTS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("timeout", lambda d: _props(d).update(timeout=60), "failover: timeout"),
    ("memory", lambda d: _props(d, "webhook").update(memorySize=512, cpu=0.5), "webhook: memory"),
    ("handler", lambda d: _props(d, "webhook").update(handler="index.handler"), "webhook: handler"),
    ("initializer dropped", lambda d: _props(d).pop("instanceLifecycleConfig"), "failover: initializer"),
    ("image", lambda d: _props(d)["customContainerConfig"].update(image="registry.example/other:1"),
     "failover: image"),
    ("argv", lambda d: _props(d, "webhook")["customContainerConfig"].update(entrypoint=["python", "x.py"]),
     "webhook: argv"),
    ("env name removed", lambda d: _set_env(_props(d), "FAILOVER_MAX_TARGETS", None), "environment names"),
    ("env name added", lambda d: _set_env(_props(d, "webhook"), "EXTRA", "1"), "environment names"),
    ("env value", lambda d: _set_env(_props(d), "FAILOVER_MODE", "plan-only"), "environment FAILOVER_MODE"),
    ("trigger dropped", lambda d: _props(d)["triggers"].clear(), "failover: triggers"),
    ("trigger kind", lambda d: _props(d, "webhook")["triggers"][0]["triggerConfig"].update(authType="function"),
     "webhook: triggers"),
    ("topic", lambda d: _props(d)["triggers"][0].update(sourceArn="acs:mns:cn-shanghai:1:/topics/other"),
     "failover: triggers"),
    ("onFailure", lambda d: _props(d)["asyncInvokeConfig"]["destinationConfig"]["onFailure"].update(
        destination="acs:mns:cn-shanghai:1:/queues/other/messages"), "failover: on_failure"),
    ("onSuccess dropped", lambda d: _props(d)["asyncInvokeConfig"]["destinationConfig"].pop("onSuccess"),
     "failover: on_success"),
    ("retries", lambda d: _props(d)["asyncInvokeConfig"].update(maxAsyncRetryAttempts=3), "async_retries"),
    ("functionName", lambda d: _props(d).update(functionName="failover"), "is not its template.yml service"),
    ("function missing", lambda d: d["resources"].pop("webhook"), "functions:"),
    ("role swapped", lambda d: _props(d, "webhook").update(role=_props(d)["role"]), "webhook: policy"),
    ("ops timeout", lambda d: _props(d, "operations").update(timeout=120), "operations: timeout"),
    ("ops actions", lambda d: _set_env(_props(d, "operations"), "FAILOVER_OPERATIONS", "drill"),
     "environment FAILOVER_OPERATIONS"),
    ("failover enables actions", lambda d: _set_env(_props(d), "FAILOVER_OPERATIONS", "drill"),
     "failover: environment FAILOVER_OPERATIONS"),
    ("ops trigger added", lambda d: _props(d, "operations").update(triggers=copy.deepcopy(_props(d)["triggers"])),
     "operations: triggers"),
    ("ops on the failover role", lambda d: _props(d, "operations").update(role=_props(d)["role"]),
     "operations: policy"),
    ("ops missing", lambda d: d["resources"].pop("operations"), "functions:"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "mutate", "message"), SYAML_DRIFTS, ids=[m[0] for m in SYAML_DRIFTS])
def test_syaml_drift_is_caught(what: str, mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    raw = copy.deepcopy(raw_syaml())
    mutate(raw)
    problems = drift_of(raw)
    assert any(message in p for p in problems), problems


def _fn(tpl: dict[str, Any], service: str, function: str) -> dict[str, Any]:
    props = tpl["Resources"][service][function]["Properties"]
    assert isinstance(props, dict)
    return props


def _policy(tpl: dict[str, Any], service: str) -> dict[str, Any]:
    doc = tpl["Resources"][service]["Properties"]["Policies"][0]
    assert isinstance(doc, dict)
    return doc


TEMPLATE_DRIFTS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("timeout", lambda t: _fn(t, "replica-failover", "failover").update(Timeout=300), "failover: timeout"),
    ("new env var", lambda t: _fn(t, "replica-failover", "failover")["EnvironmentVariables"].update(
        FAILOVER_NEW="1"), "environment names"),
    ("extra ebs action", lambda t: _policy(t, "replica-failover")["Statement"][0]["Action"].append(
        "ebs:ReprotectDiskReplicaPair"), "failover: policy"),
    ("wider ebs scope", lambda t: _policy(t, "replica-failover")["Statement"][1].update(Resource="*"),
     "failover: policy"),
    ("webhook may invoke anything", lambda t: _policy(t, "replica-failover-webhook")["Statement"][0].update(
        Resource="acs:fc:cn-shanghai:*:services/*"), "webhook: policy"),
    ("async age", lambda t: _fn(t, "replica-failover", "failover")["AsyncConfiguration"].update(
        MaxAsyncEventAgeInSeconds=7200), "async_max_age"),
    ("new trigger", lambda t: t["Resources"]["replica-failover"]["failover"]["Events"].update(
        tick={"Type": "Timer", "Properties": {"CronExpression": "@every 1m"}}), "failover: triggers"),
    ("ops action added", lambda t: _policy(t, "replica-failover-ops")["Statement"][2]["Action"].append(
        "ebs:StartDiskReplicaPair"), "operations: policy"),
    ("ops mode", lambda t: _fn(t, "replica-failover-ops", "operations")["EnvironmentVariables"].update(
        FAILOVER_MODE="auto"), "operations: environment FAILOVER_MODE"),
    ("new function", lambda t: t["Resources"]["replica-failover"].update(
        probe={"Type": "Aliyun::Serverless::Function", "Properties": {"Runtime": "custom-container",
               "Handler": "probe.handler", "CodeUri": "."}}), "functions:"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "mutate", "message"), TEMPLATE_DRIFTS, ids=[m[0] for m in TEMPLATE_DRIFTS])
def test_template_drift_is_caught(what: str, mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    tpl = copy.deepcopy(template())
    mutate(tpl)
    problems = drift_of(raw_syaml(), tpl)
    assert any(message in p for p in problems), problems


def test_ram_document_drift_is_caught(tmp_path: Path) -> None:
    for src in RAM.glob("*.json"):
        (tmp_path / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    assert drift_of(raw_syaml(), ram=tmp_path) == []
    doc = json.loads((tmp_path / "replica-failover.policy.json").read_text(encoding="utf-8"))
    doc["Statement"][2]["Resource"] = "acs:mns:cn-shanghai:*:/queues/*"
    (tmp_path / "replica-failover.policy.json").write_text(json.dumps(doc), encoding="utf-8")
    assert any("failover: policy" in p for p in drift_of(raw_syaml(), ram=tmp_path))
    ops = json.loads((tmp_path / "replica-failover-ops.policy.json").read_text(encoding="utf-8"))
    ops["Statement"][0]["Action"].append("ebs:FailoverDiskReplicaPair")  # a DR-region failover: not the ops role's
    (tmp_path / "replica-failover-ops.policy.json").write_text(json.dumps(ops), encoding="utf-8")
    assert any("operations: policy" in p for p in drift_of(raw_syaml(), ram=tmp_path))
    (tmp_path / "replica-failover-webhook.policy.json").unlink()
    problems = drift_of(raw_syaml(), ram=tmp_path)
    assert any("no policy document for role 'replica-failover-webhook'" in p for p in problems), problems
