"""StatusBoard.working: a target's enter/leave pair holds however the target's work ends.

Threads are joined with a bounded timeout: a board that kept waiting fails the join instead of hanging.
"""

from __future__ import annotations

import contextlib
import threading

from replica_failover.lookup import StatusBoard
from replica_failover.retry import Deadline

JOIN = 10.0
LONG_WINDOW = 600.0  # a leader that waited out its window would fail the join


def test_a_worker_whose_target_raises_still_leaves_and_releases_the_leader() -> None:
    calls: list[list[str]] = []

    def fetch(kind: str, ids: list[str]) -> dict[str, str]:
        calls.append(ids)
        return {"rp-1": "normal"}

    board = StatusBoard(fetch, window=LONG_WINDOW)
    inside, release = threading.Event(), threading.Event()

    def failing_worker() -> None:
        with contextlib.suppress(RuntimeError), board.working():
            inside.set()
            release.wait(JOIN)
            raise RuntimeError("the target's work failed")

    worker = threading.Thread(target=failing_worker, daemon=True)
    worker.start()
    assert inside.wait(JOIN)
    got: list[str | None] = []

    def asker() -> None:
        with board.working():
            got.append(board.status("pair", "rp-1", Deadline.after(LONG_WINDOW)))

    leader = threading.Thread(target=asker, daemon=True)
    leader.start()
    # the leader waits for the other working thread, which could still ask; it ends by raising
    release.set()
    leader.join(JOIN)
    worker.join(JOIN)
    assert not leader.is_alive() and not worker.is_alive()
    assert got == ["normal"] and calls == [["rp-1"]]
