"""The report's decision and notification tables, as plain-text rows the Markdown and HTML renderers escape.

*Decisions*: for each invocation, the signal class, what the policy decided, each evidence source's
value (or why it was unavailable), how long gathering took, the approval check, and the sends the
function recorded. *Notifications*: what the emulator's robot and webhook received, in arrival order,
how each was judged (accepted, signature, keywords, rate, fault) and its first line.
"""

from __future__ import annotations

from typing import Any

from chaos.gameday.journal import RunJournal
from chaos.gameday.notifications import text_of

DECISION_HEADER = ["#", "Event", "Status", "Signal", "Decision", "Evidence", "Gathered (ms)", "Approval", "Sent"]
NOTIFICATION_HEADER = ["#", "Endpoint", "Message", "Accepted", "Verification", "First line"]
MAX_LINE = 140


def has_decisions(journal: RunJournal) -> bool:
    return any(
        i.result and (i.result.get("confirmation") or i.result.get("approval") or i.result.get("notifications"))
        for i in journal.invocations
    )


def decision_rows(journal: RunJournal) -> list[list[str]]:
    rows = []
    for inv in journal.invocations:
        result = inv.result or {}
        confirmation = result.get("confirmation") or {}
        decision = confirmation.get("decision") or {}
        rows.append(
            [
                str(inv.index),
                inv.event_name,
                inv.status,
                str(confirmation.get("signal") or "—"),
                _decision(confirmation, decision),
                _evidence(confirmation.get("evidence")),
                _gathered(confirmation),
                _approval(result.get("approval")),
                _sent(result.get("notifications")),
            ]
        )
    return rows


def notification_rows(journal: RunJournal) -> list[list[str]]:
    rows = []
    for n in journal.notifications:
        verdict = str(n.get("verification") or "")
        if n.get("errcode") not in (None, 0):
            verdict += f" (errcode {n.get('errcode')})"
        elif n.get("httpStatus") not in (None, 200):
            verdict += f" (HTTP {n.get('httpStatus')})"
        if n.get("fault"):
            verdict += f" [fault {n.get('fault')}]"
        text = text_of(n).strip()
        first = text.splitlines()[0].lstrip("# ") if text else ""
        rows.append(
            [
                str(n.get("seq", "")),
                f"{n.get('kind')} {n.get('target') or ''}".strip(),
                str(n.get("message") or "other"),
                "yes" if n.get("accepted") else "no",
                verdict,
                first[:MAX_LINE],
            ]
        )
    return rows


def _decision(confirmation: dict[str, Any], decision: dict[str, Any]) -> str:
    if confirmation.get("decidedBy") == "approval":
        return "by approval"
    if not decision:
        return "—"
    verb = "act" if decision.get("act") else "hold"
    return f"{verb} ({decision.get('value')}): {decision.get('reason')}"


def _evidence(evidence: Any) -> str:
    if not isinstance(evidence, dict):
        return "not gathered (the signal decided)"
    parts = []
    for name, src in sorted((evidence.get("sources") or {}).items()):
        if not isinstance(src, dict):
            continue
        if src.get("available"):
            parts.append(f"{name}={src.get('value')}")
        else:
            parts.append(f"{name} unavailable ({src.get('reason')})")
    return "; ".join(parts) or "—"


def _gathered(confirmation: dict[str, Any]) -> str:
    ms = confirmation.get("gatheringMs")
    return f"{float(ms):g}" if isinstance(ms, int | float) else "—"


def _approval(approval: Any) -> str:
    if not isinstance(approval, dict):
        return "—"
    if approval.get("required"):
        return f"required: {approval.get('targets')} target(s), digest {str(approval.get('digest'))[:12]}…"
    if approval.get("verified") is False:
        return f"rejected: {approval.get('rejection')} (claimed by {approval.get('claimedApprover')})"
    if approval.get("verified"):
        extra = [f"{k} {len(approval.get(k) or [])}" for k in ("held", "vanished") if approval.get(k)]
        return f"verified, by {approval.get('approver')}: run {len(approval.get('run') or [])}" + "".join(
            f", {e}" for e in extra
        )
    return "—"


def _sent(records: Any) -> str:
    if not isinstance(records, list) or not records:
        return "—"
    parts = []
    for r in records:
        if not isinstance(r, dict):
            continue
        how = "ok" if r.get("ok") else f"failed ({r.get('error') or r.get('status')})"
        parts.append(f"{r.get('channel')} {r.get('kind')} {how}")
    return "; ".join(parts)
