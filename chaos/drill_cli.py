"""``replica-failover drill`` (run a drill of a route, always cleared), ``drill cleanup`` and ``drill report``.

``run`` and ``cleanup`` print one JSON report on stdout; with ``--report DIR`` they also write drill.json,
drill.md and drill.html there (``chaos/drill_report``). ``drill report FILE.json`` renders a saved report
(or the function's drill event result). On a terminal the drill's progress shows on stderr; piped, the
output is the JSON alone. Keys come from ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``
(``_SECURITY_TOKEN``); against a loopback ``--endpoint`` without them, the emulator's documented key.
Exit codes: 0 every drill executed and was cleared, 1 a drill failed / missed its deadline / was not
cleared, 2 bad input (nothing written), 130 interrupted (Ctrl-C or SIGTERM; drills still cleared).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class _RunByDefault(TyperGroup):
    """``drill --primary …`` means ``drill run --primary …``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


drill_app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Non-disruptive drills of a route's replica pairs/groups: RPO measured, drills always cleared. "
    "`drill ...` is `drill run ...`.",
)

Primary = Annotated[str, typer.Option("--primary", help="production region of the route, e.g. cn-hangzhou")]
Dr = Annotated[str, typer.Option("--dr", help="DR region of the route (where drill disks appear)")]
Pairs = Annotated[list[str] | None, typer.Option("--pair", help="limit to this pair (repeatable)")]
Groups = Annotated[list[str] | None, typer.Option("--group", help="limit to this group (repeatable)")]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="limit to targets tagged KEY=VALUE (repeatable)")]
Endpoint = Annotated[
    str | None, typer.Option("--endpoint", help="ebs endpoint override (host:port, http:// for the emulator)")
]
MaxTargets = Annotated[int, typer.Option("--max-targets", help="blast-radius cap: refuse a drill of more targets")]
Out = Annotated[Path | None, typer.Option("--out", help="also write the JSON report to this file")]
ReportDir = Annotated[
    Path | None,
    typer.Option("--report", metavar="DIR", help="also write drill.json, drill.md and drill.html into DIR"),
]


class _Usage(Exception):
    pass


