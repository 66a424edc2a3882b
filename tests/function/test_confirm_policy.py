"""The FAILOVER_CONFIRM language: parsing, config-time errors, three-valued decisions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replica_failover.confirm.policy import (
    DEFAULT_POLICY,
    Facts,
    Node,
    Policy,
    PolicyError,
    Term,
    evaluate,
    parse,
    terms,
)


def test_default_policy_round_trips_and_reads_as_documented() -> None:
    p = Policy(DEFAULT_POLICY)
    assert str(p) == "manual or (alarm and (probe or metric or events>=3)) or (resource and probe and events>=5)"
    assert str(Policy(str(p))) == str(p)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("alarm and", 9, "expected a term"),
        ("alarm & probe", 6, "unexpected character '&'"),
        ("events>=0", 8, "threshold must be"),
        ("(alarm or probe", 15, "expected ')' to close the '(' at position 0"),
        ("alarm probe", 6, "expected 'and', 'or' or the end"),
        ("alarm and prob", 10, "unknown term 'prob'"),
        ("events 5", 7, "events>=N"),
        ("events>=x", 8, "whole number"),
        ("   ", 0, "empty policy"),
        ("alarm or or probe", 9, "got 'or'"),
        ("not", 3, "expected a term"),
        ("__import__('os')", 11, "unexpected character"),
        ("(" * 40 + "alarm" + ")" * 40, 32, "nested more than"),
    ],
)
def test_errors_name_the_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text)
    assert info.value.position == position
    assert fragment in str(info.value)
    assert f"at position {position}" in str(info.value)


def test_keywords_are_case_insensitive_and_precedence_is_and_over_or() -> None:
    node = parse("MANUAL Or Alarm AND not probe")
    assert str(node) == "manual or (alarm and not probe)"
    assert evaluate(node, Facts(alarm=True, probe=False)) is True
    assert evaluate(node, Facts(alarm=True, probe=True)) is False
    assert evaluate(parse("(manual or alarm) and probe"), Facts(manual=True, probe=False)) is False


def test_alarm_alone_acts_on_alarm() -> None:
    assert Policy("alarm").decide(Facts(alarm=True)).act
    assert not Policy("alarm").decide(Facts(resource=True)).act


def test_unavailable_evidence_is_neither_true_nor_false() -> None:
    p = Policy("alarm and probe")
    d = p.decide(Facts(alarm=True, probe=None))
    assert (d.act, d.value, d.terms["probe"]) == (False, "unknown", "unavailable")
    assert "probe" in d.reason
    # not unknown is still unknown: missing evidence cannot be turned into a failover by negation
    assert not Policy("alarm and not probe").decide(Facts(alarm=True)).act
    # an unknown term does not block what the known ones prove
    assert Policy("manual or probe").decide(Facts(manual=True)).act
    assert Policy("alarm and (probe or events>=2)").decide(Facts(alarm=True, events=2)).act


def test_default_policy_cases() -> None:
    p = Policy(DEFAULT_POLICY)
    assert p.decide(Facts(manual=True)).act
    assert not p.decide(Facts(alarm=True)).act
    assert p.decide(Facts(alarm=True, probe=True)).act
    assert p.decide(Facts(alarm=True, events=3)).act
    assert not p.decide(Facts(alarm=True, events=2, probe=False, metric=False)).act
    assert p.decide(Facts(alarm=True, metric=True)).act
    assert not p.decide(Facts(resource=True, probe=True, events=4)).act
    assert p.decide(Facts(resource=True, probe=True, events=5)).act
    assert not p.decide(Facts(resource=True, events=500)).act


# ------------------------------------------------------------------------------ properties
_ATOM_NAMES = ("alarm", "resource", "manual", "probe", "metric")
policies: st.SearchStrategy[str] = st.recursive(
    st.one_of(st.sampled_from(_ATOM_NAMES), st.integers(1, 8).map(lambda n: f"events>={n}")),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"({t[0]} and {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} or {t[1]})"),
        inner.map(lambda t: f"not {t}"),
    ),
    max_leaves=8,
)
facts = st.builds(
    Facts,
    alarm=st.booleans(),
    resource=st.booleans(),
    manual=st.booleans(),
    probe=st.one_of(st.none(), st.booleans()),
    metric=st.one_of(st.none(), st.booleans()),
    events=st.one_of(st.none(), st.integers(0, 10)),
)


def _resolutions(f: Facts, node: Node) -> list[Facts]:
    """Every way the unavailable terms could turn out (events: each distinct threshold outcome)."""
    thresholds = sorted({t.threshold for t in terms(node) if t.name == "events"})
    events_options = [f.events] if f.events is not None else [0, *thresholds, 10**6]
    probe_options = [f.probe] if f.probe is not None else [False, True]
    metric_options = [f.metric] if f.metric is not None else [False, True]
    return [
        f.model_copy(update={"probe": p, "metric": m, "events": e})
        for p, m, e in itertools.product(probe_options, metric_options, events_options)
    ]


@settings(max_examples=400, deadline=None)
@given(policies, facts)
def test_act_implies_true_under_every_resolution(text: str, f: Facts) -> None:
    policy = Policy(text)
    decision = policy.decide(f)
    outcomes = {evaluate(policy.root, r) for r in _resolutions(f, policy.root)}
    assert None not in outcomes
    if decision.act:
        assert outcomes == {True}
    # and the converse: if every resolution is true, Kleene logic may still say unknown (x or not x),
    # but an expression known false is false under every resolution
    if decision.value == "false":
        assert outcomes == {False}
    # the printed form parses back to the same meaning
    assert evaluate(parse(str(policy)), f) == evaluate(policy.root, f)


@settings(max_examples=300, deadline=None)
@given(facts)
def test_resource_alone_never_acts_under_the_default(f: Facts) -> None:
    f = f.model_copy(update={"alarm": False, "manual": False, "resource": True})
    # "alone": without both corroborations the default policy asks of a resource-level signal
    if f.probe is True and f.events is not None and f.events >= 5:
        f = f.model_copy(update={"events": 4})
    assert not Policy(DEFAULT_POLICY).decide(f).act


@settings(max_examples=300, deadline=None)
@given(facts)
def test_default_region_alarm_needs_a_corroboration(f: Facts) -> None:
    f = f.model_copy(update={"alarm": True, "manual": False, "resource": False})
    corroborated = f.probe is True or f.metric is True or (f.events is not None and f.events >= 3)
    assert Policy(DEFAULT_POLICY).decide(f).act == corroborated


def test_terms_lists_each_atom_once() -> None:
    assert terms(parse("alarm and (alarm or events>=2 or events>=2)")) == (Term("alarm"), Term("events", 2))
