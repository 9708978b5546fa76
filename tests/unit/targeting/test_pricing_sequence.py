"""The order promotions apply in and why the others do not (TARGETING.md §4, §5): one
hand-computed scenario per rule. The cart is A 60.00 + B 40.00 unless said otherwise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from pricing_fixtures import (
    NOW,
    amt,
    applied,
    cart,
    line,
    pct,
    price,
    promo,
    reasons,
    shares,
)

from segmint.model.profile import Profile, RequestContext
from segmint.targeting.cart import Cart, Reason
from segmint.targeting.model import (
    AccountPortal,
    AutoDiscount,
    Basis,
    Budget,
    Campaign,
    ItemsBenefit,
    OrderBenefit,
    Promotion,
    Schedule,
    Tier,
    TieredBenefit,
    Trigger,
)
from segmint.targeting.promotions import BudgetLeft


def ab() -> Cart:
    return cart(line("A", 1, "60.00", category="wine"), line("B", 1, "40.00"))


def ten_percent(code: str = "hi", **kw: object) -> Promotion:
    return promo(code, OrderBenefit(pct("10")), **kw)  # type: ignore[arg-type]


def five_off(code: str = "lo", **kw: object) -> Promotion:
    return promo(code, OrderBenefit(amt("5.00")), **kw)  # type: ignore[arg-type]


# ---- order of application ---------------------------------------------------------------


def test_higher_priority_first_and_each_sees_the_cart_as_discounted_so_far() -> None:
    # hi: 10% of 100.00 = 10.00 (6.00 + 4.00); lo's condition reads 90.00: 5.00 over
    # 54.00 + 36.00 = 3.00 + 2.00
    ps = [ten_percent(priority=10), five_off(condition="cart.subtotal >= 90")]
    priced = price(ab(), ps)
    assert applied(priced) == ["hi", "lo"]
    assert shares(priced, "hi") == ["6.00", "4.00"] and shares(priced, "lo") == ["3.00", "2.00"]
    assert priced.total == D("85.00")
    # the other way round: 5.00 first (3.00 + 2.00), then 10% of 95.00 = 9.50 over
    # 57.00 + 38.00 = 5.70 + 3.80
    swapped = [ten_percent(), five_off(priority=10, condition="cart.subtotal >= 90")]
    priced = price(ab(), swapped)
    assert applied(priced) == ["lo", "hi"] and shares(priced, "hi") == ["5.70", "3.80"]
    assert priced.total == D("85.50")


def test_a_condition_false_on_the_discounted_cart_rejects_with_the_cart_it_saw() -> None:
    ps = [ten_percent(priority=10), five_off(condition="cart.subtotal >= 95")]
    priced = price(ab(), ps, explain=True)
    assert applied(priced) == ["hi"] and reasons(priced) == {"lo": Reason.CONDITION}
    seen = priced.rejected[0].seen
    assert seen is not None and seen.cart_subtotal == D("90.00")
    assert [ln.amount for ln in seen.cart_lines] == [D("54.00"), D("36.00")]


def test_equal_priorities_go_by_code() -> None:
    priced = price(ab(), [ten_percent("b"), five_off("a")])
    assert applied(priced) == ["a", "b"] and priced.total == D("85.50")


def test_conditions_read_the_current_line_amounts() -> None:
    wine = five_off("w", condition="SUM(cart.lines.amount WHERE category = 'wine') >= 55")
    assert applied(price(ab(), [wine])) == ["w"]
    assert applied(price(ab(), [ten_percent(priority=1), wine])) == ["hi"]  # wine is 54.00


# ---- exclusive -----------------------------------------------------------------------------


def test_an_exclusive_promotion_that_applies_applies_alone() -> None:
    ps = [ten_percent(priority=10), promo("e", OrderBenefit(amt("20.00")), exclusive=True)]
    priced = price(ab(), ps, explain=True)
    assert applied(priced) == ["e"] and shares(priced, "e") == ["12.00", "8.00"]
    assert reasons(priced) == {"hi": Reason.EXCLUSIVE}
    assert "'e'" in priced.rejected[0].detail


def test_the_first_exclusive_by_priority_wins_not_the_largest() -> None:
    ps = [
        promo("e1", OrderBenefit(amt("5.00")), priority=5, exclusive=True),
        promo("e2", OrderBenefit(amt("20.00")), priority=1, exclusive=True),
    ]
    priced = price(ab(), ps, explain=True)
    assert applied(priced) == ["e1"] and reasons(priced) == {"e2": Reason.EXCLUSIVE}


def test_an_exclusive_whose_condition_is_false_is_not_tried_again_later() -> None:
    # after hi the subtotal is 90.00 and e's condition would hold; it is never retried
    e = promo("e", OrderBenefit(amt("20.00")), exclusive=True, condition="cart.subtotal < 95")
    priced = price(ab(), [ten_percent(priority=10), e], explain=True)
    assert applied(priced) == ["hi"] and reasons(priced) == {"e": Reason.CONDITION}


def test_an_exclusive_that_gives_nothing_leaves_the_others_to_apply() -> None:
    e = promo("e", ItemsBenefit(pct("50"), target="category = 'cheese'"), exclusive=True)
    priced = price(ab(), [ten_percent(), e], explain=True)
    assert applied(priced) == ["hi"] and reasons(priced) == {"e": Reason.NO_ITEMS}


# ---- stop_further ------------------------------------------------------------------------


def test_stop_further_ends_the_sequence_once_it_applied() -> None:
    s = ten_percent("s", priority=5, stop_further=True)
    priced = price(ab(), [s, five_off()], explain=True)
    assert applied(priced) == ["s"] and reasons(priced) == {"lo": Reason.STOPPED}
    assert "'s'" in priced.rejected[0].detail


def test_stop_further_that_did_not_apply_stops_nothing() -> None:
    false = ten_percent("s", priority=5, stop_further=True, condition="cart.subtotal > 500")
    assert applied(price(ab(), [false, five_off()])) == ["lo"]
    empty = promo("s", ItemsBenefit(pct("10"), target="category = 'cheese'"), stop_further=True)
    assert applied(price(ab(), [empty, five_off()])) == ["lo"]


# ---- best_of -------------------------------------------------------------------------------


def test_best_of_applies_the_largest_discount_at_the_groups_first_position() -> None:
    # order a(5) c(3) b(1); at a's position a gives 10.00 and b 15.00: b applies there
    # (9.00 + 6.00), then c: 1.00 over 51.00 + 34.00 = 0.60 + 0.40
    ps = [
        ten_percent("a", priority=5, best_of="g"),
        promo("c", OrderBenefit(amt("1.00")), priority=3),
        promo("b", OrderBenefit(amt("15.00")), priority=1, best_of="g"),
    ]
    priced = price(ab(), ps, explain=True)
    assert applied(priced) == ["b", "c"]
    assert priced.lines[0].discounts[0].promotion == "b"
    assert shares(priced, "b") == ["9.00", "6.00"] and shares(priced, "c") == ["0.60", "0.40"]
    assert reasons(priced) == {"a": Reason.BETTER_OFFER}
    assert "'b'" in priced.rejected[0].detail


def test_best_of_ties_go_to_priority_order() -> None:
    ps = [
        ten_percent("a", priority=1, best_of="g"),
        promo("b", OrderBenefit(amt("10.00")), best_of="g"),
    ]
    assert applied(price(ab(), ps)) == ["a"]


def test_best_of_skips_members_that_do_not_apply_and_keeps_their_reason() -> None:
    ps = [
        ten_percent("a", best_of="g"),
        promo("b", OrderBenefit(amt("15.00")), best_of="g", condition="cart.quantity >= 5"),
    ]
    priced = price(ab(), ps, explain=True)
    assert applied(priced) == ["a"] and reasons(priced) == {"b": Reason.CONDITION}


def test_a_best_of_winner_with_stop_further_stops_the_rest() -> None:
    ps = [
        ten_percent("a", priority=5, best_of="g", stop_further=True),
        promo("c", OrderBenefit(amt("1.00")), priority=3),
        promo("b", OrderBenefit(amt("5.00")), priority=1, best_of="g"),
    ]
    priced = price(ab(), ps, explain=True)
    assert applied(priced) == ["a"]
    assert reasons(priced) == {"b": Reason.BETTER_OFFER, "c": Reason.STOPPED}


# ---- campaigns and budgets ----------------------------------------------------------------


def summer(spend: str | None = None, usage: int | None = None, **kw: object) -> Campaign:
    budget = Budget(D(spend) if spend else None, usage, kw.pop("currency", None))  # type: ignore[arg-type]
    return Campaign("summer", budget=budget, **kw)  # type: ignore[arg-type]


def test_a_benefit_that_would_exceed_the_spend_left_is_not_applied() -> None:
    p = ten_percent("p", campaign="summer")
    priced = price(ab(), [p], campaigns=[summer("5.00")], explain=True)
    assert applied(priced) == [] and reasons(priced) == {"p": Reason.BUDGET}
    assert "10.00" in priced.rejected[0].detail and "5.00" in priced.rejected[0].detail
    left = {"summer": BudgetLeft(spend=D("12.00"))}
    assert applied(price(ab(), [p], campaigns=[summer("5.00")], budgets_left=left)) == ["p"]


def test_promotions_of_one_campaign_draw_on_the_same_spend_left() -> None:
    # 15.00 left: p1 takes 10.00; p2 (10% of 90.00 = 9.00) would exceed the 5.00 left and
    # is not applied at all; p3 (4.00) fits
    ps = [
        promo("p1", OrderBenefit(amt("10.00")), priority=5, campaign="summer"),
        ten_percent("p2", priority=3, campaign="summer"),
        promo("p3", OrderBenefit(amt("4.00")), priority=1, campaign="summer"),
    ]
    priced = price(ab(), ps, campaigns=[summer("15.00")], explain=True)
    assert applied(priced) == ["p1", "p3"] and reasons(priced) == {"p2": Reason.BUDGET}


def test_a_usage_budget_counts_orders() -> None:
    ps = [ten_percent("p1", campaign="summer"), five_off("p2", campaign="summer")]
    none_left = {"summer": BudgetLeft(usage=0)}
    priced = price(ab(), ps, campaigns=[summer(usage=100)], budgets_left=none_left, explain=True)
    assert applied(priced) == [] and set(reasons(priced).values()) == {Reason.BUDGET}
    one_left = {"summer": BudgetLeft(usage=1)}  # one order: both of its promotions apply
    assert applied(price(ab(), ps, campaigns=[summer(usage=100)], budgets_left=one_left)) == [
        "p1",
        "p2",
    ]


def test_a_promotion_outside_its_campaigns_dates_does_not_apply() -> None:
    ended = summer(schedule=Schedule(ends_at=NOW))
    priced = price(ab(), [ten_percent("p", campaign="summer")], campaigns=[ended], explain=True)
    assert (
        reasons(priced) == {"p": Reason.ENDED} and "campaign 'summer'" in priced.rejected[0].detail
    )


def test_a_spend_budget_in_another_currency_is_a_currency_refusal() -> None:
    euros = summer("100.00", currency="EUR")
    priced = price(ab(), [ten_percent("p", campaign="summer")], campaigns=[euros], explain=True)
    assert reasons(priced) == {"p": Reason.CURRENCY}


# ---- currency-bound amounts ---------------------------------------------------------------


def test_an_amount_bound_to_another_currency_does_not_apply() -> None:
    p = promo("eur", OrderBenefit(amt("5.00", "EUR")))
    assert reasons(price(ab(), [p], explain=True)) == {"eur": Reason.CURRENCY}
    euro_cart = cart(line("A", 1, "60.00"), line("B", 1, "40.00"), currency="EUR")
    assert shares(price(euro_cart, [p]), "eur") == ["3.00", "2.00"]
    tiers = (Tier(D("10"), amt("1.00", "EUR")),)
    tiered = promo("t", TieredBenefit(tiers, Basis.SUBTOTAL))
    assert reasons(price(ab(), [tiered], explain=True)) == {"t": Reason.CURRENCY}


# ---- B2B portal ------------------------------------------------------------------------------


ACME = Profile("c1", fields={"business_account": "acme"})


def test_a_portal_without_global_promotions_keeps_global_ones_and_codes_away() -> None:
    ps = [
        ten_percent("global"),
        promo("code", OrderBenefit(amt("1.00")), codes=("SAVE",)),
        promo("named", OrderBenefit(pct("5")), audience="business_account = 'acme'"),
    ]
    portal = AccountPortal("acme", global_promotions=False)
    priced = price(ab(), ps, profile=ACME, account=portal, codes=["save"], explain=True)
    assert applied(priced) == ["named"]
    assert reasons(priced) == {
        "global": Reason.ACCOUNT_NOT_ELIGIBLE,
        "code": Reason.ACCOUNT_NOT_ELIGIBLE,
    }
    # the entered code is reported without explain too
    quiet = price(ab(), ps, profile=ACME, account=portal, codes=["save"])
    assert [(r.promotion, r.code, r.reason) for r in quiet.rejected] == [
        ("code", "save", Reason.ACCOUNT_NOT_ELIGIBLE)
    ]
    open_portal = AccountPortal("acme")
    assert applied(price(ab(), ps, profile=ACME, account=open_portal, codes=["save"])) == [
        "code",
        "global",
        "named",
    ]


def test_an_auto_discount_applies_as_promotion_account_id() -> None:
    # account:acme (priority 1) first: 5% of 100.00 = 5.00 (3.00 + 2.00); then 10% of
    # 95.00 = 9.50
    portal = AccountPortal("acme", False, AutoDiscount(pct("5"), priority=1))
    priced = price(
        ab(), [ten_percent(audience="business_account = 'acme'")], profile=ACME, account=portal
    )
    assert applied(priced) == ["account:acme", "hi"]
    assert shares(priced, "account:acme") == ["3.00", "2.00"] and priced.total == D("85.50")


# ---- codes ---------------------------------------------------------------------------------


def test_codes_match_case_insensitively_after_trimming() -> None:
    p = promo("summer", OrderBenefit(amt("10.00")), codes=("Summer10",), message="Enjoy")
    priced = price(ab(), [p], codes=["  summer10 "])
    assert priced.to_dict()["promotions"] == [
        {
            "code": "summer",
            "name": "",
            "amount": "10.00",
            "shipping": "0.00",
            "via_code": "summer10",
            "message": "Enjoy",
        }
    ]


def test_an_unknown_code_and_a_code_promotion_without_its_code() -> None:
    p = promo("summer", OrderBenefit(amt("10.00")), codes=("SUMMER10",))
    priced = price(ab(), [p], codes=["NOPE"])
    assert [(r.promotion, r.code, r.reason) for r in priced.rejected] == [
        (None, "NOPE", Reason.UNKNOWN_CODE)
    ]
    explained = price(ab(), [p], explain=True)
    assert reasons(explained) == {"summer": Reason.CODE_REQUIRED}
    assert price(ab(), [p]).rejected == ()


def test_store_limits_come_from_the_callers_check_per_code_in_the_order_entered() -> None:
    p = promo("p", OrderBenefit(amt("10.00")), codes=("A1", "B2", "C3"))

    def limits(promotion: Promotion, code: str | None) -> tuple[str, str] | None:
        return (Reason.CODE_USED, "used up") if code == "a1" else None

    priced = price(ab(), [p], codes=["A1", "B2", "C3"], limits=limits)
    assert priced.promotions[0].via_code == "B2"
    assert [(r.code, r.reason) for r in priced.rejected] == [
        ("A1", Reason.CODE_USED),
        ("C3", Reason.BETTER_OFFER),
    ]


def test_a_limit_refuses_an_automatic_promotion_too() -> None:
    def limits(promotion: Promotion, code: str | None) -> tuple[str, str] | None:
        return (Reason.USAGE_LIMIT, "500 of 500 orders") if promotion.code == "hi" else None

    capped = ten_percent(usage_limit=500)
    priced = price(ab(), [capped, five_off()], limits=limits, explain=True)
    assert applied(priced) == ["lo"] and reasons(priced) == {"hi": Reason.USAGE_LIMIT}


def test_limits_are_not_asked_of_an_automatic_promotion_without_any() -> None:
    asked: list[str] = []

    def limits(promotion: Promotion, code: str | None) -> tuple[str, str] | None:
        asked.append(promotion.code)
        return None

    capped = ten_percent(per_customer_limit=1)
    priced = price(ab(), [capped, five_off()], limits=limits)
    assert applied(priced) == ["hi", "lo"] and asked == ["hi"]


def test_a_generated_code_is_found_through_the_callers_lookup() -> None:
    p = promo("gen", OrderBenefit(amt("10.00")), trigger=Trigger.CODE)

    def owners(code: str) -> list[str]:
        return ["gen"] if code == "gen-7xk2" else []

    priced = price(ab(), [p], codes=["GEN-7XK2"], code_owners=owners)
    assert applied(priced) == ["gen"] and priced.promotions[0].via_code == "GEN-7XK2"


# ---- schedules, stores, audiences -------------------------------------------------------------


def test_schedules_and_stores_refuse_with_their_reasons() -> None:
    ps = [
        ten_percent("off", schedule=Schedule(active=False)),
        ten_percent("later", schedule=Schedule(starts_at=NOW + dt.timedelta(seconds=1))),
        ten_percent("ended", schedule=Schedule(ends_at=NOW)),
        ten_percent("app", schedule=Schedule(stores=("app",))),
        five_off("now", schedule=Schedule(starts_at=NOW)),
    ]
    priced = price(ab(), ps, context=RequestContext(store="web"), explain=True)
    assert applied(priced) == ["now"]
    assert reasons(priced) == {
        "off": Reason.INACTIVE,
        "later": Reason.NOT_STARTED,
        "ended": Reason.ENDED,
        "app": Reason.STORE,
    }


def test_a_false_audience_is_reported_only_with_explain() -> None:
    vip = ten_percent("vip", audience="tags CONTAINS 'vip'")
    assert applied(price(ab(), [vip], profile=Profile("c1", fields={"tags": ["vip"]}))) == ["vip"]
    assert price(ab(), [vip]).rejected == ()
    assert reasons(price(ab(), [vip], explain=True)) == {"vip": Reason.AUDIENCE}


def test_the_answer_lists_lines_in_request_order_with_ids_by_position() -> None:
    c = cart(line("Z", 2, "5.00"), line("A", 1, "1.50", id="mine"), shipping="4.99")
    data = price(c, [ten_percent()]).to_dict()["cart"]
    assert [ln["id"] for ln in data["lines"]] == ["1", "mine"]
    assert data["subtotal"] == "11.50" and data["discount"] == "1.15"
    assert data["shipping"] == {
        "method": "standard",
        "amount": "4.99",
        "discount": "0.00",
        "total": "4.99",
    }
    assert data["total"] == "15.34"
