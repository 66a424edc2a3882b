"""The ``context`` FC's Python 3 runtime passes to handlers and initializers, and how it is built.

Kept light (dataclasses and the spec only) because local invokers build a context without
starting the emulator.
"""

from __future__ import annotations

from chaos.emulator.config import Credential
from chaos.emulator.fc.context_model import Credentials, FcContext, FunctionMeta, ServiceMeta, Tracing
from chaos.emulator.fc.registry import FunctionSpec
from chaos.emulator.fc.urls import LATEST

__all__ = ["Credentials", "FcContext", "FunctionMeta", "ServiceMeta", "Tracing", "make_context"]


def make_context(
    spec: FunctionSpec, *, request_id: str, credential: Credential | None, region: str, account_id: str
) -> FcContext:
    creds = (
        Credentials(credential.access_key_id, credential.access_key_secret, credential.security_token)
        if credential is not None
        else Credentials("", "", None)
    )
    return FcContext(
        request_id=request_id,
        credentials=creds,
        function=FunctionMeta(spec.name, spec.handler, spec.memory_size, spec.timeout),
        service=ServiceMeta(
            name=spec.service,
            log_project=spec.log_project,
            log_store=spec.log_store,
            qualifier=spec.qualifier,
            # there are no published versions here: an alias resolves to LATEST
            version_id=spec.qualifier if spec.qualifier.isdigit() else LATEST,
        ),
        region=region,
        account_id=account_id,
    )
