"""The promotion sequence (TARGETING.md §4, §5): which promotions apply to a priced cart,
in which order, and why every other one did not. Pure: rules are the caller's callbacks.

1. **Candidates.** Every promotion — and an account's ``auto_discount`` as the automatic
   order promotion ``account:<id>`` — is checked, in this order: its schedule and store, its
   campaign's, the account's ``global_promotions`` (false: no GLOBAL promotion, automatic
   or code, applies), the audience (the caller's), an entered code for ``code``
   promotions, the currency its amounts (and its campaign's spend budget) are bound to,
   the limits only the store knows (the caller's, per entered code in the order entered:
   the first that passes is the one it applies through) and a campaign usage budget with
   nothing left. A campaign counts orders, so one order uses one of its uses however many
   of its promotions apply.
2. Candidates are sorted by priority (higher first), then code. If an **exclusive**
   candidate's condition holds on the cart as priced by the price lists and its benefit
   gives a discount its campaign can afford, the first such one applies alone; an
   exclusive candidate that does not is never tried again.
3. Otherwise each other candidate in turn: its condition over the cart as discounted so
   far, its benefit on the current amounts, its campaign's spend left (a benefit that
   would exceed it is not applied at all). A ``best_of`` group is decided at its first
   member's position: every member is computed on the cart as it is there and only the
   largest discount (lines and shipping; ties: priority order) applies. A candidate with
   ``stop_further`` that gave a discount ends the sequence.

Rejections are recorded for entered codes always, and for every promotion with
``explain``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from segmint.model.profile import RequestContext
from segmint.rules import ast
from segmint.targeting import money
from segmint.targeting.benefits import LineMatcher, Outcome, compute
from segmint.targeting.cart import AppliedPromotion, NearMiss, Reason, Rejection, Working
from segmint.targeting.model import AccountPortal, Campaign, PriceList, Promotion, Trigger
from segmint.targeting.near import QUANTITY, SUBTOTAL, Thresholds, near_miss, thresholds
from segmint.targeting.promotion_set import Entry, PromotionSet, normalize_code
from segmint.targeting.schedules import refusal

Refusal = tuple[str, str]  # (reason, detail)


def _everyone(_: Promotion | PriceList) -> Refusal | None:
    return None


def _no_rule(_: Promotion) -> ast.Rule | None:
    return None


def _no_limit(_: Promotion, __: str | None) -> Refusal | None:
    return None


def _no_owner(_: str) -> Collection[str]:
    return ()


@dataclass(frozen=True)
class PricingRules:
    """How pricing reads the rule language and the store's limits; the caller compiles.

    - ``condition(promotion, context)``: the promotion's condition (never called when it
      is None) over ``context``, the request as discounted so far.
    - ``lines(rule, context)``: the indexes of ``context.cart_lines`` a rule over one cart
      line (a benefit's ``target``, ``buy`` or ``get``) is true for.
    - ``audience(lever)``: None when the audience of a promotion or price list is true,
      else (reason, detail) — ``audience`` or ``login_required``. Never called for GLOBAL.
    - ``condition_rule(promotion)``: the condition's checked AST, for near misses (None:
      no near miss is looked for).
    - ``limits(promotion, code)``: None, or (reason, detail) for ``usage_limit``,
      ``code_used``, ``customer_limit``, ``code_recipient``; ``code`` is the entered code
      (trimmed, lower case) it would apply through, None for an automatic promotion.
      Never called for an automatic promotion with neither limit and no campaign.
    - ``code_owners(code)``: the promotions a generated code (trimmed, lower case) belongs
      to; codes a promotion lists in ``codes`` are matched here.
    - ``thresholds``: promotion code -> its condition's top-level cart thresholds, found
      once per catalog (a condition not listed is looked up through ``condition_rule``).
      A condition of nothing but thresholds is then compared in minor units.

    Callbacks must not keep the context they are given: it changes as promotions apply.
    """

    condition: Callable[[Promotion, RequestContext], bool]
    lines: LineMatcher
    audience: Callable[[Promotion | PriceList], Refusal | None] = _everyone
    condition_rule: Callable[[Promotion], ast.Rule | None] = _no_rule
    limits: Callable[[Promotion, str | None], Refusal | None] = _no_limit
    code_owners: Callable[[str], Collection[str]] = _no_owner
    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetLeft:
    """What is left of a campaign's budget (None: all of it, nothing used yet)."""

    spend: Decimal | None = None
    usage: int | None = None


