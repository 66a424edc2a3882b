"""``replica-failover``: the project's command line."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
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


@emulator_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to bind; keep it on loopback")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0 picks a free one)")] = 8765,
    seed: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="YAML/JSON seed file")] = None,
    region: Annotated[str, typer.Option(help="the emulator's own region (FC, HostId)")] = "cn-shanghai",
) -> None:
    """Serve the ebs API, the FC invoke API and /_emulator/ until interrupted."""
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
    handle = start(emulator, host, port)
    print(json.dumps({"endpoint": handle.url, "control": f"{handle.url}/_emulator/", "region": region}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()


@app.command("invoke")
def invoke_cmd(
    event: Annotated[Path, typer.Option("--event", "-e", help="event file ('-' for stdin)", allow_dash=True)],
    endpoint: Annotated[str | None, typer.Option(help="emulator URL (sets EBS_ENDPOINT and FC_ENDPOINT)")] = None,
    function: Annotated[str, typer.Option(help="function name in template.yml")] = "failover",
    timeout: Annotated[float | None, typer.Option(help="override the template's Timeout (s)")] = None,
    template: Annotated[Path, typer.Option(exists=True, dir_okay=False)] = Path("template.yml"),
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE override, repeatable")] = None,
) -> None:
    """Run a template.yml function in-process with an FC-like context: `fun local invoke` without Docker."""
    import sys

    from chaos.invoke import invoke
    from chaos.template import TemplateError, read_template

    try:
        functions = read_template(template)
    except TemplateError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if function not in functions:
        err.print(f"[red]no function {function!r} in {template}; have {sorted(functions)}[/red]")
        raise typer.Exit(2)
    overrides = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err.print(f"[red]--env takes KEY=VALUE, got {item!r}[/red]")
            raise typer.Exit(2)
        overrides[key] = value
    raw = sys.stdin.buffer.read() if str(event) == "-" else event.read_bytes()
    try:
        code, output = invoke(functions[function], raw, endpoint=endpoint, timeout=timeout, env_overrides=overrides)
    except Exception as exc:  # a configuration error names its variable: show it, not a traceback
        err.print(f"[red]{type(exc).__name__}: {exc}[/red]")
        raise typer.Exit(2) from None
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
    pairs: Annotated[int, typer.Option(min=1, max=10_000, help="replica pairs to fail over (N)")] = 1000,
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
) -> None:
    """Time the function against the emulator (separate processes) next to the bound and a naive SDK loop."""
    from chaos.bench import BenchConfig, render, run_bench

    cfg = BenchConfig(
        pairs=pairs,
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
        report = run_bench(cfg)
    except (RuntimeError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    print(json.dumps(report, indent=2) if as_json else render(report))


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
    directory: Annotated[Path, typer.Argument(help="scenario directory")] = Path("chaos/scenarios"),
) -> None:
    """List the scenarios in a directory with their titles."""
    from chaos.gameday.scenario import ScenarioError, load_scenario

    for path in sorted(directory.glob("*.yaml")):
        try:
            title = load_scenario(path).title
        except ScenarioError as exc:
            title = f"[invalid] {str(exc).splitlines()[0]}"
        print(f"{path}\t{title}")


if __name__ == "__main__":  # pragma: no cover
    app()
