"""The audience index against the Python engine: each atom kind, the Z list, the DNF cap,
patching, and a property test comparing ``match`` with testing every audience's
compiled predicate over random audiences, profiles and requests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.compile import _dnf
from segmint.compile._dnf import SEGMENTS, Atom, Source, SourceKind, conjunctions
from segmint.compile.audience_index import AudienceIndex
from segmint.compile.python import compile_predicate
from segmint.model.profile import CartLine, OrderItem, Profile, RequestContext
from segmint.rules import ast as A
from segmint.rules import check, parse
from segmint.rules.checker import CheckedRule
from strategies import TEST_SCHEMA
from strategies import rules as random_rules

NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
SCHEMA = TEST_SCHEMA  # tier: string, married: boolean, interests: list, score: number …


def checked(text: str) -> CheckedRule:
    return check(parse(text), SCHEMA, allow_realtime=True)


def build(*texts: str | None, cap: int = 64) -> AudienceIndex[int]:
    return AudienceIndex.build(
        [(i, None if t is None else checked(t)) for i, t in enumerate(texts)], SCHEMA, cap=cap
    )


def oracle(
    audiences: list[tuple[Any, CheckedRule | None]],
    profile: Profile,
    context: RequestContext | None,
) -> list[Any]:
    """Every audience tested with its whole compiled predicate (the Python engine)."""
    return [
        key
        for key, rule in audiences
        if rule is None or compile_predicate(rule.rule, SCHEMA)(profile, NOW, context)
    ]


def person(
    segments: tuple[str, ...] = (),
    inherited: dict[str, str] | None = None,
    attributes: dict[str, Any] | None = None,
    **fields: Any,
) -> Profile:
    profile = Profile("c1", fields=fields, attributes=attributes or {})
    profile.set_segments(segments, inherited or {})
    return profile


ANYONE = person()


def matches(text: str, profile: Profile, context: RequestContext | None = None) -> bool:
    """The index's answer for one audience, checked against the predicate."""
    index = build(text)
    got = index.match(profile, NOW, context) == [0]
    assert got == compile_predicate(checked(text).rule, SCHEMA)(profile, NOW, context), text
    return got


def only(text: str) -> _dnf.Conjunction:
    (conj,) = conjunctions(checked(text).rule, SCHEMA)
    return conj


def field(name: str, multi: bool = False) -> Source:
    return Source(SourceKind.FIELD, name, multi)


# --- atoms ------------------------------------------------------------------------------


def test_in_segment_is_an_atom_with_the_exact_code() -> None:
    assert only("IN SEGMENT 'vip'") == _dnf.Conjunction(
        frozenset({Atom(SEGMENTS, frozenset({"vip"}))})
    )
    assert matches("IN SEGMENT 'vip'", person(("vip",)))
    assert not matches("IN SEGMENT 'vip'", person(("VIP",)))  # codes are exact
    assert not matches("IN SEGMENT 'vip'", ANYONE)


def test_user_groups_contains_reads_explicit_and_inherited_groups_ignoring_case() -> None:
    rule = "user_groups CONTAINS 'Gold'"
    groups = Source(SourceKind.GROUPS, "user_groups", True)
    assert only(rule).atoms == {Atom(groups, frozenset({"gold"}))}
    assert matches(rule, person(user_groups=["GOLD"]))
    assert matches(rule, person(("big",), {"big": "gold"}))  # inherited from a segment
    assert not matches(rule, person(("big",), {}))  # a segment not targetable gives nothing
    assert not matches(rule, person(user_groups=[None, "silver"]))
    assert not matches(rule, ANYONE)


def test_equality_and_in_lists_of_strings_ignore_case_as_sql_lower() -> None:
    assert only("business_account IN ('Acme', 'GLOBEX')").atoms == {
        Atom(field("business_account"), frozenset({"acme", "globex"}))
    }
    assert matches("business_account IN ('Acme', 'GLOBEX')", person(business_account="globex"))
    assert not matches("business_account IN ('Acme')", person(business_account=None))
    assert matches("attributes.tier = 'GOLD'", person(attributes={"tier": "gold"}))
    assert matches("'de' = country", person(country="DE"))  # literal on the left
    assert matches("country = 'İSTANBUL'", person(country="istanbul"))  # 'İ' lowers to 'i'
    assert not matches("country = 'İSTANBUL'", person(country="i̇stanbul"))
    assert not matches("country = 'STRASSE'", person(country="straße"))  # simple mapping only


