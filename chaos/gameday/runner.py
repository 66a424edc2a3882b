"""Run one scenario, phase by phase: world setup, method armed, trigger delivered, judged, reported.

Phases: emulator (embedded, or external over ``/_emulator``) -> world set up (:mod:`~chaos.gameday.world`:
configure, seed, register the template's functions) -> steady state *before* -> method armed
(:mod:`~chaos.gameday.method`: faults, timed actions) -> trigger, every event copy through its channel
(:mod:`~chaos.gameday.channels`) -> FC queue drained -> clock settled (transient states complete on the
emulator clock, never by sleeping) -> steady state *after* and journal (:mod:`~chaos.gameday.judging`)
-> reports.

``--target fc://<service>/<function>`` swaps the function for a deployed one, invoked synchronously
through aliyun-fc2 (its result is the evidence); with ``--endpoint`` as well, fleet, faults and
ledger still come from that emulator, without it only what the function's results say can be judged.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chaos.gameday.approvals import ApprovalStepError, approval_event
from chaos.gameday.channels import Channels, Delivery, ProgressFn, plan_deliveries
from chaos.gameday.client import EmulatorControl
from chaos.gameday.journal import ExpectationResult, RunJournal
from chaos.gameday.judging import judge, look_after, look_before, observe
from chaos.gameday.method import Method
from chaos.gameday.recovery_world import plan_file
from chaos.gameday.scenario import Scenario, ScenarioError, load_scenario
from chaos.gameday.world import FcTarget, RunError, World, open_emulator, set_up, unknown_targets

__all__ = ["FcTarget", "ProgressFn", "RunError", "RunOptions", "RunOutcome", "run_file", "run_scenario"]


@dataclass
class RunOptions:
    seed: int | None = None
    report_dir: Path | None = None
    endpoint: str | None = None  # external emulator (http://host:port)
    target: FcTarget | None = None
    fc_endpoint: str | None = None
    progress: ProgressFn | None = None
    template: Path | None = None  # for scenarios that name none; default: locate_template's choice


@dataclass
class RunOutcome:
    journal: RunJournal
    reports: dict[str, Path] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.journal.verdict == "pass"

    @property
    def violations(self) -> list[ExpectationResult]:
        return [e for e in self.journal.expectations if not e.ok]


def run_file(path: Path, options: RunOptions | None = None) -> RunOutcome:
    scenario = load_scenario(path)
    return run_scenario(scenario, name=path.stem, base_dir=path.parent, options=options)


def run_scenario(
    scenario: Scenario, *, name: str, base_dir: Path | None = None, options: RunOptions | None = None
) -> RunOutcome:
    opts = options or RunOptions()
    if opts.seed is not None:
        scenario = scenario.model_copy(update={"seed": opts.seed})
    problems = unknown_targets(scenario)
    if problems:  # checked again under the run's seed, before anything is written anywhere
        raise ScenarioError(f"{name}: invalid scenario\n" + "\n".join(f"  {p}" for p in problems))
    logs = io.StringIO()
    # the function logs JSON lines to stdout (FC ships them to SLS); here they go to the report directory,
    # not over the progress display
    with (
        open_emulator(opts.endpoint, opts.target, scenario.dr_region) as control,
        _capture_dir(control) as capture_dir,
        contextlib.redirect_stdout(logs),
    ):
        world = World.build(
            scenario,
            base_dir or Path.cwd(),
            control,
            target=opts.target,
            fc_endpoint=opts.fc_endpoint,
            logs=logs,
            capture_dir=capture_dir,
            template=opts.template,
        )
        with plan_file(scenario, world.fn.code_uri if world.target is None else None) as plan:
            world.recovery_plan = plan
            journal = _run(world, name, opts.progress or (lambda phase, done, total: None))
    reports: dict[str, Path] = {}
    if opts.report_dir is not None:
        from chaos.gameday.report import write_report_file, write_reports  # imported when reports are wanted

        out_dir = opts.report_dir / name
        reports = dict(write_reports(journal, out_dir))
        reports["log"] = write_report_file(out_dir / "function-log.jsonl", logs.getvalue())
    return RunOutcome(journal, reports)


@contextlib.contextmanager
def _capture_dir(control: EmulatorControl | None) -> Iterator[str | None]:
    """An emulator in another process hands FC attempts' results back through files in this directory."""
    if control is None or control.in_process:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="gameday-capture-") as directory:
        yield directory


def _run(world: World, name: str, progress: ProgressFn) -> RunJournal:
    progress("seeding the fleet", 0, 1)
    set_up(world)
    before, before_checks = look_before(world)

    channels, method = Channels(world, progress), Method(world)
    deliveries = plan_deliveries(world)
    progress("trigger", 0, len(deliveries))
    started_wall, trigger_start = time.time(), time.monotonic()

    def before_event(step: int) -> None:
        method.before_event(step)
        _prepare_approval(world, channels, deliveries, step)

    method.arm()
    try:
        channels.deliver(deliveries, before_event)
        drained = channels.drain()
    finally:
        method.disarm()
    trigger_seconds = time.monotonic() - trigger_start
    channels.join_abandoned()
    progress("judging", len(deliveries), len(deliveries))

    after = look_after(world)
    attempts = channels.collect(deliveries)
    obs = observe(
        world,
        before,
        after,
        deliveries,
        attempts,
        flips=method.fired_flips,
        trigger_seconds=trigger_seconds,
        step_writes=channels.step_writes,
        logs=world.logs.getvalue() if isinstance(world.logs, io.StringIO) else "",
    )
    return judge(world, name, obs, after, before_checks, deliveries, started_wall=started_wall, drained=drained)


def _prepare_approval(world: World, channels: Channels, deliveries: list[Delivery], step: int) -> None:
    """An approve step's event is built from the hold message received so far, just before it is sent."""
    approve = world.sc.trigger.events[step].approve
    if approve is None:
        return
    channels.drain()  # an async hold must have been handled (and its message sent) before on-call reads it
    try:
        payload, blocked = approval_event(approve, world), None
    except ApprovalStepError as exc:
        payload, blocked = b"", f"approve step: {exc}"
    for d in deliveries:
        if d.step == step:
            d.payload, d.blocked = payload, blocked
