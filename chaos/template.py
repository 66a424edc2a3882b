"""Read the Funcraft template.yml: the functions, their code directory, handler, timeout and environment.

Used by ``replica-failover invoke`` (``fun local invoke`` without Docker), by game days and by bench, so
they run the function exactly as the template deploys it: same code directory, same handler, same
environment.

Which template: :func:`locate_template` — an explicit path (``--template``), else
``$REPLICA_FAILOVER_TEMPLATE``, else the checkout's template.yml when this package runs from a
checkout. An installed package has no checkout next to it, so there it needs one of the first two;
the function's code directory is then the template's ``CodeUri``, as ``fun deploy`` reads it.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from chaos.emulator.fc import FunctionSpec

SERVICE_TYPE = "Aliyun::Serverless::Service"
FUNCTION_TYPE = "Aliyun::Serverless::Function"
# where template.yml sits when this package runs from a checkout (absent in an installed package)
CHECKOUT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yml"
TEMPLATE_ENV = "REPLICA_FAILOVER_TEMPLATE"


class FunctionDef(BaseModel):
    model_config = ConfigDict(frozen=True)
    service: str
    name: str
    code_uri: Path
    handler: str  # FC form: "index.handler"
    initializer: str | None = None
    timeout: float = 3.0  # FC's default
    memory_size: int = 128
    environment: dict[str, str] = Field(default_factory=dict)
    max_async_retry_attempts: int = 3
    max_async_event_age_seconds: float = 86_400
    on_failure: str | None = None
    http: bool = False  # has an HTTP trigger: handler(environ, start_response)

    def import_ref(self, ref: str | None = None) -> str:
        """``index.handler`` -> ``index:handler`` (FC splits at the last dot)."""
        module, _, attr = (ref or self.handler).rpartition(".")
        return f"{module}:{attr}"

    def spec(self, env_overrides: Mapping[str, str] | None = None) -> FunctionSpec:
        return FunctionSpec(
            service=self.service,
            name=self.name,
            handler=self.import_ref(),
            initializer=self.import_ref(self.initializer) if self.initializer else None,
            timeout=self.timeout,
            memory_size=self.memory_size,
            environment={**self.environment, **(env_overrides or {})},
            max_async_retry_attempts=self.max_async_retry_attempts,
            max_async_event_age_seconds=self.max_async_event_age_seconds,
            on_failure=self.on_failure,
        )


class TemplateError(ValueError):
    pass


def locate_template(
    explicit: Path | None = None,
    environ: Mapping[str, str] | None = None,
    checkout: Path = CHECKOUT_TEMPLATE,
) -> Path:
    """The template to read: ``explicit``, else ``$REPLICA_FAILOVER_TEMPLATE``, else the checkout's.

    An explicit or configured path is returned as given (reading it reports a missing file with its
    name); only the fallback is checked here, so that "no template at all" is one clear error.
    """
    if explicit is not None:
        return explicit
    configured = (os.environ if environ is None else environ).get(TEMPLATE_ENV)
    if configured:
        return Path(configured)
    if checkout.is_file():
        return checkout
    raise TemplateError(
        f"no template.yml: pass --template PATH or set {TEMPLATE_ENV} "
        "(the default is the checkout's, and this package does not run from one)"
    )


def read_template(path: Path | None = None) -> dict[str, FunctionDef]:
    """Functions by ``service/name``, and by bare name when only one service has a function of that name.

    The template has one service per function (FC 2.0 roles are per service), so the bare names
    (``failover``, ``webhook``) stay unambiguous; a name two services share is only reachable as
    ``service/name``.
    ``path``: default :func:`locate_template`'s choice.
    """
    path = locate_template(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from None
    resources = doc.get("Resources") if isinstance(doc, dict) else None
    if not isinstance(resources, dict):
        raise TemplateError(f"{path}: no Resources")
    out: dict[str, FunctionDef] = {}
    bare: dict[str, list[FunctionDef]] = {}
    for service, sdef in resources.items():
        if not isinstance(sdef, dict) or sdef.get("Type") != SERVICE_TYPE:
            continue
        for name, fdef in sdef.items():
            if not isinstance(fdef, dict) or fdef.get("Type") != FUNCTION_TYPE:
                continue
            props: dict[str, Any] = fdef.get("Properties") or {}
            asyncc: dict[str, Any] = props.get("AsyncConfiguration") or {}
            events: dict[str, Any] = fdef.get("Events") or {}
            env = {str(k): str(v) for k, v in (props.get("EnvironmentVariables") or {}).items()}
            fn = FunctionDef(
                service=service,
                name=name,
                code_uri=(path.parent / str(props.get("CodeUri", "."))).resolve(),
                handler=str(props["Handler"]),
                initializer=props.get("Initializer"),
                timeout=float(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                # an empty value means "unset" to the function; drop it so defaults apply
                environment={k: v for k, v in env.items() if v != ""},
                max_async_retry_attempts=int(asyncc.get("MaxAsyncRetryAttempts", 3)),
                max_async_event_age_seconds=float(asyncc.get("MaxAsyncEventAgeInSeconds", 86_400)),
                on_failure=(asyncc.get("Destination") or {}).get("OnFailure"),
                http=any(isinstance(e, dict) and e.get("Type") == "HTTP" for e in events.values()),
            )
            out[f"{service}/{name}"] = fn
            bare.setdefault(name, []).append(fn)
    out.update({name: fns[0] for name, fns in bare.items() if len(fns) == 1})
    if not out:
        raise TemplateError(f"{path}: no functions")
    return out


def ensure_importable(code_uri: Path) -> None:
    """Put the code directory first on sys.path, as FC does with the function's CodeUri.

    The one place this project (emulator, game days, bench, tests) makes the function's top-level
    modules (``index``, ``webhook``) importable in-process.
    """
    entry = str(code_uri)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def load_handler(fn: FunctionDef, ref: str | None = None) -> Callable[..., Any]:
    ensure_importable(fn.code_uri)
    module, _, attr = fn.import_ref(ref).partition(":")
    handler: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return handler


def code_dir(function: str = "failover", template: Path | None = None) -> Path:
    """The code directory (CodeUri) of ``function`` in the template :func:`locate_template` picks."""
    functions = read_template(template)
    if function not in functions:
        raise TemplateError(f"no function {function!r} in the template; have {', '.join(sorted(functions))}")
    return functions[function].code_uri
