"""The confirmation policy: a small boolean language deciding whether a signal plus the evidence
gathered at decision time is enough to fail over (``FAILOVER_CONFIRM``).

Grammar (keywords are case-insensitive, whitespace is free)::

    expr   := term ("or" term)*
    term   := factor ("and" factor)*
    factor := "not" factor | "(" expr ")" | atom
    atom   := "alarm" | "resource" | "manual" | "probe" | "metric" | "events" ">=" INTEGER

``alarm``    the signal is region-level: a threshold alarm whose rule maps to a region
             (FAILOVER_ALARM_REGION_MAP), or whose dimensions name only a region (a per-region metric);
``resource`` the signal is about one resource: a system event, or a threshold alarm on one
             resource's metric;
``manual``   an operator's manual request;
``probe``    the primary region's EBS control plane failed a probe (timeout, reset, 5xx);
``events>=N`` at least N distinct resources had system events at or above FAILOVER_MIN_LEVEL in
             the primary region within the evidence window;
``metric``   site-monitoring availability is below its threshold.

Evidence can be *unavailable* (throttled, timed out, not configured). An unavailable term is
neither true nor false: the expression is evaluated in three-valued (Kleene) logic, and the decision
is to act only when the expression is true whatever the unavailable terms turn out to be. Missing
evidence therefore never makes a failover happen, and never blocks one the available evidence
already proves (``manual or probe`` acts on ``manual`` with the probe unavailable).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Acts on a manual request; on a region-level alarm with one independent corroboration; on a
#: resource-level signal only with two (a failed probe and several resources in trouble).
DEFAULT_POLICY: Final = "manual or (alarm and (probe or metric or events>=3)) or (resource and probe and events>=5)"
MAX_POLICY_LENGTH: Final = 512
MAX_DEPTH: Final = 32
MAX_EVENTS_THRESHOLD: Final = 100_000

Truth = bool | None  # None: unknown (the evidence behind it is unavailable)
Atom = Literal["alarm", "resource", "manual", "probe", "metric", "events"]


class PolicyError(ValueError):
    """A policy that does not parse. ``position`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(f"{message} at position {position}")


# ----------------------------------------------------------------------------------------- AST
@dataclass(frozen=True)
class Term:
    name: Atom
    threshold: int = 0  # events>=N only

    def __str__(self) -> str:
        return f"events>={self.threshold}" if self.name == "events" else self.name


@dataclass(frozen=True)
class Not:
    operand: Node

    def __str__(self) -> str:
        return f"not {_wrap(self.operand)}"


@dataclass(frozen=True)
class And:
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{_wrap(self.left, Or)} and {_wrap(self.right, Or)}"


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{_wrap(self.left, And)} or {_wrap(self.right, And)}"


Node = Term | Not | And | Or


def _wrap(node: Node, *kinds: type) -> str:
    if isinstance(node, kinds or (And, Or)):
        return f"({node})"
    return str(node)


# -------------------------------------------------------------------------------------- lexer
_TOKEN: Final = re.compile(r"\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>[0-9]+)|(?P<op>>=|\(|\)))")
_ATOMS: Final = frozenset({"alarm", "resource", "manual", "probe", "metric", "events"})
_KEYWORDS: Final = frozenset({"and", "or", "not"})


@dataclass(frozen=True)
class _Tok:
    kind: Literal["word", "num", "op", "end"]
    text: str
    pos: int


def _lex(text: str) -> Iterator[_Tok]:
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            yield _Tok("end", "", pos)
            return
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PolicyError(f"unexpected character {text[pos]!r}", pos)
        start = m.start(m.lastgroup or "op")
        kind = m.lastgroup
        value = m.group(kind or "op")
        if kind == "word":
            yield _Tok("word", value.lower(), start)
        elif kind == "num":
            yield _Tok("num", value, start)
        else:
            yield _Tok("op", value, start)
        pos = m.end()


# ------------------------------------------------------------------------------------- parser
class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_lex(text))
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def _take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr()
        if self.tok.kind != "end":
            raise PolicyError(f"expected 'and', 'or' or the end, got {self.tok.text!r}", self.tok.pos)
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.tok.kind == "word" and self.tok.text == "or":
            self._take()
            node = Or(node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.tok.kind == "word" and self.tok.text == "and":
            self._take()
            node = And(node, self.factor())
        return node

    def factor(self) -> Node:
        tok = self.tok
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise PolicyError(f"nested more than {MAX_DEPTH} deep", tok.pos)
        try:
            if tok.kind == "word" and tok.text == "not":
                self._take()
                return Not(self.factor())
            if tok.kind == "op" and tok.text == "(":
                self._take()
                node = self.expr()
                if self.tok.kind != "op" or self.tok.text != ")":
                    raise PolicyError(f"expected ')' to close the '(' at position {tok.pos}", self.tok.pos)
                self._take()
                return node
            return self.atom()
        finally:
            self.depth -= 1

    def atom(self) -> Node:
        tok = self._take()
        if tok.kind == "end":
            raise PolicyError("expected a term (alarm, resource, manual, probe, metric, events>=N)", tok.pos)
        if tok.kind != "word" or tok.text in _KEYWORDS:
            raise PolicyError(
                f"expected a term (alarm, resource, manual, probe, metric, events>=N), got {tok.text!r}", tok.pos
            )
        if tok.text not in _ATOMS:
            raise PolicyError(
                f"unknown term {tok.text!r} (known: alarm, resource, manual, probe, metric, events>=N)", tok.pos
            )
        if tok.text != "events":
            return Term(tok.text)  # type: ignore[arg-type]
        op = self._take()
        if op.kind != "op" or op.text != ">=":
            raise PolicyError("'events' takes a threshold: events>=N", op.pos)
        num = self._take()
        if num.kind != "num":
            raise PolicyError("expected a whole number after 'events>='", num.pos)
        value = int(num.text)
        if not 1 <= value <= MAX_EVENTS_THRESHOLD:
            raise PolicyError(f"events threshold must be 1..{MAX_EVENTS_THRESHOLD}", num.pos)
        return Term("events", value)


def parse(text: str) -> Node:
    """Parse a policy; raises :class:`PolicyError` naming the position of the first problem."""
    if len(text) > MAX_POLICY_LENGTH:
        raise PolicyError(f"longer than {MAX_POLICY_LENGTH} characters", MAX_POLICY_LENGTH)
    if not text.strip():
        raise PolicyError("empty policy", 0)
    return _Parser(text).parse()


# ---------------------------------------------------------------------------------- evaluation
class Facts(BaseModel):
    """What the decision sees: the signal (always known) and the evidence (None: unavailable)."""

    # built on first use: the module is imported with the configuration, on every cold start
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    alarm: bool = False
    resource: bool = False
    manual: bool = False
    probe: bool | None = None
    metric: bool | None = None
    events: int | None = Field(default=None, ge=0)


def evaluate(node: Node, facts: Facts) -> Truth:
    """Kleene three-valued evaluation: True, False or None (unknown)."""
    if isinstance(node, Term):
        if node.name == "events":
            return None if facts.events is None else facts.events >= node.threshold
        value: Truth = getattr(facts, node.name)
        return value
    if isinstance(node, Not):
        inner = evaluate(node.operand, facts)
        return None if inner is None else not inner
    left = evaluate(node.left, facts)
    right = evaluate(node.right, facts)
    if isinstance(node, And):
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def terms(node: Node) -> tuple[Term, ...]:
    """The distinct atoms of a policy, in order of appearance."""
    if isinstance(node, Term):
        return (node,)
    if isinstance(node, Not):
        return terms(node.operand)
    return tuple(dict.fromkeys((*terms(node.left), *terms(node.right))))


class Decision(BaseModel):
    """The outcome, with what each term of the policy came to (``unavailable`` when unknown)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    act: bool
    value: Literal["true", "false", "unknown"]
    policy: str
    terms: dict[str, Literal["true", "false", "unavailable"]]
    reason: str


def _word(value: Truth) -> Literal["true", "false", "unavailable"]:
    return "unavailable" if value is None else ("true" if value else "false")


class Policy:
    """A parsed policy. Build it at configuration time, so a typo fails the deployment, not the outage."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.root = parse(text)

    def __str__(self) -> str:
        return str(self.root)

    def decide(self, facts: Facts) -> Decision:
        value = evaluate(self.root, facts)
        per_term = {str(t): _word(evaluate(t, facts)) for t in terms(self.root)}
        if value is True:
            reason = "the policy holds on the available evidence"
        elif value is False:
            reason = "the policy does not hold"
        else:
            missing = sorted(k for k, v in per_term.items() if v == "unavailable")
            reason = "the policy could hold only with evidence that is unavailable: " + ", ".join(missing)
        return Decision(
            act=value is True,
            value="unknown" if value is None else ("true" if value else "false"),
            policy=str(self.root),
            terms=per_term,
            reason=reason,
        )