def _tags(raw: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _Usage(f"--tag wants KEY=VALUE, got {item[:80]!r}")
        out[key] = value
    return out


def _is_loopback(endpoint: str | None) -> bool:
    if not endpoint:
        return False
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credentials(endpoint: str | None, env: Mapping[str, str]) -> Any:
    from replica_failover.credentials import Credentials
    from replica_failover.redact import register

    ak, sk = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""), env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if ak and sk:
        creds = Credentials(ak, sk, env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None, "environment")
    elif _is_loopback(endpoint):
        from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

        creds = Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, None, "emulator")
    else:
        raise _Usage("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    register(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return creds


def make_api(endpoint: str | None, env: Mapping[str, str]) -> Any:
    from replica_failover.drill import EbsDrillClient

    return EbsDrillClient(credentials(endpoint, env), endpoint=endpoint)


def make_disks(endpoint: str | None, env: Mapping[str, str]) -> Any:
    from replica_failover.drill.probe import EcsDiskApi
    from replica_failover.recovery.ecs import EcsApi

    return EcsDiskApi(EcsApi(credentials(endpoint, env), endpoint=endpoint))


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` where the process is, so the drill's ``finally`` clears."""
    from replica_failover.drill import Terminated

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _emit(doc: dict[str, Any], out: Path | None) -> None:
    from replica_failover.redact import redact_text

    text = redact_text(json.dumps(doc, indent=2, sort_keys=True))
    typer.echo(text)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")


def _report_dir(path: Path | None) -> Path | None:
    """Create ``--report DIR`` before any call, so a path that cannot hold the reports is bad input."""
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Usage(f"--report {str(path)[:200]}: cannot create the directory: {exc.strerror}") from None
    return path


def _is_terminal() -> bool:
    return sys.stdout.isatty()


REPEATED = {"started": "drills started", "waiting": "poll", "attached": "disks attached", "probed": "probes run"}


@contextmanager
def drill_progress(console: Any | None) -> Iterator[Callable[[str], None]]:
    """The runner's ``stage`` callback: each stage logged on ``console`` (rich, stderr) under a spinner.

    ``console`` None (stdout piped or captured): a no-op, so the output stays the JSON report alone.
    """
    if console is None:
        yield lambda _stage: None
        return
    started = time.monotonic()
    counts: dict[str, int] = {}
    with console.status("drill: selecting targets") as status:

        def show(stage: str) -> None:
            counts[stage] = counts.get(stage, 0) + 1
            elapsed = f"{time.monotonic() - started:.1f} s"
            if stage in REPEATED:  # once per drill or poll: counted on the spinner line, not printed
                status.update(f"drill: {REPEATED[stage]} {counts[stage]}, {elapsed} so far")
                return
            console.print(f"drill: {stage} [dim]({elapsed})[/dim]")  # stage names are ours, not data
            status.update(f"drill: {stage}, {elapsed} so far")

        yield show


def _progress_console() -> Any | None:
    if not _is_terminal():
        return None
    from rich.console import Console

    return Console(stderr=True)


def _write_reports(report: Any, where: Path | None) -> None:
    """Render after the drill; a failure to write is said on stderr and does not hide the drill's outcome."""
    if where is None:
        return
    from chaos.drill_report import DrillDocument, write_reports

    try:
        written = write_reports(DrillDocument(report, "cli"), where)
    except OSError as exc:
        typer.echo(f"replica-failover: error: writing the reports into {where}: {exc.strerror}", err=True)
        return
    if _is_terminal():
        typer.echo(f"report: {written['html']}", err=True)


def _request(**fields: Any) -> Any:
    from replica_failover.drill import DrillRequest

    try:
        return DrillRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise _Usage(f"{where}: {first['msg']}") from None


def _fail(message: str) -> NoReturn:
    typer.echo(f"replica-failover: error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


@drill_app.command("run")
def run(
    primary: Primary,
    dr: Dr,
    pair: Pairs = None,
    group: Groups = None,
    tag: Tags = None,
    endpoint: Endpoint = None,
    max_targets: MaxTargets = 50,
    objective: Annotated[int, typer.Option("--objective", help="RPO objective, seconds")] = 900,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to wait for the drills to execute")] = 1800.0,
    poll: Annotated[float, typer.Option("--poll", help="seconds between Describe*Drills polls")] = 5.0,
    attach_instance: Annotated[
        str | None, typer.Option("--attach-instance", help="test instance in the DR zone to attach each drill disk to")
    ] = None,
    probe: Annotated[
        str | None,
        typer.Option("--probe", help="command run per attached disk (DRILL_DISK_ID, DRILL_DEVICE); 0 = pass"),
    ] = None,
    out: Out = None,
    report_dir: ReportDir = None,
) -> None:
    """Start a drill per target (within the cap), wait until executed, measure RPO, clear; print the report."""
    from replica_failover.drill import DrillRunner

    try:
        request = _request(
            primary_region=primary, dr_region=dr, pair_ids=pair, group_ids=group, tags=_tags(tag),
            max_targets=max_targets, objective_seconds=objective, execute_timeout_seconds=timeout, poll_seconds=poll,
            attach_instance_id=attach_instance, probe_command=shlex.split(probe) if probe is not None else None,
        )  # fmt: skip
        api = make_api(endpoint, os.environ)
        disks = make_disks(endpoint, os.environ) if attach_instance else None
        reports = _report_dir(report_dir)
    except (_Usage, ValueError) as exc:
        _fail(str(exc))
    with sigterm_interrupts(), drill_progress(_progress_console()) as stage:
        report = DrillRunner(api, request, disks=disks, stage=stage).run()
    _emit(report.to_json(), out)
    _write_reports(report, reports)
    if report.error and not report.targets:
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(EXIT_INTERRUPTED if report.interrupted else (0 if report.ok else EXIT_FAILED))


@drill_app.command("cleanup")
def cleanup(
    primary: Primary,
    dr: Dr,
    pair: Pairs = None,
    group: Groups = None,
    tag: Tags = None,
    endpoint: Endpoint = None,
    max_targets: MaxTargets = 10_000,
    poll: Annotated[float, typer.Option("--poll", help="seconds between Describe*Drills polls")] = 5.0,
    out: Out = None,
    report_dir: ReportDir = None,
) -> None:
    """Clear every drill still listed on the route's targets (what a crashed run left behind)."""
    from replica_failover.drill import DrillRunner

    try:
        request = _request(
            primary_region=primary, dr_region=dr, pair_ids=pair, group_ids=group, tags=_tags(tag),
            max_targets=max_targets, poll_seconds=poll,
        )  # fmt: skip
        api = make_api(endpoint, os.environ)
        reports = _report_dir(report_dir)
    except _Usage as exc:
        _fail(str(exc))
    with sigterm_interrupts(), drill_progress(_progress_console()) as stage:
        report = DrillRunner(api, request, stage=stage).cleanup()
    _emit(report.to_json(), out)
    _write_reports(report, reports)
    if report.error:
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(EXIT_INTERRUPTED if report.interrupted else (EXIT_FAILED if report.not_cleared else 0))


@drill_app.command("report")
def report(
    source: Annotated[
        Path, typer.Argument(metavar="FILE.json", help="a drill report (drill run --out) or the drill event's result")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="where drill.json/.md/.html go", show_default="FILE's directory"),
    ] = None,
) -> None:
    """Render a saved drill report as drill.md and drill.html; print where they went and the verdict as JSON.

    Exit 0 when the drills executed and were cleared (as drill run would), 1 when not, 2 for a bad file.
    """
    from chaos.drill_report import ReportError, load, summarise, write_reports

    try:
        doc = load(source)
        where = _report_dir(out if out is not None else source.parent)
    except (ReportError, _Usage) as exc:
        _fail(str(exc))
    assert where is not None
    s = summarise(doc)
    try:
        written = write_reports(doc, where, skip=source)
    except OSError as exc:
        _fail(f"writing the reports into {str(where)[:200]}: {exc.strerror}")
    summary = {
        "ok": doc.report.ok,
        "verdict": s.verdict,
        "label": s.label,
        "rpoMet": s.rpo_met,
        "misses": [t.id for t in s.misses],
        "notCleared": s.uncleared,
        "files": {kind: str(path) for kind, path in written.items()},
    }
    _emit(summary, None)
    if _is_terminal():
        typer.echo(f"{s.label}: {written.get('html', where)}", err=True)
    raise typer.Exit(0 if doc.report.ok else EXIT_FAILED)
