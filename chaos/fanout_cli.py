"""``replica-failover fanout status`` (ask the function how an incident's workers are doing) and
``replica-failover fanout bench`` (the fleet run, chaos/bench_fleet.py).

``status`` invokes the failover function synchronously through FC with the status event
``{"fanout": "status", "incidentKey": KEY}`` and prints the function's answer, one JSON document:
the incident's batches, workers done/running/failed and targets per outcome. Keys come from
``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` (``_SECURITY_TOKEN``); against a loopback ``--endpoint``
without them, the emulator's documented key.

Exit codes of ``status``: 0 every batch finished and no target failed (``completed``); 1 some
target failed (``partial``), or the function could not list the workers (``failed``, or
``unsupported`` on FC 2.0); 3 batches are still running; 2 bad input or FC refused the call
(nothing was invoked, or the function was not reached).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import typer

EXIT_COMPLETED, EXIT_NOT_COMPLETED, EXIT_USAGE, EXIT_RUNNING = 0, 1, 2, 3
FC2, FC3 = "2016-08-15", "2023-03-30"

fanout_app = typer.Typer(
    no_args_is_help=True, help="Fan-out of one incident over async invocations: a status query, and the fleet bench."
)


class _Usage(Exception):
    pass


def _fail(message: str) -> typer.Exit:
    typer.echo(f"replica-failover: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def is_loopback(endpoint: str) -> bool:
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keys(endpoint: str, env: Mapping[str, str]) -> tuple[str, str, str | None]:
    ak, sk = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""), env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if ak and sk:
        return ak, sk, env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None
    if is_loopback(endpoint):
        from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

        return DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, None
    raise _Usage("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")


def ask_status(
    endpoint: str, api_version: str, service: str, function: str, incident_key: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """The function's answer to the status event, invoked synchronously through FC; raises _Usage
    when FC refuses the call or the answer is not the function's JSON."""
    ak, sk, token = keys(endpoint, env)
    payload = json.dumps({"fanout": "status", "incidentKey": incident_key}).encode()
    url = endpoint if "://" in endpoint else f"https://{endpoint}"
    try:
        body = _invoke_v3(url, function, payload, ak, sk, token) if api_version == FC3 else _invoke_v2(
            url, service, function, payload, ak, sk, token
        )
    except _Usage:
        raise
    except Exception as exc:  # the SDKs' error types; their messages carry no key
        code = getattr(exc, "code", None) or getattr(exc, "err_code", None) or type(exc).__name__
        status = getattr(exc, "status_code", None)
        raise _Usage(f"FC did not run the status query: HTTP {status} {code}") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise _Usage(f"the function's answer is not JSON: {body[:200]!r}") from None
    if not isinstance(doc, dict) or doc.get("fanout") != "status":
        message = doc.get("errorMessage") if isinstance(doc, dict) else None
        raise _Usage(f"the function did not answer the status event: {message or str(doc)[:200]}")
    return doc


def _invoke_v3(url: str, function: str, payload: bytes, ak: str, sk: str, token: str | None) -> bytes:
    from alibabacloud_fc20230330 import models
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.utils_models import Config
    from darabonba.runtime import RuntimeOptions

    proto, _, host = url.partition("://")
    client = Client(Config(access_key_id=ak, access_key_secret=sk, security_token=token, endpoint=host.rstrip("/"),
                           protocol=proto, read_timeout=60_000, connect_timeout=5_000))  # fmt: skip
    resp = client.invoke_function_with_options(
        function, models.InvokeFunctionRequest(body=payload), models.InvokeFunctionHeaders(), RuntimeOptions()
    )
    raw = resp.body
    return bytes(raw.read() if hasattr(raw, "read") else raw or b"")


def _invoke_v2(url: str, service: str, function: str, payload: bytes, ak: str, sk: str, token: str | None) -> bytes:
    import fc2

    client = fc2.Client(endpoint=url.rstrip("/"), accessKeyID=ak, accessKeySecret=sk, securityToken=token or "",
                        Timeout=60)  # fmt: skip
    resp = client.invoke_function(service, function, payload)
    return bytes(resp.data)


