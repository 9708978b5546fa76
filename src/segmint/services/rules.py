"""Use cases of the rule language: check, show SQL/JSON, match and explain.

The only layer that combines a store with the rule engines; the CLI and API call these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from segmint.compile.sql import CompiledQuery, SqlCompiler
from segmint.engine import explain as explain_engine
from segmint.engine import groups
from segmint.engine import match as match_engine
from segmint.errors import ConfigError, NotFoundError
from segmint.rules import CheckedRule, check, from_json, parse, to_json, to_text
from segmint.rules.schema import DEFAULT_SCHEMA, Schema
from segmint.store.base import Store

DIALECTS = ("duckdb", "postgres", "spark")


def check_rule(
    text: str, schema: Schema = DEFAULT_SCHEMA, *, allow_realtime: bool = True
) -> CheckedRule:
    """Parse and type-check a rule; raises a positioned RuleError."""
    return check(parse(text), schema, text=text, allow_realtime=allow_realtime)


def rule_json(text: str, schema: Schema = DEFAULT_SCHEMA) -> dict[str, Any]:
    return to_json(check_rule(text, schema).rule)


def rule_tree(text: str) -> dict[str, Any]:
    """The JSON tree of a rule as written (parsed, not type-checked: a builder shows a
    rule whose field is misspelt too); raises a positioned RuleError."""
    return to_json(parse(text))


def tree_text(tree: object) -> str:
    """The rule text of a JSON tree (validated; a RuleError names the JSON path)."""
    return to_text(from_json(tree))


def rule_sql(
    text: str, dialect: str, now: dt.datetime, schema: Schema = DEFAULT_SCHEMA
) -> CompiledQuery:
    if dialect not in DIALECTS:
        raise ConfigError(f"--dialect: {dialect!r} is not one of {', '.join(DIALECTS)}")
    checked = check_rule(text, schema, allow_realtime=False)
    return SqlCompiler(dialect, schema).compile_match(checked.rule, now)


@dataclass(frozen=True)
class MatchResult:
    count: int
    customers: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "customers": self.customers}


def match(store: Store, text: str, now: dt.datetime, engine: str = "sql") -> MatchResult:
    """Every customer matching the rule at ``now``, sorted by id."""
    if engine not in match_engine.ENGINES:
        raise ConfigError(f"--engine: {engine!r} is not one of {', '.join(match_engine.ENGINES)}")
    store.require_schema()
    checked = check_rule(text, store.rule_schema(), allow_realtime=False)
    ids = match_engine.match(store, checked, now, engine)
    return MatchResult(len(ids), ids)


def explain(
    store: Store, customer_id: str, text: str, now: dt.datetime
) -> explain_engine.Explanation:
    """Why a customer is or is not matched: every sub-expression with its value."""
    store.require_schema()
    schema = store.rule_schema()
    checked = check_rule(text, schema, allow_realtime=False)
    profiles = store.load_profiles([customer_id])
    if customer_id not in profiles:
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    # what IN SEGMENT and user_groups read: memberships, and the groups of the
    # segments among them targetable at `now`
    groups.attach_segments(store, profiles, now)
    return explain_engine.explain(checked.rule, profiles[customer_id], now, schema)
