"""replica-failover: the project's command line."""

from __future__ import annotations

import ipaddress
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from chaos.drill_cli import drill_app
from chaos.fanout_cli import fanout_app
from chaos.recovery_cli import recovery_app
from chaos.reverse_cli import register as register_reverse

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="replica-failover: EBS replica-pair failover on Function Compute, its local emulator, game days and bench.",
)
emulator_app = typer.Typer(no_args_is_help=True, help="The local Alibaba Cloud emulator (ebs + FC).")
app.add_typer(emulator_app, name="emulator")
err = Console(stderr=True)


class _RunByDefault(TyperGroup):
    """``gameday FILE...`` means ``gameday run FILE...``; ``gameday schema`` and ``gameday list`` stay commands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # click's Context (vendored by typer)
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


gameday_app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Game days: chaos scenarios run against the emulator (or a staging function), judged from the ledger. "
    "`gameday FILE...` is `gameday run FILE...`.",
)
app.add_typer(gameday_app, name="gameday")
app.add_typer(recovery_app, name="recovery")
app.add_typer(drill_app, name="drill")
app.add_typer(fanout_app, name="fanout")
register_reverse(app)  # undo, reprotect, failback

# `invoke` exits with one code per class of outcome; the codes live with invoke (chaos/invoke.py)
EXIT_USAGE = 2
EXIT_NOT_READY = 1  # `emulator wait`: the emulator did not answer in time


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One plain line on stderr (no rich wrapping, no traceback), then exit."""
    typer.echo(f"replica-failover: error: {message}", err=True)
    raise typer.Exit(code)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@emulator_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to bind; keep it on loopback")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0 picks a free one)")] = 8765,
    seed: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="YAML/JSON seed file")] = None,
    region: Annotated[str, typer.Option(help="the emulator's own region (FC, HostId)")] = "cn-shanghai",
) -> None:
    """Serve the ebs API, the FC invoke API and /_emulator/ until interrupted (Ctrl-C, SIGTERM, `kill %1`)."""
    from chaos.emulator.app import Emulator
    from chaos.emulator.seedfile import SeedFile
    from chaos.emulator.server import start

    emulator = Emulator(region=region)
    if seed is not None:
        try:
            SeedFile.load(seed).apply(emulator)
        except Exception as exc:  # a bad seed file must say what is wrong, not print a traceback
            err.print(f"[red]seed file {seed}: {exc}[/red]")
            raise typer.Exit(2) from None
    if not is_loopback(host):
        typer.echo(
            f"replica-failover: warning: binding the emulator to {host}: anyone who can reach this port can "
            "use its documented keys and its unauthenticated /_emulator/ control plane; keep it on 127.0.0.1",
            err=True,
        )
    stop = threading.Event()
    # Before the endpoint line: whoever reads that line may send SIGTERM at once.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    handle = start(emulator, host, port)
    print(json.dumps({"endpoint": handle.url, "control": f"{handle.url}/_emulator/", "region": region}), flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()


@emulator_app.command("wait")
def wait(
    endpoint: Annotated[str, typer.Option(help="the emulator's URL")] = "http://127.0.0.1:8765",
    timeout: Annotated[float, typer.Option(min=0.1, max=600, help="give up after this many seconds")] = 10.0,
) -> None:
    """Wait until an emulator answers (after `emulator serve ... &`); exit 1 if it does not within --timeout."""
    import requests

    url = endpoint if "://" in endpoint else f"http://{endpoint}"
    if not url.startswith(("http://", "https://")):
        fail(f"--endpoint must be an http:// URL, got {endpoint!r}")
    probe = f"{url.rstrip('/')}/_emulator/clock"  # the cheapest control-plane read
    started = time.monotonic()
    deadline = started + timeout
    last = "no answer yet"
    while True:
        try:
            resp = requests.get(probe, timeout=min(2.0, max(0.1, deadline - time.monotonic())))
            if resp.status_code == 200 and "now" in resp.json():
                waited = round(time.monotonic() - started, 3)
                print(json.dumps({"ready": True, "endpoint": url, "waitedSeconds": waited}))
                return
            last = f"HTTP {resp.status_code} from {probe}"
        except (requests.RequestException, ValueError) as exc:
            last = type(exc).__name__
        if time.monotonic() >= deadline:
            fail(f"no emulator answered at {url} within {timeout:g} s ({last})", EXIT_NOT_READY)
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))  # a bounded poll of another process


