"""Telling people what the function decided and did: a DingTalk custom robot and a generic JSON
webhook (Slack/Lark-compatible ``text``). Stdlib HTTP only, bounded in time, never raising."""
