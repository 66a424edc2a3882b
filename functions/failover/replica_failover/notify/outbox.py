"""One invocation's notifications: sent to every configured channel within the time left, never
raising, each kept as a :class:`~replica_failover.notify.send.NotificationRecord` for the result."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from replica_failover.config import Secrets
from replica_failover.notify.messages import Message
from replica_failover.notify.send import DEFAULT_TIMEOUT, NotificationRecord, notify_all

# what a send may take at most of the time left before the invocation's deadline
RESERVE_SECONDS: Final = 0.5
MIN_TIMEOUT: Final = 0.2


class Outbox:
    def __init__(self, secrets: Secrets, deadline_at: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._secrets = secrets
        self._deadline_at = deadline_at
        self._clock = clock
        self.records: list[NotificationRecord] = []

    @property
    def configured(self) -> bool:
        return bool(self._secrets.dingtalk_url or self._secrets.webhook_url)

    def send(self, message: Message) -> list[NotificationRecord]:
        """Send ``message`` to each configured channel; bounded by the time left, never raises."""
        if not self.configured:
            return []
        left = self._deadline_at - self._clock() - RESERVE_SECONDS
        timeout = max(MIN_TIMEOUT, min(DEFAULT_TIMEOUT, left))
        records = notify_all(
            message,
            dingtalk_url=self._secrets.dingtalk_url,
            dingtalk_secret=self._secrets.dingtalk_secret,
            webhook_url=self._secrets.webhook_url,
            timeout=timeout,
        )
        self.records.extend(records)
        return records

    def dump(self) -> list[dict[str, object]]:
        return [r.model_dump(mode="json", by_alias=True) for r in self.records]
