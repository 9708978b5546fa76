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
from segmint.errors import RuleError
from segmint.model.profile import Profile, RequestContext
from segmint.rules import ast, check, parse
from segmint.rules.checker import CheckedRule
from segmint.rules.schema import DEFAULT_SCHEMA, Schema
from segmint.targeting.model import (
    BuyGetBenefit,
    ItemsBenefit,
    PriceList,
    Promotion,
    TieredBenefit,
)
from segmint.targeting.near import Thresholds, thresholds
from segmint.targeting.promotions import PricingRules, Refusal

#: What a rule that no longer type-checks compiles to: false.
_never = Predicate(ast.BoolTest(ast.Literal(False)), lambda *_: False)


@dataclass(frozen=True)
class _LineRule:
    predicate: Predicate
    reads_amount: bool


def _reads_customer(checked: CheckedRule) -> bool:
    """Whether a rule reads stored customer data itself (the cart's lines are the
    request's)."""
    return bool(
        checked.customer_fields or checked.attributes or (checked.collections - {"cart.lines"})
    )


@dataclass(frozen=True)
class AudienceAnswer:
    """Audiences answered for one request: of the ``answered`` (kind, code) keys, those
    whose audience is ``true``."""

    answered: Collection[tuple[str, str]]
    true: frozenset[tuple[str, str]]


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
    #: promotion -> its condition's top-level cart thresholds (none: an empty one)
    condition_thresholds: dict[str, Thresholds] = field(default_factory=dict)
    audiences: dict[tuple[str, str], Predicate] = field(default_factory=dict)
    lines: dict[str, _LineRule] = field(default_factory=dict)
    # whether only a known customer can match an audience: it reads stored customer data,
    # or is IN SEGMENT of segments (kept here) an anonymous visitor may not be in
    audience_needs: dict[tuple[str, str], tuple[bool, frozenset[str]]] = field(default_factory=dict)
    #: (kind, code) -> the audience as checked (for the audience index)
    audience_checked: dict[tuple[str, str], CheckedRule] = field(default_factory=dict)
    #: promotions whose condition reads stored customer data (not only the request)
    conditions_reading_customer: set[str] = field(default_factory=set)
    #: (kind, code) -> why a stored rule no longer checks; its rule is taken as false
    broken: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        promotions: Iterable[Promotion],
        price_lists: Iterable[PriceList] = (),
        schema: Schema = DEFAULT_SCHEMA,
        *,
        lenient: bool = False,
    ) -> CompiledPricingRules:
        """Compile every rule; a rule that does not check raises its RuleError, or with
        ``lenient`` (stored levers, after the schema moved) is recorded in ``broken`` and
        taken as false, so one lever cannot stop every request from being answered."""
        out = cls(schema)
        for p in promotions:
            try:
                out._add_promotion(p)
            except RuleError as error:
                if not lenient:
                    raise
                out._break("promotion", p.code, error)
                if p.condition is not None:
                    out.conditions.setdefault(p.code, _never)
                for rule in line_rules(p):
                    try:
                        out.line_rule(rule)
                    except RuleError:
                        out.lines[rule] = _LineRule(_never, reads_amount=False)
        for pl in price_lists:
            if pl.audience is None:
                continue
            try:
                out.audiences["price_list", pl.code] = out._audience(
                    "price_list", pl.code, pl.audience
                )
            except RuleError as error:
                if not lenient:
                    raise
                out._break("price_list", pl.code, error)
        return out

    def _add_promotion(self, p: Promotion) -> None:
        if p.condition is not None:
            checked = check(parse(p.condition), self.schema, text=p.condition)
            self.conditions[p.code] = compile_predicate(checked.rule, self.schema)
            self.condition_asts[p.code] = checked.rule
            self.condition_thresholds[p.code] = thresholds(checked.rule)
            if _reads_customer(checked):
                self.conditions_reading_customer.add(p.code)
        if p.audience is not None:
            self.audiences["promotion", p.code] = self._audience("promotion", p.code, p.audience)
        for rule in line_rules(p):
            self.line_rule(rule)

    def _break(self, kind: str, code: str, error: RuleError) -> None:
        self.broken[kind, code] = error.message
        self.audiences.setdefault((kind, code), _never)

    def _audience(self, kind: str, code: str, text: str) -> Predicate:
        checked = check(parse(text), self.schema, text=text, allow_realtime=True)
        own = _reads_customer(checked)
        self.audience_needs[kind, code] = (own, frozenset(checked.segments))
        self.audience_checked[kind, code] = checked
        return compile_predicate(checked.rule, self.schema)

    def needs_customer(
        self, kind: str, code: str, anonymous_segments: frozenset[str] = frozenset()
    ) -> bool:
        own, segments = self.audience_needs.get((kind, code), (False, frozenset()))
        return own or not segments <= anonymous_segments

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
        self,
        profile: Profile,
        now: dt.datetime,
        request: RequestContext | None = None,
        *,
        known: bool = True,
        anonymous_segments: frozenset[str] = frozenset(),
        indexed: AudienceAnswer | None = None,
    ) -> PricingRules:
        """The callbacks for one visitor at ``now``; audiences read ``request`` (the
        context and cart as requested). An audience that needs a known customer refuses
        an anonymous visitor (``login_required``). ``indexed``: the audiences the caller
        has answered already (the audience index's exact answer), not evaluated again.
        Each call starts a new line-rule memo."""
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
            kind = "promotion" if isinstance(lever, Promotion) else "price_list"
            broken = self.broken.get((kind, lever.code))
            if broken is not None:
                return "audience", f"the rules no longer type-check: {broken}"
            if not known and self.needs_customer(kind, lever.code, anonymous_segments):
                return "login_required", "the audience reads customer data: a known customer only"
            key = (kind, lever.code)
            if indexed is not None and key in indexed.answered:
                value: bool | None = key in indexed.true
            else:
                text = lever.audience or ""
                value = audiences.get(text)
                if value is None:
                    value = audiences[text] = self.audiences[key](profile, now, request)
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
            thresholds=self.condition_thresholds,
        )
