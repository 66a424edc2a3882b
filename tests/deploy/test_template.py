"""template.yml against the REAL `fun validate` (Funcraft 3.6.24 from node_modules), plus the checks its
schema cannot make (least privilege, env names, wiring to the image), the image files and events/."""

from __future__ import annotations

import ast
import copy
import json
import re
import shlex
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import container_server as cs
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy import FUNCTION_DIR, REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yml"
FUN = REPO_ROOT / "node_modules" / ".bin" / "fun"
EVENTS = REPO_ROOT / "events"
SERVICE = "replica-failover"  # the failover function's service
WEBHOOK_SERVICE = "replica-failover-webhook"  # the internet-facing webhook's own service (own RAM role)
OPS_SERVICE = "replica-failover-ops"  # the operator actions' function (own RAM role, no trigger)
SERVICE_OF = {"failover": SERVICE, "webhook": WEBHOOK_SERVICE, "operations": OPS_SERVICE}
ACCOUNT = "1234567890123456"

# Every variable replica_failover/config.py reads (EBS_ENDPOINT is emulator-only, so not in production).
KNOWN_FAILOVER_ENV = {
    "FAILOVER_PRIMARY_REGIONS", "FAILOVER_DR_REGION", "FAILOVER_MIN_LEVEL", "FAILOVER_MODE",
    "FAILOVER_MAX_TARGETS", "FAILOVER_TAGS", "FAILOVER_RESOURCE_GROUP_ID", "FAILOVER_ALLOW_PAIR_IDS",
    "FAILOVER_DENY_PAIR_IDS", "FAILOVER_ALLOW_GROUP_IDS", "FAILOVER_DENY_GROUP_IDS", "FAILOVER_CONCURRENCY",
    "FAILOVER_RETRY_BUDGET", "FAILOVER_MAX_ATTEMPTS", "FAILOVER_DEADLINE_MARGIN_SECONDS", "FAILOVER_VERIFY",
    "FAILOVER_VERIFY_POLL_SECONDS", "FAILOVER_ALARM_REGION_MAP", "FAILOVER_MAX_EVENT_BYTES",
    "FAILOVER_CONNECT_TIMEOUT_SECONDS", "FAILOVER_READ_TIMEOUT_SECONDS", "FAILOVER_LOG_LEVEL",
    "FAILOVER_CONFIRM", "FAILOVER_EVIDENCE_WINDOW_MINUTES", "FAILOVER_EVIDENCE_TIMEOUT_SECONDS",
    "FAILOVER_EVIDENCE_SITE_TASK_ID", "FAILOVER_EVIDENCE_AVAILABILITY_BELOW",
    "FAILOVER_RECOVERY_TAGS", "FAILOVER_RECOVERY_PLAN", "FAILOVER_OPERATIONS",
}  # fmt: skip
PRODUCTION_ENV = {
    "FAILOVER_PRIMARY_REGIONS": "cn-hangzhou",
    "FAILOVER_DR_REGION": "cn-shanghai",
    "FAILOVER_MIN_LEVEL": "CRITICAL",
    "FAILOVER_MODE": "auto",
    "FAILOVER_MAX_TARGETS": "50",
    "FAILOVER_CONCURRENCY": "8",
    "FAILOVER_RETRY_BUDGET": "50",
    "FAILOVER_MAX_ATTEMPTS": "0",
    "FAILOVER_DEADLINE_MARGIN_SECONDS": "10",
    "FAILOVER_VERIFY": "true",
}
WEBHOOK_ENV = {"WEBHOOK_SECRET", "FC_API_VERSION", "FAILOVER_SERVICE", "FAILOVER_FUNCTION"}
# distribution -> what it is for; the image installs exactly these (container_server.py is stdlib only)
RUNTIME_DISTRIBUTIONS = {
    "aliyun-python-sdk-core",
    "aliyun-fc2",
    "alibabacloud-fc20230330",  # webhook.py on FC 3.0 (FC_API_VERSION=2023-03-30)
    "alibabacloud-tea-openapi",
    "darabonba-core",
    "pydantic",
    "tenacity",
    "aliyun-python-sdk-ecs",
    "pyyaml",
    "alibabacloud-ebs20210730",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------------------------------
# helpers


def fun_validate(template: Path) -> subprocess.CompletedProcess[str]:
    if not FUN.exists():
        pytest.fail(f"{FUN} is missing: run `npm ci` in {REPO_ROOT} (installs @alicloud/fun 3.6.24)")
    proc = subprocess.run(  # noqa: S603 - fixed argv: the pinned fun binary and a template path
        [str(FUN), "validate", "-t", template.name], cwd=template.parent, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    proc.stdout, proc.stderr = _ANSI.sub("", proc.stdout), _ANSI.sub("", proc.stderr)
    return proc


def load_template() -> dict[str, Any]:
    data = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(tpl: dict[str, Any], name: str = SERVICE) -> dict[str, Any]:
    svc = tpl["Resources"][name]
    assert isinstance(svc, dict)
    return svc


def function(tpl: dict[str, Any], name: str) -> dict[str, Any]:
    fn = service(tpl, SERVICE_OF[name])[name]
    assert fn["Type"] == "Aliyun::Serverless::Function"
    props = fn["Properties"]
    assert isinstance(props, dict)
    return props


def command_of(props: dict[str, Any]) -> list[str]:
    cfg = props["CustomContainerConfig"]
    argv = json.loads(cfg["Command"]) + json.loads(cfg.get("Args", "[]"))
    assert isinstance(argv, list)
    assert all(isinstance(a, str) for a in argv)
    return argv


def statements(tpl: dict[str, Any], name: str = SERVICE) -> list[dict[str, Any]]:
    policies = service(tpl, name)["Properties"]["Policies"]
    policies = policies if isinstance(policies, list) else [policies]
    out: list[dict[str, Any]] = []
    for policy in policies:
        # a bare string would attach a whole system policy (e.g. AliyunEBSFullAccess): not least privilege
        assert isinstance(policy, dict), f"named policy {policy!r} attached; use an inline document"
        out.extend(policy["Statement"])
    return out


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------------------------------
# the real validator


def test_fun_is_pinned_and_installed() -> None:
    pkg = json.loads((REPO_ROOT / "package.json").read_text(encoding="utf-8"))
    assert pkg["devDependencies"] == {"@alicloud/fun": "3.6.24"}
    assert pkg["scripts"]["validate"] == "fun validate -t template.yml"
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/@alicloud/fun"]["version"] == "3.6.24"
    installed = REPO_ROOT / "node_modules" / "@alicloud" / "fun" / "package.json"
    if not installed.exists():
        pytest.fail(f"{installed} is missing: run `npm ci` in {REPO_ROOT}")
    assert json.loads(installed.read_text(encoding="utf-8"))["version"] == "3.6.24"


def test_fun_validate_accepts_the_template() -> None:
    proc = fun_validate(TEMPLATE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ERR" not in proc.stdout + proc.stderr


Mutation = Callable[[dict[str, Any]], None]


def _set_runtime(tpl: dict[str, Any]) -> None:
    tpl["Resources"][SERVICE]["failover"]["Properties"]["Runtime"] = "python3.10"


def _string_caport(tpl: dict[str, Any]) -> None:
    tpl["Resources"][SERVICE]["failover"]["Properties"]["CAPort"] = "9000"


def _drop_image(tpl: dict[str, Any]) -> None:
    del tpl["Resources"][WEBHOOK_SERVICE]["webhook"]["Properties"]["CustomContainerConfig"]["Image"]


def _unknown_key(tpl: dict[str, Any]) -> None:
    tpl["Resources"][SERVICE]["failover"]["Properties"]["MaxRetries"] = 3


def _eventbridge_trigger(tpl: dict[str, Any]) -> None:
    tpl["Resources"][SERVICE]["failover"]["Events"]["alarms"]["Type"] = "EventBridge"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set_runtime, "Runtime: Value is not accepted"),
        (_string_caport, "CAPort: Incorrect type. Expected integer"),
        (_drop_image, "Missing property Image"),
        (_unknown_key, "Unexpected property MaxRetries"),
        (_eventbridge_trigger, "Type: Value is not accepted"),
    ],
    ids=["python3.10-runtime", "string-caport", "no-image", "unknown-key", "eventbridge-trigger"],
)
def test_fun_validate_rejects_broken_templates(tmp_path: Path, mutate: Mutation, expected: str) -> None:
    """Proves the validator really runs and can fail (a no-op `fun` would pass the test above)."""
    tpl = copy.deepcopy(load_template())
    mutate(tpl)
    broken = tmp_path / "template.yml"
    broken.write_text(yaml.safe_dump(tpl, allow_unicode=True), encoding="utf-8")
    proc = fun_validate(broken)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------------
