"""The batched status lookup: "what is this target's status now?" for many workers at once.

Where it sits: event -> incident -> decision -> plan -> **execution** -> result. After an answer that
leaves it open whether the write was applied, the executor looks at the target before it decides
(policy.py); :class:`StatusBoard` coalesces those looks into describes of up to 100 ids. (The look
after a 200 waits for the whole wave of writes and is batched by the executor itself.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from replica_failover.retry import Deadline


class StatusBoard:
    """Answers "what is this target's status now?" for many workers with as few describes as possible.

    After an ambiguous write (504, reset, read timeout) the function looks before it retries: if the
    write was applied the target is done and no retry is sent. In a 504 storm many workers ask at
    once, so askers are coalesced: the first becomes the leader and waits for others to join, then
    describes up to 100 ids of its kind in one call, and every asker in that batch gets the answer.

    How long the leader waits: up to ``window``, but not a moment longer than useful. Workers report
    :meth:`working` (:meth:`enter`/:meth:`leave`) around each target and :meth:`resting` around a backoff, so the leader
    knows how many could still join soon; once every other working thread is asking or resting (the
    end of a run, or a lone straggler) or the batch is full, it goes at once. While the run is paced
    by the API's rate limit the wait costs nothing: the other workers keep the send slots busy (the
    executor runs more threads than API calls in flight).
    """

    BATCH = 100  # the API's limit for PairIds/GroupIds

    def __init__(self, fetch: Callable[[str, list[str]], dict[str, str]], *, window: float = 0.5) -> None:
        self._fetch = fetch  # (kind, ids) -> {id: status}; ids missing from it no longer exist
        self._window = window
        self._lock = threading.Lock()
        # askers wait for answers, a leader waits for askers: separate queues, so the many waiting
        # askers are not woken each time a worker starts or finishes a target
        self._answered = threading.Condition(self._lock)
        self._joined = threading.Condition(self._lock)
        self._wanted: dict[str, set[str]] = {"pair": set(), "group": set()}
        self._answers: dict[tuple[str, str], tuple[int, str | None]] = {}
        self._leading: set[str] = set()
        self._round = 0
        self._active = 0  # threads working on a target
        # of those, threads that will not join a batch soon: inside status(), or in a retry backoff.
        # A set of thread ids, because a leader whose describe backs off is both and counts once.
        self._idle: set[int] = set()
        self.describes = 0

    def enter(self) -> None:
        with self._lock:
            self._active += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            self._joined.notify_all()  # one fewer who could join: a waiting leader may go now

    @contextmanager
    def working(self) -> Iterator[None]:
        """This thread works on a target for the duration: :meth:`enter` and :meth:`leave`, paired."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @contextmanager
    def resting(self) -> Iterator[None]:
        """This thread will not join a batch soon (a retry backoff, or asking already)."""
        me = threading.get_ident()
        with self._lock:
            outer = me not in self._idle
            self._idle.add(me)
            self._joined.notify_all()
        try:
            yield
        finally:
            if outer:
                with self._lock:
                    self._idle.discard(me)

    def status(self, kind: str, rid: str, deadline: Deadline) -> str | None:
        with self.resting():
            return self._status(kind, rid, deadline)

    def _status(self, kind: str, rid: str, deadline: Deadline) -> str | None:
        key = (kind, rid)
        with self._lock:
            self._wanted[kind].add(rid)
            asked_in = self._round  # only an answer from a later round reflects the state after our write
            while True:
                # one worker per target, so an answer is read once: popped, the map stays as small as the batch
                answer = self._answers.pop(key, None)
                if answer is not None and answer[0] > asked_in:
                    return answer[1]
                if kind not in self._leading:
                    self._leading.add(kind)
                    break
                if deadline.remaining() <= 0:
                    raise TimeoutError(f"no status for {kind} {rid} before the deadline")
                self._answered.wait(timeout=min(1.0, deadline.remaining()))
        ids: list[str] = []
        try:
            with self._lock:  # let concurrent askers join, while any could
                until = time.monotonic() + max(0.0, min(self._window, deadline.remaining()))
                while len(self._wanted[kind]) < self.BATCH and len(self._idle) < self._active:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._joined.wait(timeout=left)
                others = sorted(self._wanted[kind] - {rid})[: self.BATCH - 1]
                ids = [rid, *others]
                self._wanted[kind].difference_update(ids)
                self._round += 1
                this_round = self._round
            found = self._fetch(kind, ids)
            self.describes += 1
            with self._lock:
                for i in others:
                    self._answers[(kind, i)] = (this_round, found.get(i))
            return found.get(rid)
        except BaseException:
            with self._lock:  # unanswered askers must still be answered by a later leader
                self._wanted[kind].update(ids)
            raise
        finally:
            with self._lock:
                self._leading.discard(kind)
                self._answered.notify_all()
