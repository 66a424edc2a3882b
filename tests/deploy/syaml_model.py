"""A strict model of the Serverless Devs ``s.yaml`` fields this project uses (component ``fc3``, FC 3.0), and
the comparable shape of each function in s.yaml and template.yml, for the drift test.

Why a model of our own: the fc3 component is published to the Serverless Devs registry, not to npm (npm's
``fc3`` is an unrelated font package, ``@serverless-cd/fc3`` does not exist), so neither the component nor
the JSON schema it ships can be installed here or in CI, and ``s verify`` needs the component.

Sources of the constraints below:
- fc3's ``src/schema.json`` (draft-07, generated from ``src/interface/*.ts`` of the devsapp/fc3 repository):
  required ``region``/``functionName``/``runtime`` and ``customContainerConfig`` for custom-container; the
  trigger types; HTTP ``authType`` (lower case) + ``methods``; MNS ``notifyContentFormat`` (JSON|STREAM) +
  ``notifyStrategy``; the EventBridge trigger's required keys; ``timeout`` 1-86400; ``memorySize`` 128-32768
  in steps of 64; ``cpu`` 0.05-16; ``diskSize`` 512|10240; ``instanceConcurrency`` 1-100; the initializer's
  ``timeout`` >= 1.
- FC 3.0 API (2023-03-30) PutAsyncInvokeConfig: ``maxAsyncRetryAttempts`` 0-8, ``maxAsyncEventAgeInSeconds``
  1-604800 (the fc3 schema allows up to 2592000; the API's limit is the one that holds).
- FC 3.0 CreateFunction: vCPU to memory (GB) between 1:1 and 1:4, vCPU in steps of 0.05.
The fc3 schema does not forbid unknown keys; this model does (``extra="forbid"``) so a misspelt key
(``memorysize``) fails here instead of being silently ignored by ``s deploy``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# --------------------------------------------------------------------------------------------------
# the s.yaml model


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Destination(Strict):
    destination: Annotated[str, Field(pattern=r"^acs:(mns|fc|eventbridge):")]


class DestinationConfig(Strict):
    onSuccess: Destination | None = None
    onFailure: Destination | None = None


class AsyncInvokeConfig(Strict):
    destinationConfig: DestinationConfig | None = None
    maxAsyncRetryAttempts: Annotated[int, Field(ge=0, le=8)] = 3
    maxAsyncEventAgeInSeconds: Annotated[int, Field(ge=1, le=604_800)] = 86_400
    asyncTask: bool | None = None


class LifecycleHook(Strict):
    handler: str
    timeout: Annotated[int, Field(ge=1)]


class InstanceLifecycleConfig(Strict):
    initializer: LifecycleHook | None = None
    preStop: LifecycleHook | None = None


class CustomContainerConfig(Strict):
    image: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 9000
    entrypoint: list[str] | None = None
    command: list[str] | None = None


class LogConfig(Strict):
    project: str
    logstore: str
    enableRequestMetrics: bool | None = None
    enableInstanceMetrics: bool | None = None
    logBeginRule: Literal["DefaultRegex", "None"] | None = None


HttpMethod = Literal["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]


class HttpTriggerConfig(Strict):
    authType: Literal["anonymous", "function", "jwt"]
    methods: Annotated[list[HttpMethod], Field(min_length=1)]
    authConfig: str | None = None
    disableURLInternet: bool | None = None


class MnsTriggerConfig(Strict):
    notifyContentFormat: Literal["JSON", "STREAM"]
    notifyStrategy: Literal["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]
    filterTag: str | None = None


class EventBridgeTriggerConfig(Strict):
    triggerEnable: bool
    asyncInvocationType: bool
    eventRuleFilterPattern: str
    eventSourceConfig: dict[str, Any]
    eventSinkConfig: dict[str, Any]
    runOptions: dict[str, Any]


TriggerType = Literal["http", "mns_topic", "eventbridge", "timer", "oss", "log", "cdn_events", "tablestore"]
# the trigger types this project uses get their config checked; the others are not used here
_TRIGGER_CONFIGS: dict[str, type[Strict]] = {
    "http": HttpTriggerConfig,
    "mns_topic": MnsTriggerConfig,
    "eventbridge": EventBridgeTriggerConfig,
}


class Trigger(Strict):
    triggerName: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")]
    triggerType: TriggerType
    triggerConfig: dict[str, Any]
    qualifier: str | None = None
    sourceArn: str | None = None
    invocationRole: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _config_fits_type(self) -> Trigger:
        kind = _TRIGGER_CONFIGS.get(self.triggerType)
        if kind is None:
            raise ValueError(f"trigger type {self.triggerType!r} is not one this project's model checks")
        kind.model_validate(self.triggerConfig)
        if self.triggerType == "mns_topic" and not (self.sourceArn and self.invocationRole):
            raise ValueError("an mns_topic trigger needs sourceArn (the topic) and invocationRole")
        return self


Runtime = Literal["custom-container", "custom", "custom.debian10", "python3.9", "python3.10"]


class FunctionProps(Strict):
    region: Annotated[str, Field(pattern=r"^[a-z]{2}-[a-z]+(-\d+)?$")]
    functionName: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
    runtime: Runtime
    description: str | None = None
    role: Annotated[str, Field(pattern=r"^acs:ram::[^:]+:role/[A-Za-z0-9._-]+$")]
    handler: str
    timeout: Annotated[int, Field(ge=1, le=86_400)] = 3
    memorySize: Annotated[int, Field(ge=128, le=32_768, multiple_of=64)] = 512
    cpu: Annotated[float, Field(ge=0.05, le=16)]
    diskSize: Literal[512, 10240] = 512
    instanceConcurrency: Annotated[int, Field(ge=1, le=100)] = 1
    internetAccess: bool = True
    customContainerConfig: CustomContainerConfig | None = None
    instanceLifecycleConfig: InstanceLifecycleConfig | None = None
    logConfig: LogConfig | None = None
    environmentVariables: dict[str, str] = Field(default_factory=dict)
    asyncInvokeConfig: AsyncInvokeConfig | None = None
    triggers: list[Trigger] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fc3_rules(self) -> FunctionProps:
        if self.runtime == "custom-container" and self.customContainerConfig is None:
            raise ValueError("runtime custom-container needs customContainerConfig")
        if round(self.cpu / 0.05, 6) % 1:
            raise ValueError(f"cpu {self.cpu} is not a multiple of 0.05")
        gb = self.memorySize / 1024
        if not gb / 4 <= self.cpu <= gb:
            raise ValueError(f"cpu {self.cpu} vCPU for {self.memorySize} MB is outside 1:1..1:4 (vCPU:GB)")
        return self


class Resource(Strict):
    component: Literal["fc3"]
    props: FunctionProps


class SYaml(Strict):
    edition: Literal["3.0.0"]
    name: str
    access: str
    vars: dict[str, str] = Field(default_factory=dict)
    resources: dict[str, Resource]


# --------------------------------------------------------------------------------------------------
# the ${...} expressions s.yaml uses, resolved the way `s` does, with the values a test supplies

_EXPR = re.compile(r"\$\{([^}]*)\}")
_ENV = re.compile(r"""^env\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*(?:,\s*'([^']*)'\s*)?\)$""")
_CONFIG = re.compile(r"""^config\(\s*'([A-Za-z]+)'\s*\)$""")
_VAR = re.compile(r"^vars\.([A-Za-z_][A-Za-z0-9_]*)$")