@app.command("invoke")
def invoke_cmd(
    event: Annotated[str, typer.Option("--event", "-e", help="event file ('-' for stdin)")],
    endpoint: Annotated[str | None, typer.Option(help="emulator URL (sets EBS_ENDPOINT and FC_ENDPOINT)")] = None,
    function: Annotated[str, typer.Option(help="function in template.yml: NAME or SERVICE/NAME")] = "failover",
    timeout: Annotated[float | None, typer.Option(help="override the template's Timeout (s)")] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            envvar="REPLICA_FAILOVER_TEMPLATE",
            show_default="the checkout's template.yml",
            help="the Funcraft template; the function's code is its CodeUri",
        ),
    ] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE override, repeatable")] = None,
) -> None:
    """Run a template.yml function in-process with an FC-like context: fun local invoke without Docker.

    The result goes to stdout, the function's log lines to stderr. Exit codes: 0 completed/noop/planned,
    1 the function raised, 2 usage or unreadable file, 3 pending (FC would retry), 4 rejected event,
    5 failed/refused/partial.
    """
    from chaos.invoke import invoke
    from chaos.template import TemplateError, locate_template, read_template

    try:
        template = locate_template(template)
        functions = read_template(template)
    except TemplateError as exc:
        fail(str(exc).splitlines()[0])
    if function not in functions:
        fail(f"no function {function!r} in {template}; have {', '.join(sorted(functions))}")
    overrides = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--env takes KEY=VALUE, got {item!r}")
        overrides[key] = value
    try:
        raw = sys.stdin.buffer.read() if event == "-" else Path(event).read_bytes()
    except OSError as exc:
        fail(f"cannot read the event file {event!r}: {exc.strerror or exc}")
    try:
        code, output = invoke(functions[function], raw, endpoint=endpoint, timeout=timeout, env_overrides=overrides)
    except Exception as exc:  # a configuration error names its variable: show it, not a traceback
        fail(f"{type(exc).__name__}: {exc}")
    print(json.dumps(output, indent=2))
    raise typer.Exit(code)


@app.command()
def demo(
    pairs: Annotated[int, typer.Option(min=1, max=1000)] = 6,
) -> None:
    """Start the emulator, seed a demo fleet, fail one pair over through the real SDK, print the result."""
    from chaos.demo import run_demo

    result: dict[str, Any] = run_demo(pairs=pairs)
    print(json.dumps(result, indent=2))
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("bench")
def bench(
    pairs: Annotated[
        int | None, typer.Option(min=1, max=100_000, help="replica pairs (N); default 1000, 200 with --recovery")
    ] = None,
    latency_ms: Annotated[float, typer.Option(min=0, help="emulator latency per call (L)")] = 50.0,
    rate_limit: Annotated[float, typer.Option(min=0, help="API rate limit, requests/s (Q); 0: none")] = 100.0,
    fault_rate: Annotated[float, typer.Option(min=0, max=0.9, help="share of failover calls answering 504")] = 0.0,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="FAILOVER_CONCURRENCY (C)")] = 16,
    seed: Annotated[int, typer.Option(help="fleet and fault seed")] = 1,
    baseline: Annotated[bool, typer.Option(help="also time the naive sequential SDK loop")] = True,
    cold_start_runs: Annotated[int, typer.Option(min=0, help="fresh interpreters per import (0: skip)")] = 11,
    cold_start_python: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="measure cold start on this interpreter (with functions/failover/requirements.txt)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    recovery: Annotated[
        bool, typer.Option("--recovery", help="time the whole service recovery (RTO: storage, compute, traffic)")
    ] = False,
    instances: Annotated[int, typer.Option(min=1, max=10_000, help="--recovery: standby instances (M)")] = 50,
    records: Annotated[int, typer.Option(min=1, max=1000, help="--recovery: DNS records (R)")] = 10,
) -> None:
    """Time the function against the emulator (separate processes) next to the bound and a naive SDK loop.

    On a terminal a spinner names the phase running (a run takes minutes); piped, the output is only the report.
    """
    if recovery:
        _bench_recovery(pairs or 200, instances, records, latency_ms, rate_limit, concurrency, baseline, as_json)
        return
    from chaos.bench import BenchConfig, render, run_bench

    cfg = BenchConfig(
        pairs=pairs or 1000,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        concurrency=concurrency,
        seed=seed,
        baseline=baseline,
        cold_start_runs=cold_start_runs,
        cold_start_python=str(cold_start_python) if cold_start_python else None,
    )
    try:
        with bench_progress(progress_console()) as progress:
            report = run_bench(cfg, progress=progress)
    except (RuntimeError, ValueError) as exc:
        fail(str(exc))
    print(json.dumps(report, indent=2) if as_json else render(report))