# what the schema does not check


def test_top_level_and_one_service_per_role() -> None:
    """FC 2.0 roles are per service: the webhook and the failover function each get their own."""
    tpl = load_template()
    assert tpl["ROSTemplateFormatVersion"] == "2015-09-01"
    assert tpl["Transform"] == "Aliyun::Serverless-2018-04-03"
    services = [k for k, v in tpl["Resources"].items() if v["Type"] == "Aliyun::Serverless::Service"]
    assert services == [SERVICE, WEBHOOK_SERVICE, OPS_SERVICE]
    for name, fn in SERVICE_OF.items():  # one function per service, so one role per function
        functions = [k for k, v in service(tpl, fn).items() if isinstance(v, dict) and "Type" in v]
        assert functions == [name]
    for name in services:
        props = service(tpl, name)["Properties"]
        assert props["Description"]
        assert props["InternetAccess"] is True
        assert props["LogConfig"]["Project"] and props["LogConfig"]["Logstore"]
        assert props["LogConfig"]["EnableRequestMetrics"] is True
        assert "Role" not in props  # Policies are ignored by fun when a Role is given


def test_webhook_role_may_only_invoke_the_failover_function() -> None:
    stmts = statements(load_template(), WEBHOOK_SERVICE)
    assert len(stmts) == 1
    (stmt,) = stmts
    assert stmt["Effect"] == "Allow" and as_list(stmt["Action"]) == ["fc:InvokeFunction"]
    resources = as_list(stmt["Resource"])
    assert resources, "no resource"
    pattern = r"acs:fc:cn-shanghai:\*:services/replica-failover(\.\*)?/functions/failover"
    for resource in resources:
        assert re.fullmatch(pattern, resource), resource
    assert "Condition" not in stmt


