"""Explain a rule for one customer: every sub-expression, its value, and a sentence.

Like datasette's filters, each condition renders both its canonical text and a human
sentence built from the values that decided it ("total spent is 412.50, which is at
least 300"). Values come from the Python engine, so explain agrees with ``match``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from segmint.compile.python import evaluate_node
from segmint.model.profile import Profile, RequestContext
from segmint.rules import ast as A
from segmint.rules.printer import to_text
from segmint.rules.schema import DERIVED_FIELDS, Schema

_OP_WORDS = {
    "=": "equal to",
    "!=": "different from",
    "<": "less than",
    "<=": "at most",
    ">": "more than",
    ">=": "at least",
}
_AGG_WORDS = {
    "COUNT": "number of {c}",
    "SUM": "sum of {f} over {c}",
    "AVG": "average {f} over {c}",
    "MIN": "smallest {f} of {c}",
    "MAX": "largest {f} of {c}",
    "EXISTS": "{c} found",
}


@dataclass(frozen=True)
class ExplainStep:
    """One sub-expression: its depth in the tree, canonical text, value and sentence."""

    depth: int
    text: str
    value: bool
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "text": self.text,
            "value": self.value,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class Explanation:
    customer_id: str
    now: dt.datetime
    rule: str
    result: bool
    steps: list[ExplainStep] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "as_of": self.now.isoformat().replace("+00:00", "Z"),
            "rule": self.rule,
            "result": self.result,
            "steps": [s.to_dict() for s in self.steps],
        }

    def render(self) -> str:
        verdict = "MATCHES" if self.result else "does NOT match"
        head = (
            f"customer {self.customer_id} {verdict} as of "
            f"{self.now.isoformat().replace('+00:00', 'Z')}"
        )
        lines = [head, ""]
        for step in self.steps:
            mark = "yes" if step.value else "no "
            indent = "  " * step.depth
            lines.append(f"{indent}[{mark}] {step.text}")
            lines.append(f"{indent}      {step.sentence}")
        return "\n".join(lines)


def show(value: Any) -> str:
    """A value as a marketer reads it."""
    if value is None:
        return "empty (no value)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        normal = value.normalize()
        if normal == normal.to_integral_value():
            return f"{normal:,.0f}"
        exponent = normal.as_tuple().exponent
        # money reads with at least two decimals, but exact digits are never dropped
        if isinstance(exponent, int) and exponent > -2:
            normal = normal.quantize(Decimal("0.01"))
        return f"{normal:,f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]" if value else "an empty list"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def describe(node: A.Value) -> str:
    """A value expression in words: ``total_spent`` -> "total spent"."""
    match node:
        case A.Path(parts):
            if parts[0] == "attributes" and len(parts) == 2:
                return f"attribute '{parts[1]}'"
            return " ".join(p.replace("_", " ") for p in parts)
        case A.Aggregate(func, _, fld, where):
            collection = ".".join(node.collection)
            if where is not None:
                collection += f" (where {to_text(where)})"
            return " ".join(_AGG_WORDS[func].format(c=collection, f=fld or "").split())
        case A.RelativeTime(None):
            return "now"
        case A.RelativeTime(ago) if ago is not None:
            return f"{ago.amount}{ago.unit} ago"
        case A.Literal(value):
            return show(value)
    raise TypeError(f"cannot describe {type(node).__name__}")


class _Explainer:
    def __init__(
        self, profile: Profile, now: dt.datetime, schema: Schema, context: RequestContext | None
    ) -> None:
        self.profile = profile
        self.now = now
        self.schema = schema
        self.context = context
        self.steps: list[ExplainStep] = []

    def value(self, node: A.Value) -> Any:
        return evaluate_node(node, self.profile, self.now, self.schema, self.context)

    def value_phrase(self, node: A.Value) -> str:
        if isinstance(node, A.Literal):
            return describe(node)
        shown = show(self.value(node))
        if isinstance(node, A.RelativeTime):
            return f"{describe(node)} ({shown})"
        phrase = f"{describe(node)} is {shown}"
        if isinstance(node, A.Aggregate) and node.where is not None:
            total = self.value(A.Aggregate("COUNT", node.collection))
            matching = self.value(A.Aggregate("COUNT", node.collection, where=node.where))
            phrase += f" ({matching} of {total} {'.'.join(node.collection)} match the WHERE)"
        elif isinstance(node, A.Path) and node.parts[0] in DERIVED_FIELDS:
            phrase += " (derived from successful orders)"
        elif isinstance(node, A.Path) and node.parts == ("user_groups",):
            inherited = ", ".join(f"'{g}'" for g in self.profile.inherited_groups) or "none"
            phrase += f" (explicit, and inherited from targetable segments: {inherited})"
        return phrase

    def visit(self, rule: A.Rule, depth: int) -> bool:
        slot = len(self.steps)
        self.steps.append(ExplainStep(depth, "", False, ""))  # placeholder keeps pre-order
        result, sentence = self.sentence(rule, depth)
        self.steps[slot] = ExplainStep(depth, to_text(rule), result, sentence)
        return result

    def sentence(self, rule: A.Rule, depth: int) -> tuple[bool, str]:
        match rule:
            case A.And(items):
                results = [self.visit(item, depth + 1) for item in items]
                held = sum(results)
                return all(results), f"all must hold: {held} of {len(items)} do"
            case A.Or(items):
                results = [self.visit(item, depth + 1) for item in items]
                held = sum(results)
                return any(results), f"any one must hold: {held} of {len(items)} do"
            case A.Not(operand):
                inner = self.visit(operand, depth + 1)
                if inner:
                    return False, "the condition below holds, so NOT makes this fail"
                return True, "the condition below does not hold, so NOT makes this hold"
        result = bool(self.value_of_rule(rule))
        return result, self.leaf_sentence(rule, result)

    def value_of_rule(self, rule: A.Rule) -> bool:
        return bool(evaluate_node(rule, self.profile, self.now, self.schema, self.context))

    def leaf_sentence(self, rule: A.Rule, result: bool) -> str:
        verdict = "so it holds" if result else "so it does not hold"
        match rule:
            case A.Compare(op, left, right):
                return (
                    f"{self.value_phrase(left)}; must be {_OP_WORDS[op]} "
                    f"{self.value_phrase(right)}: {verdict}"
                )
            case A.Between(value, low, high, negated):
                neg = "not " if negated else ""
                return (
                    f"{self.value_phrase(value)}; must {neg}be between "
                    f"{self.value_phrase(low)} and {self.value_phrase(high)}: {verdict}"
                )
            case A.InList(value, items, negated):
                options = ", ".join(describe(i) for i in items)
                neg = "not " if negated else ""
                return f"{self.value_phrase(value)}; must {neg}be one of {options}: {verdict}"
            case A.IsNull(value, negated):
                want = "have a value" if negated else "be empty"
                return f"{self.value_phrase(value)}; must {want}: {verdict}"
            case A.TextMatch(op, value, pattern, negated):
                neg = "not " if negated else ""
                return (
                    f"{self.value_phrase(value)}; must {neg}{op.lower()} "
                    f"{self.value_phrase(pattern)}: {verdict}"
                )
            case A.Within(value, duration, negated):
                neg = "not " if negated else ""
                return (
                    f"{self.value_phrase(value)}; must {neg}be within the last "
                    f"{duration.amount}{duration.unit}: {verdict}"
                )
            case A.InSegment(code):
                segments = ", ".join(sorted(self.profile.segments)) or "none"
                return f"member of segment '{code}'? current segments: {segments}: {verdict}"
            case A.BoolTest(value):
                return f"{self.value_phrase(value)}: {verdict}"
        raise TypeError(f"cannot explain {type(rule).__name__}")


def explain(
    rule: A.Rule,
    profile: Profile,
    now: dt.datetime,
    schema: Schema,
    context: RequestContext | None = None,
) -> Explanation:
    explainer = _Explainer(profile, now, schema, context)
    result = explainer.visit(rule, 0)
    return Explanation(profile.id, now, to_text(rule), result, explainer.steps)
