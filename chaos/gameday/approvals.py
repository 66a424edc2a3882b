"""The approval step of a game day: on-call reads the hold message and approves the plan it shows.

The runner finds the ``replica-failover approve`` command in the latest hold message the emulator's
notification endpoints received, runs that command's own code (``chaos.approve``) with the scenario's
approval secret in its environment, and delivers the manual event it prints. Variants prove the
function refuses what it must: ``forged`` signs with another secret, ``expired`` carries an approval
whose hour is over, ``replayed`` carries a valid approval in an event for another incident.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from chaos.gameday.notifications import ApproveCommand, approve_command
from chaos.gameday.scenario import ApproveStep
from chaos.gameday.world import World


class ApprovalStepError(RuntimeError):
    """The step could not build its event (no hold message offered a command, the command refused)."""


def approval_event(step: ApproveStep, world: World) -> bytes:
    """The manual event this step delivers, built from the latest hold message's command."""
    control = world.control
    if control is None:
        raise ApprovalStepError("an approve step needs the emulator's notification endpoints")
    command = approve_command(control.notifications())
    if command is None:
        raise ApprovalStepError("no accepted hold message offered a `replica-failover approve` command")
    secret = world.sc.function.approval_secret
    if step.variant == "forged":
        secret = "forged-" + secrets.token_hex(16)  # what an attacker without the function's secret can do
    event = run_approve(command, step, secret)
    if step.variant == "expired":
        event["approval"] = _expired(command, step, secret)
    elif step.variant == "replayed":
        event["incidentId"] = step.replay_incident
    return json.dumps(event).encode("utf-8")


def run_approve(command: ApproveCommand, step: ApproveStep, secret: str) -> dict[str, Any]:
    """``replica-failover approve`` as on-call types it; its printed event, or the error it printed."""
    import typer
    from typer.testing import CliRunner

    from chaos.approve import approve

    app = typer.Typer()
    app.command()(approve)
    app.command("version", hidden=True)(lambda: None)  # two commands: typer keeps `approve` a subcommand
    args = [
        "approve",
        "--incident-key",
        command.incident_key,
        "--digest",
        command.digest,
        "--approver",
        step.approver,
        "--primary-region",
        command.primary_region,
        "--ttl",
        str(step.ttl),
        "--reason",
        step.reason,
        "--targets",
        ",".join(command.targets),
    ]
    # CliRunner swaps sys.stdout and os.environ for the call; the runner makes it between deliveries,
    # with the FC queue drained, so no handler is running meanwhile
    outcome = CliRunner().invoke(app, args, env={"FAILOVER_APPROVAL_SECRET": secret})
    if outcome.exit_code != 0:
        raise ApprovalStepError(f"replica-failover approve exited {outcome.exit_code}: {outcome.output.strip()[:300]}")
    try:
        event = json.loads(outcome.stdout)
    except ValueError:
        raise ApprovalStepError("replica-failover approve did not print a JSON event") from None
    if not isinstance(event, dict):
        raise ApprovalStepError("replica-failover approve did not print a JSON object")
    return event


def _expired(command: ApproveCommand, step: ApproveStep, secret: str) -> dict[str, Any]:
    """The same approval, signed as if it had been issued ``ttl`` + 60 s ago (so it ran out a minute ago)."""
    from replica_failover.approval import ApprovedTarget, sign

    targets = []
    for item in command.targets:
        kind, ident, token = item.split(":", 2)
        targets.append(ApprovedTarget.model_validate({"kind": kind, "id": ident, "client_token": token}))
    approval = sign(
        secret,
        incident_key=command.incident_key,
        digest=command.digest,
        approver=step.approver,
        targets=targets,
        now=time.time() - step.ttl - 60,
        ttl_seconds=step.ttl,
    )
    return approval.model_dump(mode="json")