def test_failover_function() -> None:
    props = function(load_template(), "failover")
    assert props["Runtime"] == "custom-container"
    assert props["CodeUri"] == "./functions/failover"
    assert (props["Handler"], props["Initializer"]) == ("index.handler", "index.initialize")
    assert (props["Timeout"], props["MemorySize"], props["InstanceConcurrency"], props["CAPort"]) == (120, 512, 1, 9000)
    image = props["CustomContainerConfig"]["Image"]
    assert re.fullmatch(r"registry\.[a-z0-9-]+\.aliyuncs\.com/[a-z0-9-]+/[a-z0-9-]+:[\w.-]+", image)
    # fun 3.6.24's `fun local` mangles Command+Args given together (spreads the strings) - keep one
    assert "Args" not in props["CustomContainerConfig"]
    argv = command_of(props)
    assert argv[:3] == ["python", "-m", "container_server"]
    args = cs.parse_args(argv[3:])  # the server accepts exactly what FC will run
    assert (args.handler, args.initializer, args.http_handler) == ("index.handler", "index.initialize", None)
    assert args.port == props["CAPort"] or args.port == cs.DEFAULT_PORT


def test_failover_environment() -> None:
    env = function(load_template(), "failover")["EnvironmentVariables"]
    assert all(isinstance(v, str) for v in env.values()), "FC environment values must be strings"
    unknown = set(env) - KNOWN_FAILOVER_ENV
    assert not unknown, f"not read by replica_failover/config.py: {sorted(unknown)}"
    assert {k: env[k] for k in PRODUCTION_ENV} == PRODUCTION_ENV
    assert int(env["FAILOVER_DEADLINE_MARGIN_SECONDS"]) < function(load_template(), "failover")["Timeout"]
    # and the library accepts them as a whole
    from replica_failover.config import load_settings

    settings = load_settings(env, function_region="cn-shanghai")
    assert settings.primary_regions == ("cn-hangzhou",)
    assert settings.dr_region == "cn-shanghai"
    # the deployed policy is the documented default (never acts on one resource-level signal alone)
    from replica_failover.confirm.policy import DEFAULT_POLICY, Policy

    assert settings.confirm == str(Policy(DEFAULT_POLICY))


