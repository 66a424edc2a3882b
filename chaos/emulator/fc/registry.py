"""The registered functions: :class:`FunctionSpec` (FC's CreateFunction input) and their lookup.

There is no deploy API: a function is a Python callable named ``package.module:function``,
registered in process or through ``POST /_emulator/functions``. Lookup answers FC's 404s
(``ServiceNotFound``, ``FunctionNotFound``, ``AliasNotFound``/``VersionNotFound``).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import Field, field_validator

from chaos.emulator.config import Model
from chaos.emulator.fc.exceptions import FcApiError
from chaos.emulator.fc.urls import LATEST

_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"  # FC service/function name rule


def split_ref(ref: str) -> tuple[str, str]:
    """``pkg.mod:func`` (or FC's ``mod.func``) -> (module, attribute)."""
    module, sep, attr = ref.partition(":")
    if not sep:
        module, _, attr = ref.rpartition(".")
    if not module or not attr.isidentifier() or not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"expected 'package.module:function', got {ref!r}")
    return module, attr


def resolve(ref: str) -> Callable[..., Any]:
    """Import the callable ``ref`` names (at invocation time: the handler module may not exist yet)."""
    module, attr = split_ref(ref)
    target = getattr(importlib.import_module(module), attr)
    if not callable(target):
        raise TypeError(f"{ref} is not callable")
    return cast(Callable[..., Any], target)


class FunctionSpec(Model):
    """One registered function (service + name), like FC's CreateFunction input."""

    service: str = Field(pattern=_NAME)
    name: str = Field(pattern=_NAME)
    handler: str  # "package.module:function", called as handler(event: bytes, context)
    initializer: str | None = None  # "package.module:function", called once as initializer(context)
    timeout: float = Field(default=60, gt=0, le=86_400)
    memory_size: int = Field(default=128, ge=1)
    environment: dict[str, str] = Field(default_factory=dict)
    max_async_retry_attempts: int = Field(default=3, ge=0, le=8)  # FC default 3, range 0-8
    max_async_event_age_seconds: float = Field(default=86_400, gt=0, le=604_800)
    on_failure: str | None = None  # destination ARN; failures are recorded, not delivered
    qualifier: str = LATEST  # alias/version this function answers besides LATEST
    log_project: str = ""
    log_store: str = ""

    @field_validator("handler", "initializer")
    @classmethod
    def _check_ref(cls, value: str | None) -> str | None:
        if value is not None:
            split_ref(value)
        return value

    @field_validator("environment")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or "=" in key or "\0" in key:
                raise ValueError(f"invalid environment variable name {key!r}")
        return value


@dataclass
class RegisteredFunction:
    """A function instance: its spec and whether its initializer has run."""

    spec: FunctionSpec
    init_lock: threading.Lock = field(default_factory=threading.Lock)
    initialized: bool = False


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._functions: dict[tuple[str, str], RegisteredFunction] = {}

    def register(self, spec: FunctionSpec) -> None:
        """Add or replace a function; replacing it means a fresh instance (initializer runs again)."""
        with self._lock:
            self._functions[(spec.service, spec.name)] = RegisteredFunction(spec)

    def specs(self) -> list[FunctionSpec]:
        with self._lock:
            return [fn.spec for fn in self._functions.values()]

    def get(self, key: tuple[str, str]) -> RegisteredFunction | None:
        with self._lock:
            return self._functions.get(key)

    def lookup(self, service: str, qualifier: str, function: str) -> RegisteredFunction:
        """The function an invocation names, or FC's 404 for the first missing piece."""
        with self._lock:
            in_service = [fn for (svc, _), fn in self._functions.items() if svc == service]
            fn = self._functions.get((service, function))
        if not in_service:
            raise FcApiError("ServiceNotFound", service)
        # an alias/version belongs to the service and reaches every function in it
        if qualifier != LATEST and all(f.spec.qualifier != qualifier for f in in_service):
            raise FcApiError("VersionNotFound" if qualifier.isdigit() else "AliasNotFound", qualifier, service)
        if fn is None:
            raise FcApiError("FunctionNotFound", function, service)
        return fn

    def find_v3(self, name: str) -> list[RegisteredFunction]:
        """The functions an FC 3.0 function name can mean: ``service$function``, else every one so named.

        FC 3.0 has no services; a function registered with one is reached by its own name, or by
        ``service$function`` when the name alone is ambiguous (the form FC 3.0 gives FC 2.0 functions).
        """
        service, sep, function = name.partition("$")
        with self._lock:
            if sep:
                fn = self._functions.get((service, function))
                return [fn] if fn is not None else []
            return [fn for (_, fn_name), fn in self._functions.items() if fn_name == name]

    def clear(self) -> None:
        with self._lock:
            self._functions.clear()