def test_context_values_and_booleans() -> None:
    ctx = RequestContext(view="Business", store="EU", channel="web", path="/Sale", logged_in=True)
    assert matches("context.view = 'business' AND context.store = 'eu'", ANYONE, ctx)
    assert matches("context.channel IN ('web', 'app') AND context.path = '/sale'", ANYONE, ctx)
    assert matches("context.logged_in", ANYONE, ctx)
    assert matches("context.logged_in = true", ANYONE, ctx)
    assert not matches("context.logged_in = false", ANYONE, ctx)
    assert not matches("context.logged_in", ANYONE, RequestContext())  # null is not true
    assert not matches("context.logged_in = false", ANYONE, RequestContext())
    assert not matches("context.view = 'business'", ANYONE, None)  # no context: all null
    assert matches("attributes.married = false", person(attributes={"married": False}))
    assert matches("newsletter_subscribed", person(newsletter_subscribed=True))


def test_presence_of_query_parameters_and_fields() -> None:
    rule = "context.query.showBusinessView IS NOT NULL AND context.query.tab = 'B2B'"
    atoms = only(rule).atoms
    assert {a.values for a in atoms} == {None, frozenset({"b2b"})}
    assert matches(rule, ANYONE, RequestContext(query={"showBusinessView": "", "tab": "b2b"}))
    assert not matches(rule, ANYONE, RequestContext(query={"showbusinessview": "1", "tab": "b2b"}))
    assert matches("business_account IS NOT NULL", person(business_account="x"))
    assert not matches("business_account IS NOT NULL", ANYONE)
    assert matches("user_groups IS NOT NULL", person(("s",), {"s": "g"}))
    assert matches("user_groups IS NOT NULL", person(user_groups=[]))
    assert not matches("user_groups IS NOT NULL", ANYONE)
    # a value test implies presence, so the presence atom goes
    assert only("tags IS NOT NULL AND tags CONTAINS 'vip'").atoms == {
        Atom(field("tags", True), frozenset({"vip"}))
    }


def test_negations_are_negated_atoms_that_reject() -> None:
    for text, source in (
        ("NOT IN SEGMENT 'a'", SEGMENTS),
        ("country != 'DE'", field("country")),
        ("country NOT IN ('DE')", field("country")),
        ("tags NOT CONTAINS 'vip'", field("tags", True)),
        ("business_account IS NULL", field("business_account")),
        ("NOT context.logged_in", Source(SourceKind.CONTEXT, "logged_in", False)),
    ):
        conj = only(text)
        assert not conj.atoms and not conj.residuals, text
        assert [a.source for a in conj.negated] == [source], text
    assert matches("country != 'DE'", ANYONE)  # null is not 'DE'
    assert not matches("country != 'DE'", person(country="de"))
    assert matches("NOT context.logged_in", ANYONE, RequestContext(logged_in=False))
    assert not matches("NOT context.logged_in", ANYONE, RequestContext(logged_in=True))
    assert matches("tags NOT CONTAINS 'vip' AND IN SEGMENT 's'", person(("s",), tags=["x"]))
    assert not matches("tags NOT CONTAINS 'vip' AND IN SEGMENT 's'", person(("s",), tags=["VIP"]))
    assert only("NOT (country != 'DE')").atoms == {Atom(field("country"), frozenset({"de"}))}
    assert only("NOT (business_account IS NULL)").atoms == {Atom(field("business_account"), None)}
    # NOT (a OR b) is NOT a AND NOT b: one negated atom of both values
    assert only("NOT (IN SEGMENT 'a' OR IN SEGMENT 'b')").negated == {
        Atom(SEGMENTS, frozenset({"a", "b"}))
    }
    # a sub-tree without an atom stays one residual test
    conj = only("NOT (NOT IN SEGMENT 'a' OR cart.quantity < 2)")
    assert conj.atoms == {Atom(SEGMENTS, frozenset({"a"}))} and len(conj.residuals) == 1
    assert matches("NOT (IN SEGMENT 'a' OR country != 'DE')", person(country="de"))
    assert not matches("NOT (IN SEGMENT 'a' OR country != 'DE')", person(("a",), country="de"))


