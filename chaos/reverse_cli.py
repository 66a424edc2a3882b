"""``replica-failover undo | reprotect | failback``: reverse a failover from the command line.

Each command plans first and writes nothing unless ``--execute`` is given: the plan (targets, each
call in order with its region and ClientToken, preconditions and their state, what is skipped and
why) is printed as JSON on stdout and as a short table on stderr. With ``--execute`` the same code the
function runs for ``{"action": ...}`` events acts, and the JSON result is printed. Re-running a
command with the same change id is safe: every step re-reads the state and carries the same token.

Exit codes are ``replica-failover invoke``'s (chaos/invoke.py): 0 planned/completed, 2 bad command
line, 3 pending (run it again later), 4 rejected (bad input, nothing written), 5 failed (a refusal
or a precondition to fix). Keys as for ``drill`` (``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``; the
emulator's documented key against a loopback ``--endpoint``).

Endpoints: without ``--endpoint``/``--ecs-endpoint`` every call goes to its own region's endpoint
(``ebs.<region>.aliyuncs.com``, ECS likewise): a failback's Failover and the old primary's disk reads
go to the primary region, the rest to the DR region. The overrides send every call to one host (the
emulator, or a proxy serving every region), so a regional ``*.aliyuncs.com`` host is refused there.

``undo`` needs ``--change`` (your id for this undo: it goes into every ClientToken, so a second false
alarm of the same rule needs a new one), ``--incident`` and at least one of ``--pair``/``--group``/
``--tag``: another incident's failover on the same route is never undone by accident.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from chaos.drill_cli import Endpoint, Groups, Out, Pairs, Tags, _tags, _Usage, credentials
from chaos.invoke import EXIT_USAGE, exit_code_for

Primary = Annotated[str, typer.Option("--primary", help="the route's primary region (failed over from)")]
Dr = Annotated[str, typer.Option("--dr", help="the route's DR region (failed over to); the targets are read there")]
MaxTargets = Annotated[int, typer.Option("--max-targets", help="blast-radius cap: refuse to act on more targets")]
Execute = Annotated[bool, typer.Option("--execute", help="act; without it only the plan is printed (no writes)")]
EcsEndpoint = Annotated[
    str | None, typer.Option("--ecs-endpoint", help="ECS override: one host for every region (default: --endpoint)")
]  # fmt: skip
Timeout = Annotated[float, typer.Option("--timeout", help="seconds to keep going before answering pending")]
Change = Annotated[str, typer.Option("--change", help="your id for this change (e.g. the ticket); required")]
Incident = Annotated[str, typer.Option("--incident", help="incident key of the failover being undone; required")]
UndoChange = Annotated[
    str, typer.Option("--change", help="your id for this undo (a new one per undo: it makes the tokens); required")
]


def _one_host(name: str, value: str | None) -> None:
    if value is not None and ".aliyuncs.com" in value:
        raise _Usage(f"{name} sends every region's calls to one host: leave it out to use each region's endpoint")


def perform(action: str, change: str, execute: bool, **opts: Any) -> tuple[int, dict[str, Any]]:
    """(exit code, JSON result) of one action; nothing is written unless ``execute``."""
    from replica_failover.log import JsonLogger
    from replica_failover.recovery.ecs import EcsApi
    from replica_failover.redact import redact
    from replica_failover.retry import Backoff, Deadline, RetryBudget
    from replica_failover.reverse import event
    from replica_failover.reverse.client import ReverseClient
    from replica_failover.reverse.run import Clock

    _one_host("--endpoint", opts.get("endpoint"))
    _one_host("--ecs-endpoint", opts.get("ecs_endpoint"))
    if action == "undo" and not (opts.get("pair") or opts.get("group") or opts.get("tag")):
        raise _Usage("undo needs --pair, --group or --tag: the targets of the failover being undone")
    payload = {
        "action": action, "dryRun": not execute, "primaryRegion": opts["primary"], "drRegion": opts["dr"],
        "changeId": change, "incidentKey": opts.get("incident"), "pairIds": opts.get("pair"),
        "groupIds": opts.get("group"), "tags": _tags(opts.get("tag")), "maxTargets": opts["max_targets"],
    }  # fmt: skip
    payload = {k: v for k, v in payload.items() if v is not None}
    try:
        req = event.request_from(payload, primaries=None, dr=None)
    except ValueError as exc:
        return exit_code_for({"status": "rejected"}), event.rejected(payload, str(exc))
    endpoint = opts.get("endpoint")
    creds = credentials(endpoint, os.environ)
    api = ReverseClient(creds, endpoint=endpoint)
    ecs = EcsApi(creds, endpoint=opts.get("ecs_endpoint") or endpoint)
    result = event.perform(
        req, api, ecs, deadline=Deadline.after(float(opts["timeout"])), budget=RetryBudget(50, 5.0),
        backoff=Backoff(), log=JsonLogger("INFO", sys.stderr), clock=event.CLOCK or Clock(),
    ).to_json()  # fmt: skip
    return exit_code_for(result), redact(result)


def table(result: dict[str, Any]) -> str:
    """The plan or result for a human: one block per target."""
    lines = [f"{result['action']} {result['changeId']}: {result['status']} - {result['reason']}"]
    for t in result.get("targets", []):
        rpo = f", RPO {t['rpoSeconds']} s" if t.get("rpoSeconds") is not None else ""
        lines.append(f"  {t['kind']} {t['id']} [{t['status']} {t['direction']}{rpo}] -> {t['outcome']}: {t['reason']}")
        for p in t.get("preconditions", []):
            lines.append(f"      precondition {p['name']} ({p['region']}): {p['state']} - {p['detail']}")
        for n, s in enumerate(t.get("steps", []), 1):
            rev = (
                f" ReverseReplicate={str(s['reverseReplicate']).lower()}"
                if s.get("reverseReplicate") is not None
                else ""
            )
            lines.append(f"      {n}. {s['call']}{rev} in {s['region']} token {s['clientToken']} [{s['state']}]")
    return "\n".join(lines)


def _emit(code: int, result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2, sort_keys=True)
    typer.echo(text)
    typer.echo(table(result), err=True)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    raise typer.Exit(code)


def _run(action: str, change: str, execute: bool, out: Path | None, **opts: Any) -> None:
    try:
        code, result = perform(action, change, execute, **opts)
    except _Usage as exc:
        typer.echo(f"replica-failover: error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    _emit(code, result, out)


def register(app: typer.Typer) -> None:
    """Add ``undo``, ``reprotect`` and ``failback`` to the project's command line."""

    @app.command("undo")
    def undo(
        primary: Primary, dr: Dr, change: UndoChange, incident: Incident, pair: Pairs = None, group: Groups = None,
        tag: Tags = None, endpoint: Endpoint = None, ecs_endpoint: EcsEndpoint = None, max_targets: MaxTargets = 50,
        timeout: Timeout = 900.0, execute: Execute = False, out: Out = None,
    ) -> None:  # fmt: skip
        """False alarm: Reprotect(ReverseReplicate=false) then Start, for the named failed-over targets."""
        _run("undo", change, execute, out, primary=primary, dr=dr, incident=incident, pair=pair, group=group, tag=tag,
             endpoint=endpoint, ecs_endpoint=ecs_endpoint, max_targets=max_targets, timeout=timeout)  # fmt: skip

    @app.command("reprotect")
    def reprotect(
        primary: Primary, dr: Dr, change: Change, pair: Pairs = None, group: Groups = None, tag: Tags = None,
        endpoint: Endpoint = None, ecs_endpoint: EcsEndpoint = None, max_targets: MaxTargets = 50,
        timeout: Timeout = 900.0, execute: Execute = False, out: Out = None,
    ) -> None:  # fmt: skip
        """Old primary back: Reprotect(ReverseReplicate=true) then Start, replicating DR -> primary."""
        _run("reprotect", change, execute, out, primary=primary, dr=dr, pair=pair, group=group, tag=tag,
             endpoint=endpoint, ecs_endpoint=ecs_endpoint, max_targets=max_targets, timeout=timeout)  # fmt: skip

    @app.command("failback")
    def failback(
        primary: Primary, dr: Dr, change: Change, pair: Pairs = None, group: Groups = None, tag: Tags = None,
        endpoint: Endpoint = None, ecs_endpoint: EcsEndpoint = None, max_targets: MaxTargets = 50,
        timeout: Timeout = 900.0, execute: Execute = False, out: Out = None,
    ) -> None:  # fmt: skip
        """Planned failover back to the primary region, then Reprotect(true) and Start: the original direction."""
        _run("failback", change, execute, out, primary=primary, dr=dr, pair=pair, group=group, tag=tag,
             endpoint=endpoint, ecs_endpoint=ecs_endpoint, max_targets=max_targets, timeout=timeout)  # fmt: skip
