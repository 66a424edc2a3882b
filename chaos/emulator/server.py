"""Serving the emulator: standalone (``replica-failover emulator serve``) or in a background thread.

Threaded, because the SDKs keep connections alive and call concurrently. Loopback by default.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from chaos.emulator.app import Emulator


class _Server(ThreadedWSGIServer):
    # werkzeug's default listen backlog (128) is short for bursts of 1,000 concurrent requests
    request_queue_size = 1024
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    # one access-log line per request would drown a 10,000-pair run; the ledger is the record
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@dataclass
class RunningEmulator:
    emulator: Emulator
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def host(self) -> str:
        return str(self.server.host)

    @property
    def port(self) -> int:
        return int(self.server.port)

    @property
    def endpoint(self) -> str:
        """``host:port``, the form both SDKs take as an endpoint."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.emulator.fc.shutdown()


def start(emulator: Emulator | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    emulator = emulator or Emulator()
    server = _Server(host, port, emulator, handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="emulator", daemon=True)
    thread.start()
    return RunningEmulator(emulator, server, thread)


@contextmanager
def running(emulator: Emulator | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningEmulator]:
    handle = start(emulator, host, port)
    try:
        yield handle
    finally:
        handle.stop()