@dataclass(slots=True)
class _Candidate:
    position: int
    entry: Entry
    promotion: Promotion
    via: str | None = None  # the entered code, as entered (trimmed)


@dataclass
class Result:
    """The result of :func:`run`."""

    applied: list[AppliedPromotion] = field(default_factory=list)
    rejected: list[tuple[tuple[int, int], Rejection]] = field(default_factory=list)
    near: list[NearMiss] = field(default_factory=list)

    def reported(self) -> list[Rejection]:
        """The rejections reported (entered codes; with ``explain`` every one), in
        promotion order, then unknown codes in the order entered."""
        return [r for _, r in sorted(self.rejected, key=lambda kr: kr[0])]


class _Run:
    def __init__(
        self,
        w: Working,
        rules: PricingRules,
        now: dt.datetime,
        *,
        campaigns: Mapping[str, Campaign],
        budgets_left: Mapping[str, BudgetLeft],
        account: AccountPortal | None,
        default_currency: str,
        explain: bool,
    ) -> None:
        self.w, self.rules, self.now = w, rules, now
        self.campaigns, self.account = campaigns, account
        self.default_currency = default_currency
        self.explain = explain
        self.out = Result()
        self.spend_left: dict[str, int] = {}  # campaign -> minor units left
        for code, campaign in campaigns.items():
            budget = campaign.budget
            if budget is None or budget.spend is None:
                continue
            left = budgets_left.get(code, BudgetLeft()).spend
            spend = budget.spend if left is None else left
            currency = budget.currency or default_currency
            if currency == w.currency:
                self.spend_left[code] = money.to_minor(
                    money.round_half_up(max(spend, Decimal(0)), currency), currency
                )
        self.usage_left: dict[str, int] = {}  # campaign -> orders left
        for code, campaign in campaigns.items():
            if campaign.budget is not None and campaign.budget.usage is not None:
                used = budgets_left.get(code, BudgetLeft()).usage
                self.usage_left[code] = campaign.budget.usage if used is None else used
        self.entered_codes: dict[str, list[str]] = {}  # promotion -> entered codes

    # ---- recording -----------------------------------------------------------------

    def reject(
        self,
        c: _Candidate,
        reason: str,
        detail: str,
        *,
        code: str | None = None,
        seen: RequestContext | None = None,
    ) -> None:
        """Record why ``c`` did not apply: through ``code``, through the code it was to
        apply through, or — refused before one was chosen — once per code entered for it."""
        entered = self.entered_codes.get(c.promotion.code)
        if entered is None and not self.explain:
            return  # neither explained nor entered: nobody reads it
        chosen = code if code is not None else c.via
        codes: list[str | None] = (
            [chosen] if chosen is not None else [*entered] if entered else [None]
        )
        for shown in codes:
            order = entered.index(shown) if entered and shown in entered else 0
            if shown is None and not self.explain:
                continue
            rejection = Rejection(c.promotion.code, shown, reason, detail, seen)
            self.out.rejected.append(((c.position, order), rejection))

    def reported(self, c: _Candidate) -> bool:
        return self.explain or c.via is not None

    # ---- 1. candidates ------------------------------------------------------------

    def candidates(
        self, entries: Sequence[Entry], promotions: PromotionSet, entered: Sequence[str]
    ) -> list[_Candidate]:
        seen: dict[str, str] = {}
        for raw in entered:
            key = normalize_code(raw)
            if key and key not in seen:
                seen[key] = raw.strip()
        by_code = promotions.by_code
        for key, shown in seen.items():
            owners = {*promotions.listed.get(key, ()), *self.rules.code_owners(key)}
            owners = {o for o in owners if o in by_code and by_code[o].trigger is Trigger.CODE}
            if not owners:
                detail = f"no promotion has the code {shown!r}"
                rejection = Rejection(None, shown, Reason.UNKNOWN_CODE, detail)
                # after every promotion's, in the order entered
                self.out.rejected.append(((len(entries), len(self.out.rejected)), rejection))
            for owner in sorted(owners):
                self.entered_codes.setdefault(owner, []).append(shown)
        found: list[_Candidate] = []
        for position, entry in enumerate(entries):
            c = _Candidate(position, entry, entry.promotion)
            if self.admit(c):
                found.append(c)
        return found

    def admit(self, c: _Candidate) -> bool:
        if c.entry.plain:
            account = self.account
            if account is None or account.global_promotions:
                return True
        p, own = c.promotion, c.entry.own
        why = None
        if not c.entry.always:
            why = refusal(p.schedule, self.now, self.w.context.store, f"promotion {p.code!r}")
        if why is None and p.campaign is not None:
            why = self.campaign_refusal(p.campaign)
        account = self.account
        global_ = p.audience is None and not own
        if why is None and global_ and account is not None and not account.global_promotions:
            why = (
                Reason.ACCOUNT_NOT_ELIGIBLE,
                f"account {account.id!r} takes no GLOBAL promotions or codes",
            )
        if why is None and p.audience is not None and not own:
            why = self.rules.audience(p)
        if why is None and p.trigger is Trigger.CODE and p.code not in self.entered_codes:
            why = (Reason.CODE_REQUIRED, "it applies through a code, and none of its was entered")
        if why is None:
            why = self.currency_refusal(c)
        if why is not None:
            self.reject(c, *why)
            return False
        if p.trigger is Trigger.CODE:
            for code in self.entered_codes[p.code]:
                limit = self.rules.limits(p, normalize_code(code))
                if limit is None and c.via is None:
                    c.via = code
                elif limit is None:
                    self.reject(
                        c,
                        Reason.BETTER_OFFER,
                        f"promotion {p.code!r} applies once, through code {c.via!r}",
                        code=code,
                    )
                else:
                    self.reject(c, *limit, code=code)
            if c.via is None:
                return False
        elif (limit := self.rules.limits(p, None)) is not None:
            self.reject(c, *limit)
            return False
        if p.campaign is not None and self.usage_left.get(p.campaign, 1) <= 0:
            self.reject(c, Reason.BUDGET, f"campaign {p.campaign!r} has no orders left")
            return False
        return True

    def campaign_refusal(self, code: str) -> Refusal | None:
        campaign = self.campaigns.get(code)
        if campaign is None:
            return Reason.INACTIVE, f"campaign {code!r} does not exist"
        return refusal(campaign.schedule, self.now, self.w.context.store, f"campaign {code!r}")

    def currency_refusal(self, c: _Candidate) -> Refusal | None:
        p, cart = c.promotion, self.w.currency
        bound = c.entry.currencies
        if bound and cart not in bound:
            shown = ", ".join(sorted(bound))
            return Reason.CURRENCY, f"its amounts are in {shown}; the cart is in {cart}"
        campaign = self.campaigns.get(p.campaign) if p.campaign is not None else None
        if campaign is not None and campaign.budget is not None:
            budget = campaign.budget
            currency = budget.currency or self.default_currency
            if budget.spend is not None and currency != cart:
                detail = (
                    f"campaign {campaign.code!r}'s budget is in {currency}; the cart is in {cart}"
                )
                return Reason.CURRENCY, detail
        return None

    # ---- 2., 3. the sequence ------------------------------------------------------

    def attempt(self, c: _Candidate) -> Outcome | None:
        """The candidate's outcome on the cart as it is now, or None (and rejected)."""
        p, w = c.promotion, self.w
        if p.condition is not None:
            found = self.rules.thresholds.get(p.code)
            if found is None:
                rule = self.rules.condition_rule(p)
                found = thresholds(rule) if rule is not None else None
            if found is not None and found.only:
                # nothing but thresholds: compared in minor units, exactly as the rule
                # would answer, and what is missing is the near miss
                least_subtotal, least_quantity = found.least(w.scale)
                subtotal, quantity = w.subtotal(), w.quantity
                missing: dict[str, Decimal | int] = {}
                if least_subtotal is not None and subtotal < least_subtotal:
                    missing[SUBTOTAL] = w.decimal(least_subtotal - subtotal)
                if least_quantity is not None and quantity < least_quantity:
                    missing[QUANTITY] = least_quantity - quantity
                if missing:
                    if p.trigger is Trigger.AUTOMATIC:
                        self.out.near.append(NearMiss(p.code, missing))
                    self.condition_false(c)
                    return None
            elif not self.rules.condition(p, w.context):
                self.near(c)
                self.condition_false(c)
                return None
        if w.shipping == 0 and w.room() == 0 and not self.reported(c):
            return None  # nothing is left to discount, and nobody reads why
        outcome = compute(p.benefit, w, self.rules.lines, why=self.reported(c))
        if outcome.total <= 0:
            self.reject(c, Reason.NO_ITEMS, outcome.detail)
            return None
        left = self.spend_left.get(p.campaign) if p.campaign is not None else None
        if left is not None and outcome.total > left:
            self.reject(
                c,
                Reason.BUDGET,
                f"its discount ({self.shown(outcome.total)}) is more than what is left of "
                f"campaign {p.campaign!r}'s budget ({self.shown(left)})",
            )
            return None
        return outcome

    def condition_false(self, c: _Candidate) -> None:
        if not self.explain and c.promotion.code not in self.entered_codes:
            return  # the detail is built only for who reads it
        seen = self.w.snapshot() if self.reported(c) else None
        detail = f"the condition is false: {c.promotion.condition}"
        self.reject(c, Reason.CONDITION, detail, seen=seen)

    def near(self, c: _Candidate) -> None:
        p = c.promotion
        if p.trigger is not Trigger.AUTOMATIC:
            return
        rule = self.rules.condition_rule(p)
        if rule is None:
            return
        found = near_miss(p.code, rule, self.w, lambda ctx: self.rules.condition(p, ctx))
        if found is not None:
            self.out.near.append(found)

    def apply(self, c: _Candidate, outcome: Outcome) -> None:
        p, w = c.promotion, self.w
        w.apply(p.code, outcome.lines, outcome.shipping)
        if p.campaign is not None and p.campaign in self.spend_left:
            self.spend_left[p.campaign] -= outcome.total
        self.out.applied.append(
            AppliedPromotion(
                code=p.code,
                name=p.name,
                amount=w.decimal(outcome.lines_total),
                shipping=w.decimal(outcome.shipping),
                via_code=c.via,
                message=p.message,
                campaign=p.campaign,
            )
        )

    def shown(self, minor: int) -> str:
        return money.format_amount(self.w.decimal(minor), self.w.currency)

    def sequence(self, candidates: list[_Candidate]) -> None:
        exclusive = [c for c in candidates if c.promotion.exclusive]
        for c in exclusive:
            outcome = self.attempt(c)
            if outcome is None:
                continue
            self.apply(c, outcome)
            for other in candidates:
                if other is not c and not (
                    other.promotion.exclusive and other.position < c.position
                ):
                    self.reject(
                        other,
                        Reason.EXCLUSIVE,
                        f"exclusive promotion {c.promotion.code!r} applies alone",
                    )
            return
        rest = [c for c in candidates if not c.promotion.exclusive]
        groups: dict[str, list[_Candidate]] = {}
        for c in rest:
            if c.promotion.best_of is not None:
                groups.setdefault(c.promotion.best_of, []).append(c)
        decided: set[str] = set()
        stopper: str | None = None
        for c in rest:
            group = c.promotion.best_of
            if group is not None and group in decided:
                continue
            if stopper is not None:
                members = [c] if group is None else groups[group]
                for m in members:
                    self.reject(
                        m, Reason.STOPPED, f"promotion {stopper!r} stops further promotions"
                    )
                if group is not None:
                    decided.add(group)
                continue
            if group is None:
                winner: _Candidate | None = c
                outcome = self.attempt(c)
                if outcome is None:
                    winner = None
            else:
                decided.add(group)
                winner, outcome = self.best_of(groups[group])
            if winner is None or outcome is None:
                continue
            self.apply(winner, outcome)
            if winner.promotion.stop_further:
                stopper = winner.promotion.code

    def best_of(self, members: list[_Candidate]) -> tuple[_Candidate | None, Outcome | None]:
        offers = [(m, o) for m in members if (o := self.attempt(m)) is not None]
        if not offers:
            return None, None
        best, outcome = offers[0]
        for m, o in offers[1:]:
            if o.total > outcome.total:
                best, outcome = m, o
        for m, o in offers:
            if m is not best:
                self.reject(
                    m,
                    Reason.BETTER_OFFER,
                    f"promotion {best.promotion.code!r} of best_of group "
                    f"{best.promotion.best_of!r} gives more ({self.shown(outcome.total)} "
                    f"against {self.shown(o.total)})",
                )
        return best, outcome


def run(
    w: Working,
    promotions: PromotionSet,
    rules: PricingRules,
    now: dt.datetime,
    *,
    codes: Sequence[str] = (),
    campaigns: Mapping[str, Campaign] | None = None,
    budgets_left: Mapping[str, BudgetLeft] | None = None,
    account: AccountPortal | None = None,
    default_currency: str = money.DEFAULT_CURRENCY,
    explain: bool = False,
) -> Result:
    """Apply the promotions to ``w`` in §4's order; what applied, what not, what is near."""
    r = _Run(
        w,
        rules,
        now,
        campaigns=campaigns or {},
        budgets_left=budgets_left or {},
        account=account,
        default_currency=default_currency,
        explain=explain,
    )
    entries = promotions.for_account(account)
    r.sequence(r.candidates(entries, promotions, codes))
    return r.out
