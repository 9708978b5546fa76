"""Properties over generated rules and a fuzz of the parser with arbitrary text."""

from __future__ import annotations

import contextlib
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.errors import RuleError
from segmint.rules import ast, check, from_json, parse, to_json, to_text
from strategies import TEST_SCHEMA, rules, token_soup

SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(rules(TEST_SCHEMA))
def test_parse_of_canonical_text_is_the_rule(rule: ast.Rule) -> None:
    text = to_text(rule)
    assert parse(text) == rule
    assert to_text(parse(text)) == text  # canonical: printing is a fixed point


@SETTINGS
@given(rules(TEST_SCHEMA))
def test_json_round_trip(rule: ast.Rule) -> None:
    assert from_json(to_json(rule)) == rule


@SETTINGS
@given(rules(TEST_SCHEMA))
def test_generated_rules_type_check(rule: ast.Rule) -> None:
    text = to_text(rule)
    assert check(parse(text), TEST_SCHEMA, text=text).rule == rule
    assert check(rule, TEST_SCHEMA).rule == rule


@SETTINGS
@given(rules(TEST_SCHEMA, realtime=False))
def test_stored_only_rules_pass_without_realtime(rule: ast.Rule) -> None:
    assert not check(rule, TEST_SCHEMA, allow_realtime=False).realtime


@SETTINGS
@given(rules(TEST_SCHEMA))
def test_every_parsed_node_has_a_span_inside_the_text(rule: ast.Rule) -> None:
    text = to_text(rule)
    for node in ast.walk(parse(text)):
        assert node.span is not None
        assert 0 <= node.span.start < node.span.end <= len(text)


def _only_rule_errors(text: str) -> None:
    start = time.perf_counter()
    try:
        rule = parse(text)
    except RuleError as error:
        assert 0 <= error.start <= len(text)
        str(error)  # renders
    else:
        assert parse(to_text(rule)) == rule  # whatever parses, prints back
        with contextlib.suppress(RuleError):
            check(rule, TEST_SCHEMA, text=text)
    assert time.perf_counter() - start < 10.0  # a hang or a blow-up, not a speed target


@st.composite
def mutated_rules(draw: st.DrawFn) -> str:
    """The canonical text of a valid rule with a few characters deleted, inserted or doubled."""
    text = to_text(draw(rules(TEST_SCHEMA)))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        edit = draw(st.sampled_from(("delete", "insert", "double")))
        if edit == "delete":
            text = text[:i] + text[i + 1 :]
        elif edit == "insert":
            piece = draw(st.sampled_from([*"()',.-#=<>!09aTZ: \n", "AND", "NOT", "WHERE", "²"]))
            text = text[:i] + piece + text[i:]
        else:
            j = draw(st.integers(i, len(text)))
            text = text[:i] + text[i:j] * 2 + text[j:]
    return text


@SETTINGS
@given(mutated_rules())
def test_fuzz_mutated_rules(text: str) -> None:
    _only_rule_errors(text)


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(text: str) -> None:
    _only_rule_errors(text)


@settings(deadline=None, max_examples=400)
@given(token_soup())
def test_fuzz_token_soup(text: str) -> None:
    _only_rule_errors(text)
