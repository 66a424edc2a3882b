"""Who may drive the control plane: loopback ``Host`` names and JSON writes only.

The control plane can reset state, inject faults and read the ledger, and the emulator's keys
are public, so a web page the operator happens to visit must not reach it:

* ``Host`` must name a loopback address (``localhost``, ``127.0.0.0/8``, ``::1``; optional port),
  else 403. This defeats DNS rebinding (a hostile name resolving to 127.0.0.1 still sends its
  own name) and refuses control calls that arrive over a non-loopback interface by name.
* Writes must be ``Content-Type: application/json``, else 415. Browsers send cross-origin
  "simple" POSTs without a preflight only as ``text/plain``, form or multipart; a JSON POST from
  another origin needs a CORS preflight, which the emulator never grants. ``DELETE`` is not a
  simple method (it is always preflighted), so a bodiless ``DELETE`` needs no content type.
"""

from __future__ import annotations

import ipaddress

from werkzeug.wrappers import Request

from chaos.emulator.control_models import ControlError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback_host(host: str) -> bool:
    """``localhost``, an IPv4 address in 127.0.0.0/8 or ``::1`` (bracketed or not), with an optional port."""
    host = host.strip()
    if host.startswith("["):
        name, sep, rest = host[1:].partition("]")
        if not sep or (rest and not _is_port(rest)):
            return False
    elif host.count(":") > 1:
        name = host  # a bare IPv6 literal cannot carry a port
    else:
        name, sep, port = host.partition(":")
        if sep and not _is_port(":" + port):
            return False
    if name.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit() and 0 < len(text) - 1 <= 5 and int(text[1:]) <= 65535


def check_host(request: Request) -> None:
    host = request.environ.get("HTTP_HOST", "")
    if not host or not is_loopback_host(host):
        raise ControlError(
            403, "the control plane answers loopback Host names only (localhost, 127.0.0.0/8, ::1)", [{"host": host}]
        )


def check_content_type(request: Request) -> None:
    if request.method not in WRITE_METHODS:
        return
    has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if request.method == "DELETE" and not has_body:
        return
    if request.mimetype != "application/json":
        raise ControlError(
            415,
            "control-plane writes take Content-Type: application/json",
            [{"contentType": request.headers.get("Content-Type", "")}],
        )
