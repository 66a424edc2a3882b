"""One attempt of a handler in a process of its own (``fc.isolation = "process"``), run as a script.

Run by path (``python .../child.py``), not as ``-m chaos.emulator.fc.child``: importing the package
would load the emulator (werkzeug, the service) into the process whose memory is being measured.
Only the standard library is imported here before the handler's own module.

Input (stdin, one JSON document, never argv or the environment: it holds the function role's
secret): ``handler``, ``initializer``, ``payload`` (base64), ``sysPath``, ``context`` (the fields of
context.py's ``FcContext``) and ``result`` (a file path). Output: the result file, JSON with ``ok``,
``body`` (base64), ``error``, ``durationMs`` and ``peakRssKb`` (VmHWM, the process's peak RSS).
What the handler prints or logs goes to this process's stdout/stderr, which the parent keeps as
the log.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _context_model() -> Any:
    """context_model.py, loaded by path: importing it through its package would load the emulator."""
    path = Path(__file__).with_name("context_model.py")
    spec = importlib.util.spec_from_file_location("fc_context_model", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the classes are built
    spec.loader.exec_module(module)
    return module


def context_fields(ctx: Any) -> dict[str, Any]:
    """The JSON the parent sends for an ``FcContext`` (the same shape this module rebuilds)."""
    c, f, s = ctx.credentials, ctx.function, ctx.service
    return {
        "requestId": ctx.request_id,
        "credentials": [c.access_key_id, c.access_key_secret, c.security_token],
        "function": [f.name, f.handler, f.memory, f.timeout],
        "service": [s.name, s.log_project, s.log_store, s.qualifier, s.version_id],
        "region": ctx.region,
        "accountId": ctx.account_id,
    }


def _context(doc: dict[str, Any]) -> Any:
    m = _context_model()
    return m.FcContext(
        request_id=doc["requestId"],
        credentials=m.Credentials(*doc["credentials"]),
        function=m.FunctionMeta(*doc["function"]),
        service=m.ServiceMeta(*doc["service"]),
        region=doc["region"],
        account_id=doc["accountId"],
    )


def _resolve(ref: str) -> Callable[..., Any]:
    module, sep, attr = ref.partition(":")
    if not sep:
        module, _, attr = ref.rpartition(".")
    target = getattr(importlib.import_module(module), attr)
    if not callable(target):
        raise TypeError(f"{ref} is not callable")
    return target  # type: ignore[no-any-return]


def _encode(result: Any) -> bytes:
    if result is None:
        return b""
    if isinstance(result, bytes | bytearray | memoryview):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8")
    return json.dumps(result).encode("utf-8")


def peak_rss_kb() -> int | None:
    """VmHWM of this process (Linux); None where /proc is not there."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> int:
    doc = json.load(sys.stdin)
    sys.path[:] = [p for p in doc["sysPath"] if isinstance(p, str)]
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    ctx = _context(doc["context"])
    out: dict[str, Any]
    started = time.monotonic()
    try:
        if doc.get("initializer"):
            _resolve(doc["initializer"])(ctx)
        result = _resolve(doc["handler"])(base64.b64decode(doc["payload"]), ctx)
        out = {"ok": True, "body": base64.b64encode(_encode(result)).decode("ascii")}
    except BaseException as exc:  # handler code may raise anything, SystemExit included
        frames = traceback.extract_tb(exc.__traceback__)
        stack = [[f'File "{f.filename}"', f"line {f.lineno}", f"in {f.name}", f.line or ""] for f in frames]
        out = {
            "ok": False,
            "error": {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": stack,
            },
        }
    out["durationMs"] = (time.monotonic() - started) * 1000
    out["peakRssKb"] = peak_rss_kb()
    sys.stdout.flush()
    with open(doc["result"], "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