def exit_code(answer: Mapping[str, Any]) -> int:
    status = answer.get("status")
    if status == "completed":
        return EXIT_COMPLETED
    if status == "running":
        return EXIT_RUNNING
    return EXIT_NOT_COMPLETED


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,255}$")


@fanout_app.command("status")
def status(
    incident: Annotated[str, typer.Option("--incident", help="the incident key (the coordinator's result shows it)")],
    endpoint: Annotated[str, typer.Option(help="FC endpoint (http://127.0.0.1:8765 for the emulator)")] = (
        "http://127.0.0.1:8765"
    ),
    api_version: Annotated[
        Literal["2023-03-30", "2016-08-15"], typer.Option("--api-version", help="the FC API to invoke through")
    ] = "2023-03-30",
    service: Annotated[str, typer.Option(help="FC 2.0 service")] = "replica-failover",
    function: Annotated[str, typer.Option(help="the failover function's name")] = "replica-failover",
) -> None:
    """Ask the failover function how an incident's fan-out is doing; print its JSON answer.

    Exit codes: 0 completed; 1 partial, failed or unsupported (FC 2.0); 3 still running; 2 bad input or FC refused.
    """
    from replica_failover.fanout.events import KEY_PATTERN

    if not re.match(KEY_PATTERN, incident):
        raise _fail(f"--incident {incident!r} is not an incident key ({KEY_PATTERN})")
    if not _NAME.match(service) or not _NAME.match(function):
        raise _fail("--service and --function must be FC names")
    if not re.match(r"^(https?://)?[A-Za-z0-9.:_\[\]-]{1,255}/?$", endpoint):
        raise _fail(f"--endpoint {endpoint!r} is not host[:port] or an http(s) URL")
    try:
        answer = ask_status(endpoint, api_version, service, function, incident, os.environ)
    except _Usage as exc:
        raise _fail(str(exc)) from None
    print(json.dumps(answer, indent=2))
    sys.stdout.flush()
    raise typer.Exit(exit_code(answer))


@fanout_app.command("bench")
def bench(
    pairs: Annotated[int, typer.Option(min=1, max=100_000, help="replica pairs (N)")] = 20_000,
    latency_ms: Annotated[float, typer.Option(min=0, help="emulator latency per call (L)")] = 300.0,
    rate_limit: Annotated[float, typer.Option(min=0.1, help="the region's rate, requests/s (Q)")] = 200.0,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="FAILOVER_CONCURRENCY (C)")] = 16,
    batch_size: Annotated[int, typer.Option(min=1, max=2000, help="FAILOVER_BATCH_SIZE")] = 2000,
    api_version: Annotated[
        Literal["2023-03-30", "2016-08-15"], typer.Option("--api-version", help="the FC API of every invocation")
    ] = "2023-03-30",
    async_concurrency: Annotated[int, typer.Option(min=1, max=256, help="the emulator's fc.asyncConcurrency")] = 64,
    seed: Annotated[int, typer.Option(help="fleet seed")] = 1,
    measure_single: Annotated[
        bool, typer.Option("--measure-single", help="also time one invocation without fan-out (minutes)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """A fleet failed over by fan-out through real FC async invocations of the emulator (docs/performance.md)."""
    from chaos.bench_fleet import FleetConfig, render, run_fleet
    from chaos.cli import bench_progress, progress_console

    cfg = FleetConfig(pairs=pairs, latency_ms=latency_ms, rate_limit=rate_limit, concurrency=concurrency,
                      batch_size=batch_size, api_version=api_version, async_concurrency=async_concurrency,
                      seed=seed, measure_single=measure_single)  # fmt: skip
    try:
        with bench_progress(progress_console()) as progress:
            report = run_fleet(cfg, progress=progress)
    except (RuntimeError, ValueError) as exc:
        raise _fail(str(exc)) from None
    print(json.dumps(report, indent=2) if as_json else render(report))