def test_negated_values_combine_with_the_tests_of_their_source() -> None:
    assert only("country IN ('DE', 'FR') AND country != 'fr'").atoms == {
        Atom(field("country"), frozenset({"de"}))
    }
    for never in (
        "country = 'DE' AND country != 'de'",
        "country = 'DE' AND country IS NULL",
        "IN SEGMENT 'a' AND NOT IN SEGMENT 'a'",
        "tags CONTAINS 'x' AND tags IS NULL",
    ):
        assert conjunctions(checked(never).rule, SCHEMA) == (), never
    conj = only("business_account IS NULL AND business_account != 'acme'")
    assert conj.negated == {Atom(field("business_account"), None)}  # null has no value
    conj = only("business_account IS NOT NULL AND business_account NOT IN ('acme')")
    assert conj.atoms == {Atom(field("business_account"), None)}
    assert conj.negated == {Atom(field("business_account"), frozenset({"acme"}))}
    assert matches(
        "business_account IS NOT NULL AND business_account NOT IN ('acme')",
        person(business_account="globex"),
    )


def test_other_tests_are_residual_and_shared() -> None:
    conj = only("IN SEGMENT 'a' AND cart.subtotal >= 50 AND orders_count = 0")
    assert conj.atoms == {Atom(SEGMENTS, frozenset({"a"}))}
    assert len(conj.residuals) == 2
    for text in (
        "attributes.score = 5",  # numbers are not indexed
        "attributes.score != 5",
        "country STARTS WITH 'D'",
        "EXISTS(cart.lines WHERE brand = 'acme')",
        "country = city",
    ):
        assert not only(text).atoms, text
    index = build(*(f"IN SEGMENT 's{i}' AND cart.subtotal >= 50" for i in range(20)))
    assert index.stats()["residual_tests"] == 1  # one compiled test for all twenty
    ctx = RequestContext(cart_subtotal=Decimal("50.00"))
    assert index.match(person(("s3", "s7")), NOW, ctx) == [3, 7]
    assert index.match(person(("s3",)), NOW, RequestContext(cart_subtotal=Decimal("49.99"))) == []


def test_single_valued_tests_intersect_and_contradictions_never_match() -> None:
    assert only("country IN ('DE', 'FR') AND country = 'de'").atoms == {
        Atom(field("country"), frozenset({"de"}))
    }
    assert conjunctions(checked("country = 'DE' AND country = 'FR'").rule, SCHEMA) == ()
    assert not matches("country = 'DE' AND country = 'FR'", person(country="de"))
    # two elements of one list are two atoms
    assert len(only("tags CONTAINS 'a' AND tags CONTAINS 'b'").atoms) == 2
    assert matches("tags CONTAINS 'a' AND tags CONTAINS 'B'", person(tags=["A", "b"]))
    assert not matches("tags CONTAINS 'a' AND tags CONTAINS 'b'", person(tags=["a", "a"]))


def test_or_of_one_source_merges_and_distribution_is_exact() -> None:
    assert only("country = 'DE' OR country = 'FR'").atoms == {
        Atom(field("country"), frozenset({"de", "fr"}))
    }
    rule = "(IN SEGMENT 'a' OR IN SEGMENT 'b') AND (context.view = 'x' OR cart.quantity > 2)"
    assert len(conjunctions(checked(rule).rule, SCHEMA)) == 4
    assert matches(rule, person(("b",)), RequestContext(cart_quantity=3))
    assert not matches(rule, person(("b",)), RequestContext(cart_quantity=2))


# --- the Z list, GLOBAL, the cap ------------------------------------------------------------


