"""Serving the emulator: standalone (``replica-failover emulator serve``) or in a background thread.

Threaded, because the SDKs keep connections alive and call concurrently. Loopback by default.

werkzeug's development server answers every request with ``Connection: close`` and then waits up
to 10 ms in a ``select()`` loop draining the socket, so each call pays a new TCP connection and a
new thread. :class:`_KeepAliveHandler` keeps HTTP/1.1 connections open instead: it reads the
request body up front (so the next request line is never mistaken for body), runs the WSGI app,
and sends status line, headers and body in one write with ``TCP_NODELAY``. Anything unusual
(chunked or oversized bodies, ``Expect: 100-continue``) goes through werkzeug's own path, which
answers and closes as before. Tests keep serving through pytest-localserver (werkzeug's handler);
the CLI and the benchmark use :func:`start`.
"""

from __future__ import annotations

import email.parser
import http.client
import io
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from chaos.emulator.app import Emulator
from chaos.emulator.wire import MAX_BODY

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

log = logging.getLogger("chaos.emulator.server")

# bodies up to this size are buffered and the connection kept; the app refuses larger ones anyway
BUFFERED_BODY_LIMIT = MAX_BODY * 32
IDLE_TIMEOUT_SECONDS = 120.0
# http.client's limits, which the stdlib header parser enforces too
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100
# a plain "Name: value" line; anything else (folding, junk) goes to the email parser as before
_HEADER_LINE = re.compile(r"([!-9;-~]+):[ \t]*(.*?)[\r\n]*\Z", re.DOTALL)


class _Server(ThreadedWSGIServer):
    # werkzeug's default listen backlog (128) is short for bursts of 1,000 concurrent requests
    request_queue_size = 1024
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """End idle keep-alive connections, so their handler threads finish with the server."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _QuietHandler(WSGIRequestHandler):
    # one access-log line per request would drown a 10,000-pair run; the ledger is the record
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _KeepAliveHandler(_QuietHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # StreamRequestHandler.setup sets TCP_NODELAY
    timeout = IDLE_TIMEOUT_SECONDS  # an idle keep-alive connection is closed after this

    def setup(self) -> None:
        super().setup()
        if isinstance(self.server, _Server):
            self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if isinstance(self.server, _Server):
                self.server.track(self.connection, False)

    def log_error(self, format: str, *args: Any) -> None:
        # idle keep-alive timeouts and malformed request lines: not worth a line on stderr
        log.debug("%s: " + format, self.address_string(), *args)

    def parse_request(self) -> bool:
        """``BaseHTTPRequestHandler.parse_request`` without the email package for plain headers.

        The stdlib parses request headers with ``email.parser`` (about a quarter of the
        emulator's CPU per call). A well-formed HTTP/1.x request line with plain ``Name: value``
        headers is parsed here into the same ``HTTPMessage``; anything else is left to the stdlib.
        """
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            return bool(super().parse_request())
        self.requestline = requestline
        self.command, path, self.request_version = words
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        self.close_connection = not (words[2] == "HTTP/1.1" and self.protocol_version >= "HTTP/1.1")
        lines: list[bytes] = []
        while True:
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                self.send_error(431, "Line too long", "header line")
                return False
            lines.append(line)
            if len(lines) > MAX_HEADERS:
                self.send_error(431, "Too many headers", f"got more than {MAX_HEADERS} headers")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
        headers = http.client.HTTPMessage()
        for line in lines[:-1]:
            m = _HEADER_LINE.match(line.decode("iso-8859-1"))
            if m is None:  # folded or odd header lines: the stdlib's parser, exactly as before
                text = b"".join(lines).decode("iso-8859-1")
                headers = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)
                break
            headers.set_raw(m.group(1), m.group(2))
        self.headers = headers
        conntype = headers.get("Connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = headers.get("Expect", "").lower()
        if expect == "100-continue" and self.request_version >= "HTTP/1.1":
            return bool(self.handle_expect_100())
        return True

    _date_cache: tuple[int, str] = (0, "")

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        second, text = _KeepAliveHandler._date_cache
        if second != now:
            text = super().date_time_string(now)
            _KeepAliveHandler._date_cache = (now, text)
        return text

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length", "")
        if (
            "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            or self.headers.get("Expect")
            or (length and (not length.isdigit() or int(length) > BUFFERED_BODY_LIMIT))
        ):
            super().run_wsgi()  # werkzeug's path: correct for these, and it closes the connection
            self.close_connection = True
            return
        body = self.rfile.read(int(length)) if length else b""
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None) -> Any:
            started[:] = [status, headers]  # nothing is sent before the app returns: always replaceable
            return chunks.append

        try:
            result: Iterable[bytes] = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except ConnectionError:
            # the app dropped the connection on purpose (a reset fault) or the client went away
            self.close_connection = True
            return
        except Exception:
            log.exception("error on request %s %s", self.command, self.path)
            chunks.clear()
            chunks.extend(InternalServerError()(environ, start_response))
            self.close_connection = True
        self._send(str(started[0]), list(started[1]), b"".join(chunks))

    def _send(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code = int(status.split(None, 1)[0])
        names = {k.lower() for k, _ in headers}
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.close_connection = True
        lines = [f"{self.protocol_version} {status}", f"Server: {self.version_string()}",
                 f"Date: {self.date_time_string()}"]  # fmt: skip
        lines += [f"{k}: {v}" for k, v in headers]
        if "content-length" not in names and code >= 200 and code not in (204, 304):
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection and "connection" not in names:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)


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
        if isinstance(self.server, _Server):
            self.server.close_connections()
        self.thread.join(timeout=10)
        self.emulator.shutdown()


def start(emulator: Emulator | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    emulator = emulator or Emulator()
    server = _Server(host, port, emulator, handler=_KeepAliveHandler)
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
