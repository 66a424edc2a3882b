"""``fc.isolation = "process"``: one attempt in a child process (child.py), killed at the timeout.

Why: handlers that share the emulator's process share its memory and its interpreter lock, so
neither a worker's peak RSS nor its CPU can be told apart. A child per attempt is a fresh instance
(the initializer runs every time), sees the emulator's environment plus the function's, and
reports its own peak RSS. Unlike a handler thread, a timed-out child is killed, as FC kills an
instance: it cannot finish its work later.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from chaos.emulator.fc.capture import LOG_TAIL_BYTES
from chaos.emulator.fc.child import context_fields
from chaos.emulator.fc.context import FcContext
from chaos.emulator.fc.registry import FunctionSpec

CHILD = Path(__file__).with_name("child.py")


def run_in_process(spec: FunctionSpec, context: FcContext, payload: bytes) -> dict[str, Any]:
    """The child's answer (child.py's result document), or a timeout / crash as an error document."""
    with tempfile.TemporaryDirectory(prefix="fc-attempt-") as tmp:
        result, log = Path(tmp, "result.json"), Path(tmp, "log.txt")
        doc = {
            "handler": spec.handler,
            "initializer": spec.initializer,
            "payload": base64.b64encode(payload).decode("ascii"),
            "sysPath": [p or os.getcwd() for p in sys.path],
            "context": context_fields(context),
            "result": str(result),
        }
        env = {**os.environ, **spec.environment}
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
                [sys.executable, str(CHILD)], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env
            )
            try:
                proc.communicate(json.dumps(doc).encode(), timeout=spec.timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                timed_out = True
        tail = _tail(log)
        if timed_out:
            message = f"Function timed out after {spec.timeout:g} seconds"
            return {
                "ok": False,
                "timedOut": True,
                "error": {"errorMessage": message, "errorType": "FunctionTimeout"},
                "durationMs": spec.timeout * 1000,
                "log": tail,
            }
        try:
            answer: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # the process died before writing (killed, out of memory, os._exit in the handler)
            answer = {
                "ok": False,
                "error": {"errorMessage": f"process exited with {proc.returncode}", "errorType": "ProcessExited"},
                "durationMs": 0.0,
            }
        answer["log"] = tail
        return answer


def _tail(path: Path) -> bytes:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - LOG_TAIL_BYTES))
        return fh.read()