class ExpressionError(ValueError):
    pass


def _substitute(text: str, env: Mapping[str, str], config: Mapping[str, str], variables: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if m := _ENV.match(expr):
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is None:
                raise ExpressionError(f"${{{expr}}}: {name} is not set and has no default")
            return default
        if m := _CONFIG.match(expr):
            if m.group(1) not in config:
                raise ExpressionError(f"${{{expr}}}: no such config value")
            return config[m.group(1)]
        if m := _VAR.match(expr):
            if m.group(1) not in variables:
                raise ExpressionError(f"${{{expr}}}: no such var")
            return variables[m.group(1)]
        raise ExpressionError(f"${{{expr}}}: not an expression this project uses")

    return _EXPR.sub(one, text)


def resolve(doc: Mapping[str, Any], env: Mapping[str, str], config: Mapping[str, str]) -> dict[str, Any]:
    """``doc`` with every ``${env(..)}``, ``${config(..)}`` and ``${vars.x}`` replaced (vars first)."""
    raw_vars = doc.get("vars") or {}
    if not isinstance(raw_vars, dict):
        raise ExpressionError("vars must be a mapping")
    variables = {k: _substitute(str(v), env, config, {}) for k, v in raw_vars.items()}

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return _substitute(node, env, config, variables)
        if isinstance(node, list):
            return [walk(x) for x in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    out = walk({k: v for k, v in doc.items() if k != "vars"})
    assert isinstance(out, dict)
    out["vars"] = variables
    return out


# --------------------------------------------------------------------------------------------------
# the comparable shape of one function, from either file


class Shape(Strict):
    """What must agree between template.yml (FC 2.0) and s.yaml (FC 3.0) for one function."""

    runtime: str
    handler: str
    initializer: str | None
    initializer_timeout: int | None
    timeout: int
    memory: int
    instance_concurrency: int
    internet_access: bool
    image: str
    argv: list[str]
    port: int
    log: tuple[str, str, bool] | None
    environment: dict[str, str]
    triggers: list[str]  # "kind name key=value ...", sorted
    async_retries: int | None
    async_max_age: int | None
    on_success: str | None  # the destination's resource part: "/topics/x/messages"
    on_failure: str | None
    policy: list[str]  # one "Effect actions -> resources" line per statement, sorted


_ARN_SCOPE = re.compile(r"^acs:(mns|fc):[^:]*:[^:]*:")


def destination_path(arn: str | None) -> str | None:
    """``acs:mns:<region>:<account>:/queues/q/messages`` -> ``mns:/queues/q/messages`` (fun fills ``:::``)."""
    if arn is None:
        return None
    m = _ARN_SCOPE.match(arn)
    return f"{m.group(1)}:{arn[m.end() :]}" if m else arn


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def policy_lines(policy: Mapping[str, Any], translate: Mapping[str, str] | None = None) -> list[str]:
    """One normalised line per statement; ``translate`` maps resource ARNs (FC 2.0 -> FC 3.0) first."""
    if policy.get("Version") != "1":
        raise ValueError(f"policy Version must be '1', got {policy.get('Version')!r}")
    lines = []
    for st in policy["Statement"]:
        resources = sorted({(translate or {}).get(r, r) for r in _as_list(st["Resource"])})
        actions = sorted(_as_list(st["Action"]))
        lines.append(f"{st['Effect']} {','.join(actions)} -> {','.join(resources)}")
    return sorted(lines)


_FC2_FUNCTION_ARN = re.compile(r"^(acs:fc:[^:]*:[^:]*:)services/([^/]+?)(\.\*)?/functions/([^/]+)$")


def fc2_to_fc3_arn(arn: str, fc3_name: Mapping[tuple[str, str], str]) -> str:
    """``...:services/S[.*]/functions/F`` -> ``...:functions/<FC 3.0 name of S/F>``: FC 3.0 has no services,
    and its function ARN has no qualifier part, so the qualified and unqualified FC 2.0 forms become one."""
    m = _FC2_FUNCTION_ARN.match(arn)
    if not m or (m.group(2), m.group(4)) not in fc3_name:
        return arn
    return f"{m.group(1)}functions/{fc3_name[(m.group(2), m.group(4))]}"


def template_shapes(template: Mapping[str, Any], fc3_name: Mapping[tuple[str, str], str]) -> dict[str, Shape]:
    """Shapes by FC 2.0 function name (each service holds one function)."""
    out: dict[str, Shape] = {}
    for service, sdef in template["Resources"].items():
        if sdef.get("Type") != "Aliyun::Serverless::Service":
            continue
        sprops = sdef.get("Properties", {})
        translate: dict[str, str] = {}
        policies = sprops.get("Policies") or []
        if len(policies) != 1 or not isinstance(policies[0], dict):
            raise ValueError(f"{service}: expected exactly one inline policy document")
        for st in policies[0]["Statement"]:
            for r in _as_list(st["Resource"]):
                translate[r] = fc2_to_fc3_arn(r, fc3_name)
        log = sprops.get("LogConfig")
        for fname, fdef in sdef.items():
            if not isinstance(fdef, dict) or fdef.get("Type") != "Aliyun::Serverless::Function":
                continue
            p = fdef["Properties"]
            container = p.get("CustomContainerConfig") or {}
            dest = (p.get("AsyncConfiguration") or {}).get("Destination") or {}
            asyncc = p.get("AsyncConfiguration") or {}
            out[fname] = Shape(
                runtime=p["Runtime"],
                handler=p["Handler"],
                initializer=p.get("Initializer"),
                initializer_timeout=p.get("InitializationTimeout"),
                timeout=p.get("Timeout", 3),
                memory=p.get("MemorySize", 128),
                instance_concurrency=p.get("InstanceConcurrency", 1),
                internet_access=sprops.get("InternetAccess", True),
                image=container.get("Image", ""),
                argv=json.loads(container["Command"]) if "Command" in container else [],
                port=p.get("CAPort", 9000),
                log=(log["Project"], log["Logstore"], bool(log.get("EnableRequestMetrics"))) if log else None,
                environment={k: str(v) for k, v in (p.get("EnvironmentVariables") or {}).items()},
                triggers=sorted(_template_trigger(n, e) for n, e in (fdef.get("Events") or {}).items()),
                async_retries=asyncc.get("MaxAsyncRetryAttempts"),
                async_max_age=asyncc.get("MaxAsyncEventAgeInSeconds"),
                on_success=destination_path(dest.get("OnSuccess")),
                on_failure=destination_path(dest.get("OnFailure")),
                policy=policy_lines(policies[0], translate),
            )
    return out


def _template_trigger(name: str, event: Mapping[str, Any]) -> str:
    p = event.get("Properties", {})
    if event["Type"] == "HTTP":
        return f"http {name} auth={p['AuthType'].lower()} methods={','.join(sorted(p['Methods']))}"
    if event["Type"] == "MNSTopic":
        return (
            f"mns_topic {name} topic={p['TopicName']} format={p.get('NotifyContentFormat', 'STREAM')} "
            f"strategy={p.get('NotifyStrategy', 'BACKOFF_RETRY')}"
        )
    return f"{event['Type']} {name}"


def syaml_shape(props: FunctionProps, policy: Mapping[str, Any]) -> Shape:
    c = props.customContainerConfig
    init = props.instanceLifecycleConfig.initializer if props.instanceLifecycleConfig else None
    a = props.asyncInvokeConfig
    d = a.destinationConfig if a else None
    log = props.logConfig
    return Shape(
        runtime=props.runtime,
        handler=props.handler,
        initializer=init.handler if init else None,
        initializer_timeout=init.timeout if init else None,
        timeout=props.timeout,
        memory=props.memorySize,
        instance_concurrency=props.instanceConcurrency,
        internet_access=props.internetAccess,
        image=c.image if c else "",
        argv=[*(c.entrypoint or []), *(c.command or [])] if c else [],
        port=c.port if c else 9000,
        log=(log.project, log.logstore, bool(log.enableRequestMetrics)) if log else None,
        environment=dict(props.environmentVariables),
        triggers=sorted(_syaml_trigger(t) for t in props.triggers),
        async_retries=a.maxAsyncRetryAttempts if a else None,
        async_max_age=a.maxAsyncEventAgeInSeconds if a else None,
        on_success=destination_path(d.onSuccess.destination) if d and d.onSuccess else None,
        on_failure=destination_path(d.onFailure.destination) if d and d.onFailure else None,
        policy=policy_lines(policy),
    )


def _syaml_trigger(t: Trigger) -> str:
    c = t.triggerConfig
    if t.triggerType == "http":
        return f"http {t.triggerName} auth={c['authType']} methods={','.join(sorted(c['methods']))}"
    if t.triggerType == "mns_topic":
        topic = (t.sourceArn or "").rpartition("/topics/")[2]
        return (
            f"mns_topic {t.triggerName} topic={topic} format={c['notifyContentFormat']} strategy={c['notifyStrategy']}"
        )
    return f"{t.triggerType} {t.triggerName}"


def role_name(props: FunctionProps) -> str:
    return props.role.rpartition(":role/")[2]


def load_policy(ram_dir: Path, role: str) -> dict[str, Any]:
    path = ram_dir / f"{role}.policy.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    return doc


def drift(template: Mapping[str, Any], syaml: SYaml, ram_dir: Path, ignore_env_values: set[str]) -> list[str]:
    """Every difference between the two files' functions, as readable lines (empty: no drift)."""
    service_of = {
        fname: service
        for service, sdef in template["Resources"].items()
        if sdef.get("Type") == "Aliyun::Serverless::Service"
        for fname, fdef in sdef.items()
        if isinstance(fdef, dict) and fdef.get("Type") == "Aliyun::Serverless::Function"
    }
    # FC 2.0 service S holding function F  <->  s.yaml resource F, an FC 3.0 function named S
    fc3_name = {(s, f): syaml.resources[f].props.functionName for f, s in service_of.items() if f in syaml.resources}
    want = template_shapes(template, fc3_name)
    problems = []
    if set(want) != set(syaml.resources):
        problems.append(f"functions: template.yml {sorted(want)} vs s.yaml {sorted(syaml.resources)}")
    for name in sorted(set(want) & set(syaml.resources)):
        props = syaml.resources[name].props
        if props.functionName != service_of[name]:
            problems.append(f"{name}: functionName {props.functionName!r} is not its template.yml service")
        try:
            policy = load_policy(ram_dir, role_name(props))
        except OSError as exc:
            problems.append(f"{name}: no policy document for role {role_name(props)!r}: {exc}")
            continue
        got = syaml_shape(props, policy).model_dump()
        exp = want[name].model_dump()
        for field in exp:
            a, b = exp[field], got[field]
            if field == "environment":
                if sorted(a) != sorted(b):
                    problems.append(f"{name}: environment names differ: {sorted(set(a) ^ set(b))}")
                for k in sorted((set(a) & set(b)) - ignore_env_values):
                    if a[k] != b[k]:
                        problems.append(f"{name}: environment {k}: template.yml {a[k]!r} vs s.yaml {b[k]!r}")
            elif a != b:
                problems.append(f"{name}: {field}: template.yml {a!r} vs s.yaml {b!r}")
    return problems
