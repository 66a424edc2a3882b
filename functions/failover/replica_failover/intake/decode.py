"""Untrusted bytes or text -> a checked JSON object.

Accepts JSON, form-encoded text and base64 of either; bounds size, nesting depth, node count and key
length before anything reads a field; rejects repeated JSON keys and form fields. Raises
:class:`~replica_failover.errors.EventError` for everything it refuses.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

from replica_failover.errors import (
    BAD_ENCODING,
    INVALID_FIELD,
    MALFORMED_JSON,
    TOO_DEEP,
    TOO_LARGE,
    UNKNOWN_SHAPE,
    EventError,
)

# Structural limits. Real payloads are ~2 KB and at most ~5 levels deep (envelope > data > content).
MAX_DEPTH: Final = 16
MAX_NODES: Final = 5_000
MAX_KEY_LEN: Final = 256
MAX_FORM_FIELDS: Final = 256
MAX_UNWRAP: Final = 3  # base64 / envelope layers decoded before we give up

_BASE64_RE: Final = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
# A backslash pair, a quote or a bracket: enough to measure JSON nesting without recursing.
_JSON_TOKENS: Final = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def load(raw: object, limit: int) -> dict[str, Any]:
    """An invocation payload (mapping, bytes or text) of at most ``limit`` bytes -> a checked JSON object."""
    if isinstance(raw, Mapping):
        check_tree(raw, limit)
        return dict(raw)
    if isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
        # size first: never spend parse time on an oversized body
        if len(data) > limit:
            raise EventError(TOO_LARGE, f"payload is {len(data)} bytes; the limit is {limit}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError(BAD_ENCODING, "payload is not valid UTF-8") from None
    elif isinstance(raw, str):
        if len(raw) > limit:  # each character is at least one byte
            raise EventError(TOO_LARGE, f"payload is over {limit} bytes")
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:
            raise EventError(BAD_ENCODING, "payload is not valid UTF-8 text") from None
        if size > limit:
            raise EventError(TOO_LARGE, f"payload is {size} bytes; the limit is {limit}")
        text = raw
    else:
        raise EventError(UNKNOWN_SHAPE, f"unsupported payload type {type(raw).__name__}")
    return decode_text(text, limit, layers=0)


def decode_text(text: str, limit: int, *, layers: int) -> dict[str, Any]:
    """JSON, form-encoded or base64 text -> a checked JSON object."""
    body = text.strip().lstrip("\ufeff").strip()
    if not body:
        raise EventError(MALFORMED_JSON, "payload is empty")
    parsed: object
    if body[0] in '{["':
        parsed = parse_json(body)
    elif _looks_base64(body):
        if layers >= MAX_UNWRAP:
            raise EventError(TOO_DEEP, "too many nested encodings")
        try:
            decoded = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise EventError(BAD_ENCODING, "base64 payload does not decode to UTF-8 text") from None
        return decode_text(decoded, limit, layers=layers + 1)
    elif "=" in body:
        parsed = parse_form(body)
    else:
        try:  # a bare JSON scalar (number, true, null) is valid JSON of the wrong shape
            parsed = loads(body)
        except ValueError:
            raise EventError(MALFORMED_JSON, "payload is neither JSON, form-encoded nor base64") from None
    # depth and size first: whether json.loads itself gives up on deep nesting (RecursionError) depends
    # on the Python version (3.11 does at ~5,000 levels, 3.13 does not), the answer here must not
    check_tree(parsed, limit)
    if not isinstance(parsed, dict):
        raise EventError(UNKNOWN_SHAPE, f"expected a JSON object, got {json_type(parsed)}")
    return parsed


def _looks_base64(body: str) -> bool:
    compact = "".join(body.split())
    return len(compact) >= 8 and len(compact) % 4 == 0 and _BASE64_RE.fullmatch(compact) is not None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: str) -> object:
    """:func:`loads`, with every refusal as an EventError."""
    try:
        return loads(body)
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, int digit limit
        raise EventError(MALFORMED_JSON, f"invalid JSON: {str(exc)[:120]}") from None


def loads(text: str) -> object:
    """json.loads for untrusted text: depth measured first, repeated keys rejected, NaN refused.

    Raises EventError for depth and repeated keys, ValueError for anything else json rejects.
    """
    _check_json_depth(text)
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except RecursionError:  # not reachable after the depth check; kept as a backstop
        raise EventError(TOO_DEEP, "JSON is nested too deeply") from None


def _check_json_depth(text: str) -> None:
    # json.loads recurses once per level and, depending on the Python version, either raises
    # RecursionError or keeps going; the answer must not depend on that, so measure the depth first.
    depth = 0
    in_string = False
    for match in _JSON_TOKENS.finditer(text):
        piece = match.group()
        if piece == '"':
            in_string = not in_string
        elif in_string or len(piece) == 2:  # inside a string, or an escape pair
            continue
        elif piece in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise EventError(TOO_DEEP, f"JSON is nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # last-wins would let a second region or state hide behind the first one a reviewer reads
            raise EventError(INVALID_FIELD, f"JSON key {quote(key)} appears more than once")
        out[key] = value
    return out


def parse_form(body: str) -> dict[str, str]:
    """``a=1&b=2`` -> a dict; repeated fields and more than MAX_FORM_FIELDS fields are refused."""
    try:
        pairs = urllib.parse.parse_qsl(
            body, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except UnicodeDecodeError:
        raise EventError(BAD_ENCODING, "form field is not valid UTF-8 after percent-decoding") from None
    except ValueError:
        raise EventError(TOO_LARGE, f"form body has more than {MAX_FORM_FIELDS} fields") from None
    if not pairs:
        raise EventError(MALFORMED_JSON, "form-encoded body has no fields")
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            # an ambiguous duplicate could smuggle a second region or state past a reviewer
            raise EventError(INVALID_FIELD, f"form field {quote(key)} appears more than once")
        out[key] = value
    return out


def json_type(value: object) -> str:
    """How an error message names the JSON type of ``value``."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def quote(value: str, limit: int = 48) -> str:
    """``value`` quoted and cut short for an error message."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def check_tree(root: object, limit: int) -> None:
    """Bound depth, node count, key length and total text of a decoded payload (iteratively)."""
    stack: list[tuple[object, int]] = [(root, 1)]
    nodes = 0
    chars = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise EventError(TOO_LARGE, f"payload has more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise EventError(TOO_DEEP, f"payload is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise EventError(INVALID_FIELD, "object keys must be strings")
                if len(key) > MAX_KEY_LEN:
                    raise EventError(INVALID_FIELD, f"an object key is longer than {MAX_KEY_LEN} characters")
                chars += len(key)
                stack.append((value, depth + 1))
        elif isinstance(node, list | tuple):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            chars += len(node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise EventError(INVALID_FIELD, "non-finite number")
        elif node is not None and not isinstance(node, int):  # bool is an int
            raise EventError(INVALID_FIELD, f"unsupported value type {type(node).__name__}")
        if chars > limit:
            raise EventError(TOO_LARGE, f"payload text exceeds {limit} characters")
