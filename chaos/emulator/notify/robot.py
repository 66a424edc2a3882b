"""The DingTalk custom robot's answers: message validation and its documented error codes.

Every answer is HTTP 200 with ``{"errcode", "errmsg"}``; ``errcode`` 0 means accepted.
"""

from __future__ import annotations

from typing import Any

HELP = "more: [https://open.dingtalk.com/document/robots/custom-robot-access]"

# errcode -> errmsg
OK = (0, "ok")
TOKEN_NOT_EXIST = (300001, "token is not exist")
BAD_SIGN = (310000, f"sign not match, {HELP}")
BAD_TIMESTAMP = (310000, f"invalid timestamp, {HELP}")
NO_KEYWORD = (310000, f"keywords not in content, {HELP}")
TOO_FAST = (130101, "send too fast, exceed 20 times per minute")
BAD_PAYLOAD = (40035, "缺少参数 json")
NEED_POST = (43002, "需要POST请求")

# msgtype -> fields its object must carry (strings, except feedCard's list of links)
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("content",),
    "markdown": ("title", "text"),
    "link": ("title", "text", "messageUrl"),
    "actionCard": ("title", "text"),
    "feedCard": ("links",),
}


def message_text(body: Any) -> str | None:
    """The text a well-formed message shows (for the keyword check), or None when malformed."""
    if not isinstance(body, dict):
        return None
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in REQUIRED_FIELDS:
        return None
    payload = body.get(msgtype)
    if not isinstance(payload, dict):
        return None
    for name in REQUIRED_FIELDS[msgtype]:
        value = payload.get(name)
        if name == "links":
            if not isinstance(value, list) or not value:
                return None
        elif not isinstance(value, str) or not value:
            return None
    if msgtype == "feedCard":
        return " ".join(str(link.get("title", "")) for link in payload["links"] if isinstance(link, dict))
    return " ".join(str(payload.get(k, "")) for k in ("title", "text", "content"))