def test_operations_function() -> None:
    """Same image, argv and handler as failover; no trigger; a drill-long timeout; the four actions on,
    and an alarm sent to it can only be planned (it must never fail a region over)."""
    tpl = load_template()
    props, failover = function(tpl, "operations"), function(tpl, "failover")
    for key in ("Runtime", "CodeUri", "Handler", "Initializer", "CAPort", "CustomContainerConfig"):
        assert props[key] == failover[key], key
    assert "Events" not in service(tpl, OPS_SERVICE)["operations"]
    assert "AsyncConfiguration" not in props  # fun would attach invocation and MNS permissions to the role
    assert (props["Timeout"], props["InstanceConcurrency"]) == (900, 1)
    env = props["EnvironmentVariables"]
    assert all(isinstance(v, str) for v in env.values())
    assert not set(env) - KNOWN_FAILOVER_ENV
    assert (env["FAILOVER_OPERATIONS"], env["FAILOVER_MODE"]) == ("drill,undo,reprotect,failback", "plan-only")
    for key in ("FAILOVER_PRIMARY_REGIONS", "FAILOVER_DR_REGION", "FAILOVER_ALLOW_PAIR_IDS", "FAILOVER_DENY_PAIR_IDS",
                "FAILOVER_ALLOW_GROUP_IDS", "FAILOVER_DENY_GROUP_IDS"):  # fmt: skip
        assert env[key] == failover["EnvironmentVariables"][key], key
    assert failover["EnvironmentVariables"]["FAILOVER_OPERATIONS"] == ""
    assert int(env["FAILOVER_DEADLINE_MARGIN_SECONDS"]) < props["Timeout"]


def test_failover_async_config_and_mns_trigger() -> None:
    tpl = load_template()
    props = function(tpl, "failover")
    async_cfg = props["AsyncConfiguration"]
    assert re.fullmatch(r"acs:mns:::/queues/[A-Za-z0-9-]+/messages", async_cfg["Destination"]["OnFailure"])
    # permanent failures are returned (no FC retry) and reach the operator through OnSuccess
    assert re.fullmatch(r"acs:mns:::/topics/[A-Za-z0-9-]+/messages", async_cfg["Destination"]["OnSuccess"])
    assert async_cfg["MaxAsyncEventAgeInSeconds"] == 3600
    assert async_cfg["MaxAsyncRetryAttempts"] == 2
    events = service(tpl)["failover"]["Events"]
    assert [e["Type"] for e in events.values()] == ["MNSTopic"]
    mns = next(iter(events.values()))["Properties"]
    assert mns == {"TopicName": "replica-failover-alarms", "NotifyContentFormat": "JSON",
                   "NotifyStrategy": "BACKOFF_RETRY"}  # fmt: skip


def test_webhook_function() -> None:
    tpl = load_template()
    props = function(tpl, "webhook")
    failover = function(tpl, "failover")
    assert props["Runtime"] == "custom-container"
    assert props["CodeUri"] == failover["CodeUri"]
    assert props["CustomContainerConfig"]["Image"] == failover["CustomContainerConfig"]["Image"]
    assert props["Handler"] == "webhook.handler"
    assert (props["Timeout"], props["MemorySize"], props["CAPort"]) == (5, 256, 9000)
    assert "Args" not in props["CustomContainerConfig"]
    args = cs.parse_args(command_of(props)[3:])
    assert (args.http_handler, args.handler) == ("webhook.handler", None)
    env = props["EnvironmentVariables"]
    assert set(env) == WEBHOOK_ENV
    assert env["WEBHOOK_SECRET"] == "", "never commit the webhook secret; set it at deploy"
    assert env["FC_API_VERSION"] == "2016-08-15", "Funcraft deploys to FC 2.0: service + function"
    assert env["FAILOVER_SERVICE"] == SERVICE
    assert env["FAILOVER_FUNCTION"] == "failover"
    events = service(tpl, WEBHOOK_SERVICE)["webhook"]["Events"]
    assert len(events) == 1
    http = next(iter(events.values()))
    assert http["Type"] == "HTTP"
    assert http["Properties"] == {"AuthType": "ANONYMOUS", "Methods": ["POST"]}


