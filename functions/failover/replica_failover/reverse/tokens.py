"""ClientTokens of the reverse actions: one per (action, change, target, direction, step).

``rv-`` + sha256(action | change id | kind | target id | source>destination | step)[:40], 43 ASCII
characters (the API allows 64). The change id is the operator's name for this change (a ticket; an
undo's too: an incident key repeats for a second alarm of the same rule, so it cannot name the
change): two runs of one change agree on every token, so retries, duplicate
events, concurrent copies and lost acknowledgements make one effect per target and step. The
direction is the target's replication direction *before* the step, so a later change of the same
target in the other direction, or a second round trip under a new change id, gets new tokens.
Nothing of the invocation (request id, time) goes in.
"""

from __future__ import annotations

import hashlib

PREFIX = "rv-"


def step_token(action: str, change_id: str, kind: str, target_id: str, source: str, dest: str, step: str) -> str:
    raw = f"{action}|{change_id}|{kind}|{target_id}|{source}>{dest}|{step}"
    return PREFIX + hashlib.sha256(raw.encode()).hexdigest()[:40]
