"""Keeping credentials out of every output: logs, results, FC error bodies.

Three nets, because each misses something the others catch:

* **by key name** - a mapping entry whose key looks like a secret (``accessKeySecret``,
  ``x-fc-security-token``, ``authorization`` ...) is masked whatever its value;
* **by pattern** - signed-request text the SDKs put in exception messages and logs: the query
  parameters ``SecurityToken=``, ``Signature=``, ``AccessKeyId=``, ``AccessKeySecret=`` and ACS3's
  ``Credential=`` (also URL-encoded once or twice, as in a string-to-sign echo: ``SecurityToken%3D``),
  and the credential headers ``x-fc-security-token``, ``x-acs-security-token``,
  ``x-fc-access-key-secret``, ``authorization`` in header dumps and dict reprs;
* **by value** - the literal credential values this process holds (:func:`register`, plus the current
  values of the environment variables named in :func:`register_env`), raw and in their URL- and
  JSON-encoded forms, wherever they turn up.

Stdlib only and cheap when there is nothing to find: the value check is a substring search per form
and the pattern check one regex search, so a multi-megabyte log line is scanned without being copied.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# shorter values would mask ordinary words; no access key, secret or token is this short
MIN_VALUE_LENGTH = 8
SECRET_ENV = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN")

_SECRET_KEY_HINTS = ("secret", "password", "securitytoken", "security_token", "signature", "authorization")
_SECRET_KEYS = frozenset({"x_fc_access_key_secret", "x_fc_security_token", "x_acs_security_token", "credential"})

# key=value in a query, form body or string-to-sign; the separator may be percent-encoded once or twice.
# The value stops at the next parameter (&, %26, %2526), whitespace, a quote, a backslash (a JSON escape)
# or a structural character, so a JSON line stays valid after the substitution.
_PARAM = re.compile(
    r"(?i)(?:(?<![A-Za-z0-9_])|(?<=%[0-9A-F]{2}))(?P<key>SecurityToken|Signature|AccessKeyId|AccessKeySecret|Credential)"
    r"(?P<sep>=|%3D|%253D)(?P<value>(?:(?!%26|%2526)[^&\s'\"\\,;<>(){}\[\]])+)"
)
# header: value / 'header': 'value' / "header":"value"; a quoted value ends at its quote, a bare one at
# the end of the token (an auth scheme such as "FC " or "ACS3-HMAC-SHA256 " is taken along)
_HEADER = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])(?P<key>x-fc-security-token|x-acs-security-token|x-fc-access-key-secret"
    r"|x-fc-access-key-id|x-acs-accesskey-id|authorization|access_?key_?secret|security_?token|webhook_?secret)"
    r"(?P<mid>['\"]?\s*[:=]\s*)"
    r"(?:(?P<q>['\"])(?P<quoted>[^'\"\\\r\n]*)(?P=q)|(?P<bare>(?:[A-Za-z0-9-]+ +)?[^\s'\"\\,;&<>(){}\[\]]+))"
)

# every key _PARAM and _HEADER know contains one of these: a cheap gate before the regexes, which
# (case-insensitive alternations) cost ~30 ms a megabyte where the gate costs ~2
_HINTS = ("security", "signature", "access", "credential", "authorization", "secret")
_CHUNK = 1 << 16


class _Registry:
    """The secret values and variable names; their encoded forms are rebuilt only when one changes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: set[str] = set()
        self.env_names: list[str] = ["WEBHOOK_SECRET", *SECRET_ENV]
        self.generation = 0
        self.cache: tuple[tuple[Any, ...], tuple[str, ...]] = ((), ())

    def forms(self) -> tuple[str, ...]:
        """Every form of every secret value, longest first (a value inside another goes with it)."""
        env_values = tuple(os.environ.get(name) for name in self.env_names)
        key = (self.generation, env_values)
        cached_key, forms = self.cache
        if cached_key == key:
            return forms
        with self.lock:
            values = set(self.values)
        values.update(v for v in env_values if v and len(v) >= MIN_VALUE_LENGTH)
        every: set[str] = set()
        for value in values:
            once = quote(value, safe="")
            every |= {value, once, quote(once, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
        forms = tuple(sorted(every, key=len, reverse=True))
        self.cache = (key, forms)
        return forms


_REGISTRY = _Registry()


def register(*values: str | None) -> None:
    """Values this process holds that must never be output (keys, secrets, tokens). Idempotent."""
    fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_VALUE_LENGTH} - _REGISTRY.values
    if fresh:
        with _REGISTRY.lock:
            _REGISTRY.values.update(fresh)
            _REGISTRY.generation += 1


def register_env(*names: str) -> None:
    """Environment variables whose *current* value is a secret (WEBHOOK_SECRET and the ALIBABA_CLOUD_*
    keys are registered already): read at each check, so a rotated value is covered without a restart."""
    with _REGISTRY.lock:
        for name in names:
            if name not in _REGISTRY.env_names:
                _REGISTRY.env_names.append(name)
                _REGISTRY.generation += 1


# --------------------------------------------------------------------------------------------------
# redaction


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (its value is masked whatever it is)."""
    k = key.lower().replace("-", "_")
    return k in _SECRET_KEYS or k == "webhook_secret" or any(h in k for h in _SECRET_KEY_HINTS)


def _header_sub(m: re.Match[str]) -> str:
    if m.group("q"):
        return f"{m.group('key')}{m.group('mid')}{m.group('q')}{MASK}{m.group('q')}"
    return f"{m.group('key')}{m.group('mid')}{MASK}"


def redact_text(text: str) -> str:
    """``text`` with every secret masked; the very same object when there is none."""
    out = text
    for form in _REGISTRY.forms():
        if form in out:
            out = out.replace(form, MASK)
    if not _may_name_a_secret(out):
        return out
    if _PARAM.search(out):
        out = _PARAM.sub(lambda m: f"{m.group('key')}{m.group('sep')}{MASK}", out)
    if _HEADER.search(out):
        out = _HEADER.sub(_header_sub, out)
    return out


def _may_name_a_secret(text: str) -> bool:
    """Whether a pattern could match: a hint word, any case. Lower-cased a chunk at a time, so a
    multi-megabyte line is never copied whole."""
    overlap = max(map(len, _HINTS)) - 1
    for start in range(0, len(text), _CHUNK):
        chunk = text[max(0, start - overlap) : start + _CHUNK].lower()
        if any(hint in chunk for hint in _HINTS):
            return True
    return False


def has_secret_key(value: Any) -> bool:
    """Whether a JSON-able structure holds a secret-named key anywhere (no string is scanned)."""
    if isinstance(value, dict):
        return any(is_secret_key(str(k)) or has_secret_key(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_secret_key(v) for v in value)
    return False


def mask_keys(value: Any) -> Any:
    """A copy of a JSON-able structure with secret-named keys' values masked; strings untouched."""
    if isinstance(value, dict):
        return {k: (MASK if is_secret_key(str(k)) else mask_keys(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_keys(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """A JSON-able structure redacted by key, value and pattern (strings, keys and nested containers)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            redact_text(str(k)) if isinstance(k, str) else k: (MASK if is_secret_key(str(k)) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of a redacted ``value``: key names first (copying only when one is found), then
    values and patterns on the text, which the substitution keeps valid JSON."""
    safe = mask_keys(value) if has_secret_key(value) else value
    return redact_text(json.dumps(safe, **kwargs))


# --------------------------------------------------------------------------------------------------
# logging


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, exception text and stack before any handler formats it.

    Never drops a record. Marks what it has done, so a record passing several filters is scanned once.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: the handler reports that itself; mask the raw parts
            message = None
        if message is not None:
            clean = redact_text(message)
            if clean is not message:
                record.msg, record.args = clean, None
        else:
            record.msg = redact_text(str(record.msg))
            record.args = tuple(redact_text(str(a)) for a in record.args or ())
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._redacted = True
        return True


_FILTER = RedactingFilter()


def install_logging(extra_loggers: Iterable[str] = ()) -> RedactingFilter:
    """Redact every log record this process writes, whoever logs it and whichever handler writes it.

    A filter on the root logger sees only records logged on the root itself (``fc2`` logs that way);
    records of ``aliyunsdkcore.client`` or ``urllib3`` propagate to the root's *handlers* without
    passing the root's filters, and handlers added later (FC's runtime, a test's capture) would be
    missed. So the filter goes on the root logger and its handlers, and the log-record factory runs it
    on every record as it is made. Idempotent.
    """
    root = logging.getLogger()
    for target in [root, *root.handlers, *(logging.getLogger(n) for n in extra_loggers)]:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
    with _REGISTRY.lock:
        make_record = logging.getLogRecordFactory()
        if getattr(make_record, "redacting", False):
            return _FILTER

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            _FILTER.filter(record)
            return record

        redacting_factory.redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(redacting_factory)
    return _FILTER