def test_z_list_global_and_constant_audiences() -> None:
    index = build(None, "cart.subtotal >= 50", "true", "false", "IN SEGMENT 'a' OR true")
    stats = index.stats()
    assert stats["z_list"] == 4 and stats["k1"] == 0  # 'false' has no conjunction at all
    assert index.candidates(ANYONE) == [0, 1, 2, 4]
    assert index.match(ANYONE, NOW, None) == [0, 2, 4]
    assert index.match(ANYONE, NOW, RequestContext(cart_subtotal=Decimal(50))) == [0, 1, 2, 4]


def test_an_audience_beyond_the_cap_stays_exact() -> None:
    wide = " OR ".join(f"IN SEGMENT 's{i}'" for i in range(70))
    conj = only(wide)  # 70 disjuncts > 64: one residual test
    assert not conj.atoms and len(conj.residuals) == 1
    product = " AND ".join(f"(IN SEGMENT 'a{i}' OR country = 'c{i}')" for i in range(8))
    found = conjunctions(checked(product).rule, SCHEMA, cap=64)
    assert 0 < len(found) <= 64  # 2**8 conjunctions; the widest factors stay residual
    assert all(c.atoms for c in found)
    index = build(wide, product)
    member = person((*(f"a{i}" for i in range(7)), "s69"), country="C7")
    assert index.match(member, NOW, None) == [0, 1]
    assert index.match(person(("a1",)), NOW, None) == []
    with pytest.raises(ValueError, match="cap"):
        conjunctions(checked(wide).rule, SCHEMA, cap=0)


def test_reads_customer_and_anonymous_visitors() -> None:
    index = build(
        None,
        "context.view = 'b2b'",
        "EXISTS(cart.lines WHERE brand = 'x') OR cart.subtotal > 1",
        "IN SEGMENT 's'",
        "user_groups CONTAINS 'g'",
        "attributes.tier = 'gold'",
        "orders_count = 0 AND context.view = 'b2b'",
        "country = 'de'",
    )
    assert [index.reads_customer(i) for i in range(8)] == [False] * 3 + [True] * 5
    ctx = RequestContext(view="b2b", cart_subtotal=Decimal(5))
    assert index.match(ANYONE, NOW, ctx) == [0, 1, 2, 6]  # no orders: orders_count = 0
    assert index.match(ANYONE, NOW, ctx, known=False) == [0, 1, 2]
    with pytest.raises(KeyError):
        index.reads_customer(99)


# --- changes --------------------------------------------------------------------------------


def test_with_changes_replaces_in_place_appends_and_removes() -> None:
    index = build("IN SEGMENT 'a'", "IN SEGMENT 'b'", "IN SEGMENT 'c'")
    patched = index.with_changes(
        added=[(1, checked("IN SEGMENT 'c'")), (7, checked("IN SEGMENT 'a'"))], removed=[0]
    )
    assert patched.keys() == [1, 2, 7] and len(patched) == 3 and 0 not in patched
    assert patched.match(person(("a", "c")), NOW, None) == [1, 2, 7]
    assert index.match(person(("a", "c")), NOW, None) == [0, 2]  # the original is unchanged
    with pytest.raises(KeyError, match="not in the index"):
        index.with_changes(removed=[5])
    with pytest.raises(ValueError, match="twice"):
        AudienceIndex.build([(1, None), (1, None)], SCHEMA)
    with pytest.raises(ValueError, match="both added and removed"):
        index.with_changes(added=[(0, None)], removed=[0])


def test_compaction_after_many_removals_equals_a_rebuild() -> None:
    texts = [f"IN SEGMENT 's{i % 7}' AND (cart.quantity > {i % 3} OR context.view = 'v{i}')"
             for i in range(400)]  # fmt: skip
    audiences = [(i, checked(t)) for i, t in enumerate(texts)]
    index = AudienceIndex.build(audiences, SCHEMA)
    patched = index.with_changes(removed=range(0, 400, 2))
    patched = patched.with_changes(removed=range(1, 300, 2))
    assert patched.stats()["dead"] == 0  # compacted
    rest = [(i, checked(t)) for i, t in enumerate(texts) if i >= 300 and i % 2]
    rebuilt = AudienceIndex.build(rest, SCHEMA)
    assert patched.stats() == rebuilt.stats()
    for segs in (("s0",), ("s1", "s3"), ()):
        for ctx in (RequestContext(cart_quantity=2), RequestContext(view="V301")):
            assert patched.match(person(segs), NOW, ctx) == rebuilt.match(person(segs), NOW, ctx)
            assert patched.match(person(segs), NOW, ctx) == oracle(rest, person(segs), ctx)