# --------------------------------------------------------------------------------------------------
# image files


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (FUNCTION_DIR / "Dockerfile").read_text(encoding="utf-8")
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending = f"{pending} {stripped}" if pending else stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, rest = pending.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "dangling line continuation"
    return out


def test_dockerfile() -> None:
    steps = dockerfile_instructions()
    keywords = [k for k, _ in steps]
    assert steps[0] == ("FROM", "python:3.13-slim")
    copies = [(i, rest) for i, (k, rest) in enumerate(steps) if k == "COPY"]
    runs = [(i, rest) for i, (k, rest) in enumerate(steps) if k == "RUN"]
    req_copy = next(i for i, rest in copies if rest.split()[0] == "requirements.txt")
    pip = next(i for i, rest in runs if "pip install" in rest)
    assert req_copy < pip, "requirements.txt must be copied before pip install"
    pip_args = shlex.split(steps[pip][1])
    assert "--no-cache-dir" in pip_args
    assert pip_args[pip_args.index("-r") + 1] == "requirements.txt"
    code_copy = next(i for i, rest in copies if rest.split()[0] == ".")
    workdir = [rest for k, rest in steps[:code_copy] if k == "WORKDIR"][-1]
    assert steps[code_copy][1].split()[-1] in {".", workdir, workdir + "/"}, "code must land in WORKDIR"
    users = [rest for k, rest in steps if k == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert keywords.index("USER") > code_copy > pip
    assert ("EXPOSE", "9000") in steps
    cmd = json.loads(next(rest for k, rest in steps if k == "CMD"))  # exec form, so SIGTERM reaches python
    assert cmd[:3] == ["python", "-m", "container_server"]
    assert cs.parse_args(cmd[3:]).handler == "index.handler"
    assert "ENTRYPOINT" not in keywords  # the template's Command replaces CMD; an ENTRYPOINT would prefix it


def requirements() -> dict[str, Requirement]:
    reqs: dict[str, Requirement] = {}
    for raw in (FUNCTION_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            reqs[canonicalize_name(req.name)] = req
    return reqs


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported anywhere under functions/failover (function-level imports included)
    that are neither stdlib nor part of the code dir -> the files importing them."""
    local = {p.stem for p in FUNCTION_DIR.glob("*.py")} | {p.name for p in FUNCTION_DIR.iterdir() if p.is_dir()}
    found: dict[str, set[str]] = {}
    for path in FUNCTION_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local or top.startswith("_typeshed"):
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def test_requirements_are_pinned_ranges_matching_pyproject_and_the_dev_env() -> None:
    reqs = requirements()
    assert set(reqs) == RUNTIME_DISTRIBUTIONS
    assert "werkzeug" not in reqs  # the image must not need the emulator's web framework
    # pyproject.toml's [project] dependencies, as installed by `pip install -e .`
    declared = {canonicalize_name(Requirement(d).name) for d in metadata.requires("replica-failover") or []}
    assert set(reqs) <= declared, "runtime deps must also be project dependencies"
    for name, req in reqs.items():
        ops = {spec.operator for spec in req.specifier}
        assert ">=" in ops and "<" in ops, f"{name}: use a compatible range like >=x,<y"
        installed = metadata.version(name)
        assert req.specifier.contains(installed, prereleases=True), f"dev env has {name} {installed}, image {req}"


def test_requirements_name_exactly_what_the_code_imports() -> None:
    imports = third_party_imports()
    provides = metadata.packages_distributions()
    needed: dict[str, set[str]] = {}
    for module, files in imports.items():
        dists = {canonicalize_name(d) for d in provides.get(module, [])}
        assert dists, f"{module} (imported by {sorted(files)}) is not installed in the dev env"
        for dist in dists:
            needed.setdefault(dist, set()).update(files)
    reqs = set(requirements())
    missing = set(needed) - reqs
    assert not missing, f"imported but not in requirements.txt: { {d: sorted(needed[d]) for d in missing} }"
    unused = reqs - set(needed)
    assert not unused, f"in requirements.txt but imported by nothing under functions/failover: {sorted(unused)}"


def test_container_server_is_stdlib_only() -> None:
    tree = ast.parse((FUNCTION_DIR / "container_server.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in {"_typeshed", "__future__"}, name


# --------------------------------------------------------------------------------------------------
# events/


EVENT_FILES = sorted(p.name for p in EVENTS.iterdir())
EXPECTED_EVENTS = {
    "threshold-alert.json", "threshold-alert.form.txt", "system-event.json", "eventbridge.json",
    "mns-topic.json", "manual-plan.json", "manual-failover.json", "alert-ok.json",
    "eventbridge-ecs-native.json", "eventbridge-alert-webhook.json",
}  # fmt: skip


def load_event(name: str) -> dict[str, Any]:
    raw = (EVENTS / name).read_text(encoding="utf-8")
    if name.endswith(".txt"):
        pairs = urllib.parse.parse_qsl(raw.strip(), keep_blank_values=True, strict_parsing=True)
        assert len(pairs) == len({k for k, _ in pairs}), "duplicate form field"
        return dict(pairs)
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


def test_event_set_is_complete() -> None:
    assert set(EVENT_FILES) == EXPECTED_EVENTS


@pytest.mark.parametrize("name", EVENT_FILES)
def test_event_file_parses(name: str) -> None:
    assert load_event(name)


def test_threshold_samples_agree() -> None:
    as_json = load_event("threshold-alert.json")
    assert load_event("threshold-alert.form.txt") == as_json
    assert all(isinstance(v, str) for v in as_json.values()), "callbacks carry only strings"
    assert (as_json["alertState"], as_json["triggerLevel"], as_json["userId"]) == ("ALERT", "CRITICAL", ACCOUNT)
    assert "region=cn-hangzhou" in as_json["dimensions"]
    ok = load_event("alert-ok.json")
    assert (ok["alertState"], ok["triggerLevel"], ok["ruleId"]) == ("OK", "OK", as_json["ruleId"])
    mns = load_event("mns-topic.json")
    assert json.loads(mns["Message"]) == as_json
    trigger = next(iter(service(load_template())["failover"]["Events"].values()))
    assert mns["TopicName"] == trigger["Properties"]["TopicName"]
    assert mns["TopicOwner"] == ACCOUNT


def test_system_and_eventbridge_samples() -> None:
    system = load_event("system-event.json")
    assert system["level"] == "CRITICAL"
    assert system["resourceId"].startswith(f"acs:ecs:cn-hangzhou:{ACCOUNT}:")
    envelope = load_event("eventbridge.json")
    assert envelope["specversion"] == "1.0"
    assert envelope["data"] == system
    assert envelope["aliyunaccountid"] == ACCOUNT


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        ("threshold-alert.json", "act"), ("threshold-alert.form.txt", "act"), ("system-event.json", "act"),
        ("eventbridge.json", "act"), ("mns-topic.json", "act"), ("manual-failover.json", "act"),
        ("manual-plan.json", "plan"), ("alert-ok.json", "noop"),
    ],
)  # fmt: skip
def test_events_drive_the_real_parser_under_the_template_settings(name: str, disposition: str) -> None:
    """The samples are what `replica-failover invoke --event` / `fun local invoke` feed the function,
    so they must mean what their names say under the production environment of template.yml."""
    from replica_failover.config import load_settings
    from replica_failover.intake import parse_event

    env = function(load_template(), "failover")["EnvironmentVariables"]
    settings = load_settings(env, function_region="cn-shanghai")
    incident = parse_event((EVENTS / name).read_bytes(), settings, account_id=ACCOUNT)
    assert incident.disposition == disposition
    assert incident.primary_region == "cn-hangzhou"
