"""What ``replica-failover gameday`` prints: a live progress line per scenario, its checks, a verdict table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from chaos.gameday.runner import ProgressFn, RunOutcome

FIGURES = (  # (journal figure, column title): short titles, so the table fits an 80-column terminal
    ("eligible", "elig"),
    ("effects", "effects"),
    ("apiCalls", "calls"),
    ("writeCalls", "writes"),
    ("retries", "retries"),
    ("faultsFired", "faults"),
    ("fcReinvocations", "FC rerun"),
    ("rtoS", "RTO s"),  # the service recovery: first request to last DNS record switched
)


@dataclass
class _Row:
    name: str
    outcome: RunOutcome | None
    error: str | None = None


@dataclass
class GamedayDisplay:
    console: Console
    verbose: bool = False
    rows: list[_Row] = field(default_factory=list)

    @contextlib.contextmanager
    def running(self, name: str) -> Iterator[ProgressFn]:
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[scenario]}[/bold]"),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        task = progress.add_task("starting", total=1, scenario=name)

        def update(phase: str, done: int, total: int) -> None:
            progress.update(task, description=phase, completed=done, total=max(total, 1))

        with progress:
            yield update

    def finished(self, outcome: RunOutcome) -> None:
        j = outcome.journal
        self.rows.append(_Row(j.scenario, outcome))
        mark = "[green]PASS[/green]" if outcome.passed else "[red]FAIL[/red]"
        kind = " [dim](negative)[/dim]" if j.negative else ""
        self.console.print(f"{mark} [bold]{j.scenario}[/bold]{kind} - {j.title} [dim]({j.duration_s:.2f} s)[/dim]")
        shown = j.expectations if self.verbose else [e for e in j.expectations if not e.ok]
        if shown:
            table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1), pad_edge=False)
            table.add_column("", width=2)
            table.add_column("expectation", no_wrap=True)
            table.add_column("expected")
            table.add_column("measured / offenders", overflow="fold")
            for e in shown:
                table.add_row(
                    Text("ok", style="green") if e.ok else Text("X", style="bold red"),
                    e.name,
                    Text(e.expected),  # Text: bounds like [false] are data, not rich markup
                    Text(e.message or _brief(e.measured)),
                )
            self.console.print(table)
        if outcome.reports:
            where = outcome.reports.get("html") or next(iter(outcome.reports.values()))
            self.console.print(f"  [dim]report: {where}[/dim]")

    def error(self, name: str, message: str) -> None:
        self.rows.append(_Row(name, None, message))
        # soft wrap and no markup: the message quotes files and pydantic locations verbatim
        self.console.print(Text.assemble(("ERROR ", "bold red"), (name, "bold"), f": {message}"), soft_wrap=True)

    def verdicts(self) -> None:
        any_violation = any(r.outcome is None or not r.outcome.passed for r in self.rows)
        table = Table(
            title="Game-day verdicts", header_style="bold", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
        )
        table.add_column("scenario", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        for _, title in FIGURES:
            table.add_column(title, justify="right", no_wrap=True)
        table.add_column("s", justify="right", no_wrap=True)
        if any_violation:
            table.add_column("violated", overflow="fold")
        for row in self.rows:
            if row.outcome is None:
                cells: list[str | Text] = [row.name, Text("ERROR", style="bold red"), *[""] * (len(FIGURES) + 1)]
                table.add_row(*cells, *([row.error or ""] if any_violation else []))
                continue
            j = row.outcome.journal
            verdict = Text("PASS", style="bold green") if row.outcome.passed else Text("FAIL", style="bold red")
            violated = ", ".join(e.name for e in row.outcome.violations)
            table.add_row(
                j.scenario,
                verdict,
                *[_figure(j.figures.get(key)) for key, _ in FIGURES],
                _figure(j.duration_s),
                *([violated] if any_violation else []),
            )
        self.console.print(table)

    def all_passed(self) -> bool:
        return all(r.outcome is not None and r.outcome.passed for r in self.rows)


def _figure(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _brief(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