# --- the property test ---------------------------------------------------------------------

SEGS = ("s0", "s1", "S1", "s2")
GROUPS = ("gold", "Gold", "staff", "İnt", "i̇nt")
ACCOUNTS = ("acme", "ACME", "globex", "Straße", "STRASSE")
WORDS = ("business", "Business", "consumer", "eu", "web", "/", "/sale")
QUERY = ("b2b", "tab")


def _lit(values: tuple[str, ...]) -> st.SearchStrategy[A.Literal]:
    return st.sampled_from(values).map(A.Literal)


def _path(dotted: str) -> A.Path:
    return A.Path(tuple(dotted.split(".")))


_STRING_FIELDS = st.sampled_from(
    ("business_account", "country", "attributes.tier", "context.view", "context.store",
     "context.channel", "context.path", "context.query.b2b", "context.query.tab")
).map(_path)  # fmt: skip
_BOOL_FIELDS = st.sampled_from(
    ("context.logged_in", "attributes.married", "newsletter_subscribed")
).map(_path)
_LISTS = st.sampled_from(("user_groups", "tags", "attributes.interests")).map(_path)
_STRINGS = (*ACCOUNTS, *WORDS, "gold")

_INDEXABLE = st.one_of(
    st.builds(A.InSegment, st.sampled_from(SEGS)),
    st.builds(A.TextMatch, st.just("CONTAINS"), _LISTS, _lit(GROUPS), st.booleans()),
    st.builds(A.Compare, st.sampled_from(("=", "!=")), _STRING_FIELDS, _lit(_STRINGS)),
    st.builds(A.Compare, st.just("="), _lit(_STRINGS), _STRING_FIELDS),
    st.builds(
        A.InList,
        _STRING_FIELDS,
        st.lists(_lit(_STRINGS), min_size=1, max_size=3).map(tuple),
        st.booleans(),
    ),
    st.builds(A.BoolTest, _BOOL_FIELDS),
    st.builds(A.Compare, st.sampled_from(("=", "!=")), _BOOL_FIELDS, st.booleans().map(A.Literal)),
    st.builds(
        A.IsNull,
        st.one_of(_STRING_FIELDS, _BOOL_FIELDS, _LISTS, st.just(_path("cart.subtotal"))),
        st.booleans(),
    ),
)
_RESIDUAL = st.one_of(
    st.builds(
        A.Compare,
        st.sampled_from((">=", ">", "<")),
        st.sampled_from(("cart.subtotal", "cart.quantity", "orders_count")).map(_path),
        st.sampled_from((0, 1, 2, 50)).map(lambda n: A.Literal(Decimal(n))),
    ),
    st.just(parse("EXISTS(cart.lines WHERE brand = 'acme')")),
    st.just(parse("context.path STARTS WITH '/s'")),
    st.just(A.BoolTest(A.Literal(True))),
    st.just(A.BoolTest(A.Literal(False))),
    random_rules(SCHEMA, max_depth=1),
)
_ATOM = st.one_of(_INDEXABLE, _INDEXABLE, _RESIDUAL)


@st.composite
def audience_rules(draw: st.DrawFn, depth: int = 3) -> A.Rule:
    kind = draw(st.sampled_from(("atom", "not", "and", "or"))) if depth else "atom"
    if kind == "atom":
        return draw(_ATOM)
    if kind == "not":
        return A.Not(draw(audience_rules(depth - 1)))
    items = draw(st.lists(audience_rules(depth - 1), min_size=2, max_size=4))
    return A.and_(*items) if kind == "and" else A.or_(*items)


_audience = st.one_of(st.none(), audience_rules().map(lambda r: check(r, SCHEMA)))
#: Audiences that often hold: a removed or replaced one would show up if it were kept.
_simple_audience = st.one_of(
    _audience, st.lists(_INDEXABLE, min_size=1, max_size=2).map(lambda r: check(A.and_(*r), SCHEMA))
)