def _bench_recovery(
    pairs: int, instances: int, records: int, latency_ms: float, rate_limit: float, concurrency: int,
    baseline: bool, as_json: bool,
) -> None:  # fmt: skip
    from chaos.bench_recovery import RecoveryBenchConfig, render, run_recovery_bench

    cfg = RecoveryBenchConfig(pairs=pairs, instances=instances, records=records, latency_ms=latency_ms,
                              rate_limit=rate_limit, concurrency=concurrency, baseline=baseline)  # fmt: skip
    try:
        with bench_progress(progress_console()) as progress:
            report = run_recovery_bench(cfg, progress=progress)
    except (RuntimeError, ValueError) as exc:
        fail(str(exc))
    print(json.dumps(report, indent=2) if as_json else render(report))


def progress_console() -> Console | None:
    """Where bench progress goes: stderr, and only when stdout is a terminal (piped output stays plain)."""
    return Console(stderr=True) if sys.stdout.isatty() else None


@contextmanager
def bench_progress(console: Console | None) -> Iterator[Callable[[str], None]]:
    """A callback that shows the current phase on ``console`` (a rich spinner); no console: a no-op."""
    if console is None:
        yield lambda _phase: None
        return
    started = time.monotonic()
    with console.status("bench: starting") as status:

        def show(phase: str) -> None:
            console.log(f"bench: {phase}")  # each phase stays on screen, timed, as the spinner moves on
            status.update(f"bench: {phase} ({time.monotonic() - started:.0f} s so far)")

        yield show


@gameday_app.command("run")
def gameday_run(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario YAML files (e.g. chaos/scenarios/*.yaml)")],
    seed: Annotated[int | None, typer.Option(help="override every scenario's seed")] = None,
    report_dir: Annotated[
        Path, typer.Option("--report-dir", help="reports go to DIR/<scenario>/report.{json,md,html}")
    ] = Path("gameday-reports"),
    endpoint: Annotated[
        str | None, typer.Option(help="an external emulator (its URL); default: start one embedded")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="fc://<service>/<function>: drive a deployed function through aliyun-fc2 (staging)"),
    ] = None,
    fc_endpoint: Annotated[
        str | None, typer.Option("--fc-endpoint", help="FC endpoint for --target; keys from ALIBABA_CLOUD_*")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="every expectation, not only violations")] = False,
    template: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            envvar="REPLICA_FAILOVER_TEMPLATE",
            show_default="the checkout's template.yml",
            help="the Funcraft template, for scenarios that name none",
        ),
    ] = None,
) -> None:
    """Run scenarios; exit 1 if any expectation is violated, 2 if a scenario cannot be run."""
    import logging

    from chaos.gameday.display import GamedayDisplay
    from chaos.gameday.runner import FcTarget, RunError, RunOptions, run_file
    from chaos.gameday.scenario import ScenarioError

    # the SDK logs every error answer at ERROR; in a game day those are the injected faults
    logging.getLogger("aliyunsdkcore").setLevel(logging.CRITICAL)
    # piped or in CI there is no terminal width to read: rich would assume 80 and truncate the verdicts
    out = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 150)
    display = GamedayDisplay(out, verbose=verbose)
    try:
        fc_target = FcTarget.parse(target) if target else None
    except RunError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    broken = False
    for path in scenarios:
        with display.running(path.stem) as progress:
            try:
                outcome = run_file(
                    path,
                    RunOptions(
                        seed=seed,
                        report_dir=report_dir,
                        endpoint=endpoint,
                        target=fc_target,
                        fc_endpoint=fc_endpoint,
                        progress=progress,
                        template=template,
                    ),
                )
            except (ScenarioError, RunError) as exc:
                display.error(path.stem, str(exc))
                broken = True
                continue
        display.finished(outcome)
    display.verdicts()
    if broken:
        raise typer.Exit(2)
    if not display.all_passed():
        raise typer.Exit(1)


@gameday_app.command("schema")
def gameday_schema() -> None:
    """Print the scenario file's JSON Schema."""
    from chaos.gameday.scenario import json_schema

    print(json.dumps(json_schema(), indent=2))


@gameday_app.command("list")
def gameday_list(
    directory: Annotated[Path | None, typer.Argument(help="scenario directory (default: the bundled library)")] = None,
) -> None:
    """List the scenarios in a directory (default: the bundled library) with their titles."""
    from chaos.gameday.library import LibraryError, listing

    try:
        print("\n".join(listing(directory)))
    except LibraryError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


# the command body lives in chaos/approve.py (it imports nothing heavy until it runs)
from chaos.approve import approve as _approve  # noqa: E402

app.command("approve")(_approve)


if __name__ == "__main__":  # pragma: no cover
    app()
