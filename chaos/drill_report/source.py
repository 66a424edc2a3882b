"""Reading a drill report from a file: ``drill run``'s JSON, or the function's manual drill event result.

Two shapes are accepted: the :class:`DrillReport` the CLI prints (its keys plus ``ok``), and the result
the function returns for ``{"action": "drill"}`` (``ok``/``status``/``reason``/``requestId`` ... with the
report under ``drill``). Both are validated with pydantic; any problem is one :class:`ReportError` line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from replica_failover.drill.models import DrillReport

MAX_BYTES = 64 * 1024 * 1024  # a 10,000-target report is a few MB
MAX_MESSAGE = 160


class ReportError(ValueError):
    """The file is not a drill report (or not readable); the message is one line."""


class EventResult(BaseModel):
    """The envelope of the function's drill event result; the report itself is checked as a DrillReport."""

    model_config = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)

    ok: bool | None = None
    status: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=4096)
    request_id: str | None = Field(default=None, max_length=256)
    drill: dict[str, Any] | None = None


@dataclass(frozen=True)
class DrillDocument:
    report: DrillReport
    origin: Literal["cli", "event"]
    status: str | None = None  # the event result's status (completed / partial / failed ...)
    reason: str | None = None
    request_id: str | None = None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _validated(doc: dict[str, Any], where: str) -> DrillReport:
    body = {k: v for k, v in doc.items() if k != "ok"}  # `ok` is derived: DrillReport.to_json adds it
    try:
        return DrillReport.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "report"
        raise ReportError(f"{where}: {loc}: {_short(first['msg'])}") from None


def parse(doc: Any, where: str = "report") -> DrillDocument:
    """A decoded JSON value as a drill document, or :class:`ReportError`."""
    if not isinstance(doc, dict):
        raise ReportError(f"{where}: not a JSON object (a drill report or a drill event result)")
    if "runId" in doc or "run_id" in doc:
        return DrillDocument(_validated(doc, where), "cli")
    if "drill" not in doc:
        status = doc.get("status")
        hint = f" (status {_short(str(status))!r})" if isinstance(status, str) else ""
        raise ReportError(f"{where}: neither a drill report (no runId) nor a drill event result (no drill){hint}")
    try:
        envelope = EventResult.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "result"
        raise ReportError(f"{where}: {loc}: {_short(first['msg'])}") from None
    if envelope.drill is None:
        raise ReportError(f"{where}: the event result carries no drill report (status {envelope.status!r})")
    return DrillDocument(
        _validated(envelope.drill, f"{where}: drill"),
        "event",
        status=envelope.status,
        reason=envelope.reason,
        request_id=envelope.request_id,
    )


def load(path: Path) -> DrillDocument:
    """Read and check ``path``; every failure (missing, too big, not JSON, wrong shape) is a ReportError."""
    name = path.name or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ReportError(f"{name}: {size} bytes is more than a drill report ({MAX_BYTES} at most)")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{name}: cannot read: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{name}: not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{name}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ReportError(f"{name}: not JSON: nested too deeply") from None
    return parse(doc, name)