def _maybe(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from((None, *values))


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    listed = st.lists(_maybe((*GROUPS, "vip")), max_size=3)
    fields = {
        "business_account": draw(_maybe(ACCOUNTS)),
        "country": draw(_maybe(_STRINGS)),
        "newsletter_subscribed": draw(_maybe((True, False))),
        "tags": draw(st.none() | listed),
        "user_groups": draw(st.none() | listed),
    }
    attributes = {
        "tier": draw(_maybe(_STRINGS)),
        "married": draw(_maybe((True, False))),
        "interests": draw(st.none() | listed),
    }
    statuses = st.sampled_from(("paid", "cancelled"))
    orders = [
        OrderItem(f"o{i}", NOW, draw(statuses), Decimal(10)) for i in range(draw(st.integers(0, 2)))
    ]
    profile = Profile("c", fields=fields, attributes=attributes, orders=orders)
    segments = draw(st.sets(st.sampled_from(SEGS)))
    inherited = draw(st.dictionaries(st.sampled_from(SEGS), st.sampled_from(GROUPS)))
    profile.set_segments(segments, inherited)
    return profile


_contexts = st.none() | st.builds(
    RequestContext,
    logged_in=_maybe((True, False)),
    view=_maybe(WORDS),
    store=_maybe(WORDS),
    channel=_maybe(WORDS),
    path=_maybe(WORDS),
    query=st.dictionaries(st.sampled_from((*QUERY, "B2B")), st.sampled_from(_STRINGS), max_size=2),
    cart_subtotal=_maybe((Decimal(0), Decimal("49.99"), Decimal(50), Decimal(120))),
    cart_quantity=_maybe((0, 1, 3)),
    cart_lines=st.lists(st.builds(CartLine, brand=_maybe(("acme", "ACME"))), max_size=2),
)
_requests = st.lists(st.tuples(profiles(), _contexts), min_size=1, max_size=4)
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(
    st.lists(_audience, min_size=1, max_size=12),
    st.sampled_from((1, 2, 64)),
    _requests,
)
def test_match_equals_testing_every_audience(
    rules: list[CheckedRule | None],
    cap: int,
    requests: list[tuple[Profile, RequestContext | None]],
) -> None:
    audiences = list(enumerate(rules))
    index = AudienceIndex.build(audiences, SCHEMA, cap=cap)
    for profile, context in requests:
        expected = oracle(audiences, profile, context)
        assert index.match(profile, NOW, context) == expected
        assert set(expected) <= set(index.candidates(profile, context))
        anonymous = [k for k in expected if not index.reads_customer(k)]
        assert index.match(profile, NOW, context, known=False) == anonymous


@_SETTINGS
@given(
    st.lists(_simple_audience, min_size=0, max_size=8),
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(0, 11), _simple_audience), max_size=4),
            st.sets(st.integers(0, 11), max_size=4),
        ),
        min_size=1,
        max_size=3,
    ),
    _requests,
)
def test_patching_equals_rebuilding(
    initial: list[CheckedRule | None],
    batches: list[tuple[list[tuple[int, CheckedRule | None]], set[int]]],
    requests: list[tuple[Profile, RequestContext | None]],
) -> None:
    current: dict[int, CheckedRule | None] = dict(enumerate(initial))
    index = AudienceIndex.build(current.items(), SCHEMA)
    for added, removed in batches:
        adds = dict(added)  # the last of a key wins
        gone = [k for k in removed if k in current and k not in adds]
        index = index.with_changes(added=adds.items(), removed=gone)
        for key in gone:
            del current[key]
        current.update(adds)  # dict order: a replaced key keeps its place, a new one is last
    rebuilt = AudienceIndex.build(current.items(), SCHEMA)
    assert index.keys() == rebuilt.keys() == list(current)
    for profile, context in requests:
        expected = oracle(list(current.items()), profile, context)
        assert index.match(profile, NOW, context) == expected
        assert rebuilt.match(profile, NOW, context) == expected
