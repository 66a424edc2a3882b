"""Task ids of an incident's batches: ``rf-<sha256(incident key)[:16]>-w<batches>-b<index>``.

Valid FC task-id syntax (a letter first, then letters, digits, ``-``; at most 128 characters) and
derived from nothing but the incident key, the number of batches and the batch index, so the same
split of the same incident always has the same ids.
"""

from __future__ import annotations

import hashlib
from typing import Final

# a batch event stays far below FC's 128 KB async payload limit (about 30 bytes an id)
MAX_BATCH_TARGETS: Final = 2000


def incident_prefix(incident_key: str) -> str:
    """The task-id prefix shared by every batch of one incident (what a status query lists)."""
    return f"rf-{hashlib.sha256(incident_key.encode()).hexdigest()[:16]}-"


def task_id(incident_key: str, batches: int, index: int) -> str:
    return f"{incident_prefix(incident_key)}w{batches}-b{index}"
