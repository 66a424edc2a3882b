"""``replica-failover approve``: sign an approval of exactly one plan and print the manual event
that carries it (feed it to ``fun invoke`` or ``replica-failover invoke --event -``).

The secret comes from the environment (FAILOVER_APPROVAL_SECRET), never from an option: an option
would land in the shell history and the process list.
"""

from __future__ import annotations

import json
import os
import time
from typing import Annotated

import typer

TARGET_HELP = "KIND:ID:CLIENT_TOKEN (kind pair or group), comma-separated or repeated; as the hold message lists them"


def _targets(raw: list[str]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for item in (part.strip() for chunk in raw for part in chunk.split(",")):
        if not item:
            continue
        kind, _, rest = item.partition(":")
        ident, _, token = rest.partition(":")
        if kind not in ("pair", "group") or not ident or not token:
            raise typer.BadParameter(f"{item!r} is not KIND:ID:CLIENT_TOKEN", param_hint="--targets")
        out.append((kind, ident, token))
    if not out:
        raise typer.BadParameter("name at least one target", param_hint="--targets")
    return out


def approve(
    incident_key: Annotated[str, typer.Option("--incident-key", help="the incident key from the hold message")],
    digest: Annotated[str, typer.Option(help="the plan digest from the hold message")],
    approver: Annotated[str, typer.Option(help="who approves (recorded and signed)")],
    targets: Annotated[list[str], typer.Option("--targets", help=TARGET_HELP)],
    primary_region: Annotated[str, typer.Option("--primary-region", help="the unhealthy primary region")],
    ttl: Annotated[int, typer.Option(min=1, max=3600, help="seconds the approval stays valid (at most 3600)")] = 900,
    reason: Annotated[str, typer.Option(help="free text for the record")] = "approved failover",
) -> None:
    """Approve exactly the plan with DIGEST for INCIDENT_KEY; prints the manual failover event as JSON.

    Needs FAILOVER_APPROVAL_SECRET in the environment (the function's secret). The digest is checked
    against the targets: a mistyped target is refused here, not at 3 a.m. in the function.
    """
    from pydantic import ValidationError
    from replica_failover.approval import ApprovalError, ApprovedTarget, sign

    secret = os.environ.get("FAILOVER_APPROVAL_SECRET", "").strip()
    if not secret:
        typer.echo("replica-failover: error: FAILOVER_APPROVAL_SECRET is not set", err=True)
        raise typer.Exit(2)
    try:
        chosen = [ApprovedTarget(kind=k, id=i, client_token=t) for k, i, t in _targets(targets)]
        approval = sign(
            secret,
            incident_key=incident_key,
            digest=digest.strip().lower(),
            approver=approver,
            targets=chosen,
            now=time.time(),
            ttl_seconds=ttl,
        )
    except (ApprovalError, ValidationError, typer.BadParameter) as exc:
        message = exc.errors(include_input=False)[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"replica-failover: error: {message}", err=True)
        raise typer.Exit(2) from None
    event = {
        "action": "failover",
        "primaryRegion": primary_region,
        "incidentId": incident_key,
        "reason": reason,
        "approval": approval.model_dump(mode="json"),
    }
    typer.echo(json.dumps(event, indent=2))
