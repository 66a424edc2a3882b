"""A generic JSON webhook: ``{"text": ...}`` (what Slack incoming webhooks and Lark/Feishu-style
relays read) plus a ``failover`` object with the structured facts, for anything that parses JSON.
Any 2xx answer is success."""

from __future__ import annotations

from typing import Any


def body(text: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"text": text, "failover": data}
