"""``replica-failover recovery``: the recovery map's JSON Schema, and an offline check of a map file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from replica_failover.recovery.map import RecoveryMap

recovery_app = typer.Typer(
    no_args_is_help=True,
    help="The recovery map (standby instances, DNS records, hook) the function follows after a storage failover.",
)

EXIT_INVALID = 1


def offline_findings(rmap: RecoveryMap) -> list[dict[str, str]]:
    """What a map says about itself without any cloud read (the plan checks the rest)."""
    standbys = {s.instance_id for s in rmap.standbys}
    out: list[dict[str, str]] = []
    for rec in rmap.records:
        for iid in rec.after:
            if iid not in standbys:
                out.append(
                    {
                        "severity": "warning",
                        "code": "not-a-standby",
                        "subject": rec.key,
                        "message": f"waits for {iid}, no standby in this file: it must carry the standby-for tag "
                        "or already run",
                    }
                )
        if not rec.after:
            out.append(
                {
                    "severity": "info",
                    "code": "switches-always",
                    "subject": rec.key,
                    "message": "waits for no instance: it switches with every recovery",
                }
            )
    return out


@recovery_app.command("schema")
def recovery_schema() -> None:
    """Print the recovery map file's JSON Schema."""
    from replica_failover.recovery.map import schema

    print(json.dumps(schema(), indent=2))


@recovery_app.command("check")
def recovery_check(
    file: Annotated[Path, typer.Argument(help="the recovery map, .json, .yaml or .yml")],
) -> None:
    """Validate a recovery map file offline; print the result as JSON (exit 1 if it is invalid)."""
    from replica_failover.recovery.map import RecoveryMapError, load_map

    try:
        rmap = load_map(file)
    except RecoveryMapError as exc:
        print(json.dumps({"ok": False, "file": str(file), "error": str(exc)}, indent=2))
        typer.echo(f"replica-failover: error: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    findings = offline_findings(rmap)
    result = {
        "ok": not any(f["severity"] == "error" for f in findings),
        "file": str(file),
        "standbys": {s.instance_id: list(s.takes) for s in rmap.standbys},
        "records": [{"record": r.key, "value": r.value, "after": list(r.after)} for r in rmap.records],
        "hook": rmap.hook.function if rmap.hook else None,
        "findings": findings,
    }
    print(json.dumps(result, indent=2))
    if not result["ok"]:
        raise typer.Exit(EXIT_INVALID)
