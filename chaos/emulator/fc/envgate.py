"""Per-invocation ``os.environ``: a reader/writer gate keyed by the whole environment mapping.

Handlers share one process, so ``os.environ`` is swapped per invocation: holders of the same
mapping run together, a different mapping waits until they all leave. A handler that
synchronously invokes a function with a *different* environment therefore waits until its
caller times out.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping


class EnvGate:
    """Reader/writer gate over ``os.environ`` keyed by the whole environment mapping.

    Holders of the same mapping run together; a different mapping waits until they all leave.
    FIFO between mappings: a newcomer does not join the running group while an older waiter
    needs a different mapping, so a stream of same-env calls cannot starve another function.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tickets = itertools.count()
        self._waiting: list[tuple[int, frozenset[tuple[str, str]]]] = []  # in ticket order
        self._current: frozenset[tuple[str, str]] | None = None
        self._active = 0
        self._saved: dict[str, str | None] = {}

    def _may_enter(self, ticket: int, key: frozenset[tuple[str, str]]) -> bool:
        if self._active == 0:
            return self._waiting[0][1] == key
        if self._current != key:
            return False
        return all(k == key for t, k in self._waiting if t < ticket)

    def acquire(self, env: Mapping[str, str], timeout: float | None = None) -> bool:
        key = frozenset(env.items())
        with self._cond:
            entry = (next(self._tickets), key)
            self._waiting.append(entry)
            try:
                if not self._cond.wait_for(lambda: self._may_enter(entry[0], key), timeout):
                    return False
                if self._active == 0:
                    self._saved = {name: os.environ.get(name) for name in env}
                    os.environ.update(env)
                    self._current = key
                self._active += 1
                return True
            finally:
                self._waiting.remove(entry)
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                for name, value in self._saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
                self._saved, self._current = {}, None
            self._cond.notify_all()

