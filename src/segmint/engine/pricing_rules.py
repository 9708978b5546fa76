"""The rules pricing reads, compiled once (the callbacks of
:class:`~segmint.targeting.promotions.PricingRules`).

:class:`CompiledPricingRules` type-checks and compiles every promotion's condition and
audience, every price list's audience and every rule over one cart line (a benefit's
``target``, ``buy``, ``get``) with the Python engine; :meth:`for_request` binds them to
one visitor and instant. A line rule is checked and compiled as
``EXISTS(cart.lines WHERE rule)`` (as the targeting document checks it) and run over a
context holding that one line. Within one request an audience is evaluated once per
text, a line rule that does not read ``amount`` (the only line field pricing changes)
once per line, and one that does once per line and amount.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from segmint.compile.python import Predicate, compile_predicate
from segmint.model.profile import Profile, RequestContext
from segmint.rules import ast, check, parse
from segmint.rules.schema import DEFAULT_SCHEMA, Schema
from segmint.targeting.model import (
    BuyGetBenefit,
    ItemsBenefit,
    PriceList,
    Promotion,
    TieredBenefit,
)
from segmint.targeting.promotions import PricingRules, Refusal


@dataclass(frozen=True)
class _LineRule:
    predicate: Predicate
    reads_amount: bool


def line_rules(promotion: Promotion) -> list[str]:
    """The rules over one cart line a promotion's benefit holds."""
    b = promotion.benefit
    if isinstance(b, ItemsBenefit | TieredBenefit):
        return [b.target] if b.target is not None else []
    if isinstance(b, BuyGetBenefit):
        return [r for r in (b.buy, b.get) if r is not None]
    return []


@dataclass
class CompiledPricingRules:
    schema: Schema = DEFAULT_SCHEMA
    conditions: dict[str, Predicate] = field(default_factory=dict)
    condition_asts: dict[str, ast.Rule] = field(default_factory=dict)
    audiences: dict[tuple[str, str], Predicate] = field(default_factory=dict)
    lines: dict[str, _LineRule] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        promotions: Iterable[Promotion],
        price_lists: Iterable[PriceList] = (),
        schema: Schema = DEFAULT_SCHEMA,
    ) -> CompiledPricingRules:
        """Compile every rule; a rule that does not check raises its RuleError."""
        out = cls(schema)
        for p in promotions:
            if p.condition is not None:
                checked = check(parse(p.condition), schema, text=p.condition)
                out.conditions[p.code] = compile_predicate(checked.rule, schema)
                out.condition_asts[p.code] = checked.rule
            if p.audience is not None:
                out.audiences["promotion", p.code] = out._compile(p.audience)
            for rule in line_rules(p):
                out.line_rule(rule)
        for pl in price_lists:
            if pl.audience is not None:
                out.audiences["price_list", pl.code] = out._compile(pl.audience)
        return out

    def _compile(self, text: str) -> Predicate:
        checked = check(parse(text), self.schema, text=text)
        return compile_predicate(checked.rule, self.schema)

    def line_rule(self, text: str) -> _LineRule:
        found = self.lines.get(text)
        if found is None:
            where = parse(text)
            wrapped = ast.BoolTest(ast.Aggregate("EXISTS", ("cart", "lines"), where=where))
            checked = check(wrapped, self.schema)
            reads_amount = any(
                isinstance(n, ast.Path) and n.parts == ("amount",) for n in ast.walk(where)
            )
            found = _LineRule(compile_predicate(checked.rule, self.schema), reads_amount)
            self.lines[text] = found
        return found

    def for_request(
        self, profile: Profile, now: dt.datetime, request: RequestContext | None = None
    ) -> PricingRules:
        """The callbacks for one visitor at ``now``; audiences read ``request`` (the
        context and cart as requested). Each call starts a new line-rule memo."""
        memo: dict[str, frozenset[int]] = {}  # line rules that do not read amount
        # rules that read amount: (rule, line index) -> (the line, its amount, the answer)
        by_amount: dict[tuple[str, int], tuple[object, object, bool]] = {}
        audiences: dict[str, bool] = {}  # audience text -> its value for this visitor
        one_line = RequestContext()

        def condition(promotion: Promotion, context: RequestContext) -> bool:
            return self.conditions[promotion.code](profile, now, context)

        def lines(rule: str, context: RequestContext) -> Collection[int]:
            compiled = self.line_rule(rule)
            if not compiled.reads_amount and rule in memo:
                return memo[rule]
            predicate = compiled.predicate
            found: list[int] = []
            for i, line in enumerate(context.cart_lines):
                if compiled.reads_amount:
                    seen = by_amount.get((rule, i))
                    if seen is not None and seen[0] is line and seen[1] == line.amount:
                        if seen[2]:
                            found.append(i)
                        continue
                one_line.cart_lines = [line]
                matched = predicate(profile, now, one_line)
                if compiled.reads_amount:
                    by_amount[rule, i] = (line, line.amount, matched)
                if matched:
                    found.append(i)
            result = frozenset(found)
            if not compiled.reads_amount:
                memo[rule] = result
            return result

        def audience(lever: Promotion | PriceList) -> Refusal | None:
            text = lever.audience or ""
            value = audiences.get(text)
            if value is None:
                kind = "promotion" if isinstance(lever, Promotion) else "price_list"
                value = audiences[text] = self.audiences[kind, lever.code](profile, now, request)
            if value:
                return None
            return "audience", f"the audience is false: {lever.audience}"

        def condition_rule(promotion: Promotion) -> ast.Rule | None:
            return self.condition_asts.get(promotion.code)

        return PricingRules(
            condition=condition,
            lines=lines,
            audience=audience,
            condition_rule=condition_rule,
        )
