"""Answering a request with what the visitor sees (TARGETING.md §3 and §6).

:class:`Targeting` keeps the compiled lever catalog in memory, beside the segment
evaluator's caches: every placement item's audience type-checked and compiled once, and
matched per request through the audience index (only its candidates run a predicate).
The catalog is rebuilt when ``levers_version`` moves: the API calls :meth:`invalidate` on
every lever change, and every ``catalog_ttl`` seconds the version is read again so that
changes from another process (the CLI) show without a restart.

An audience that reads stored customer data (fields, attributes, purchases, events,
``user_groups``, ``IN SEGMENT`` of a segment that needs a customer) never matches an
anonymous or unknown visitor; ``IN SEGMENT`` of a real-time segment over the request
alone can. Lever
audiences see the visitor's segments as evaluated for this request — materialized and
real-time — and the user groups all of them give.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import orjson

from segmint.compile.audience_index import AudienceIndex
from segmint.engine.explain import explain
from segmint.errors import RuleError
from segmint.model.profile import Profile, RequestContext
from segmint.rules import ast, check, parse
from segmint.rules.checker import CheckedRule
from segmint.rules.schema import Schema
from segmint.services.cart_pricing import (
    CachedReads,
    NeedsStore,
    PricedRequest,
    PricingCatalog,
    PricingReads,
    ProductCache,
    StoreReads,
    cart_context,
    price_request,
    priced_context,
    request_cart,
)
from segmint.services.evaluate import Evaluation, Evaluator
from segmint.services.evaluate_request import TargetingRequest
from segmint.services.levers import current_document, default_currency
from segmint.store.base import Store
from segmint.store.levers import LeverRepository
from segmint.targeting import content as C
from segmint.targeting import money
from segmint.targeting.cart import Cart, NearMiss, PricedCart
from segmint.targeting.model import Placement, PlacementItem
from segmint.targeting.placements import Answer, Reason, choose, ordered

ItemKey = tuple[str, str]  # (placement code, item code)


def reads_customer(checked: CheckedRule) -> bool:
    """Whether a rule reads stored customer data itself (``IN SEGMENT`` aside: a
    real-time segment over the request alone is not stored data)."""
    return bool(
        checked.customer_fields or checked.attributes or (checked.collections - {"cart.lines"})
    )


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per catalog
class CompiledItem:
    placement: str
    item: PlacementItem
    checked: CheckedRule | None  # None: GLOBAL, or an audience that no longer checks
    broken: str | None  # why a stored audience no longer type-checks
    reads_customer: bool  # reads stored customer data itself
    paths: frozenset[str]  # the {{path}}s its content reads
    rank: int  # its position in the placement's priority order
    shown_json: str | None  # its answer, pre-encoded, when the content has no {{path}}

    def needs_customer(self, anonymous_segments: frozenset[str]) -> bool:
        """Whether only a known customer can match: the audience reads stored data, or
        is IN SEGMENT of a segment an anonymous visitor cannot be in."""
        if self.checked is None:
            return False
        return self.reads_customer or not self.checked.segments <= anonymous_segments


@dataclass(frozen=True)
class LeverCatalog:
    version: int
    placements: dict[str, Placement]  # by code, sorted
    items: dict[ItemKey, CompiledItem]
    ranked: dict[str, list[CompiledItem]]  # each placement's items in priority order
    index: AudienceIndex[ItemKey]
    reads_profile: bool  # some audience, condition or content reads the stored profile
    currency: str
    schema: Schema
    pricing: PricingCatalog
    checked_at: float = field(default=0.0, compare=False)


def _customer_path(path: str) -> bool:
    return not (path == "missing" or path.startswith(("context.", "cart.")))


def build_catalog(store: Store) -> LeverCatalog:
    """Compile every stored placement (one read of the lever tables)."""
    store.require_schema()
    version = LeverRepository(store).catalog_version()
    schema = store.rule_schema()
    document = current_document(store)
    currency = default_currency(store)
    pricing = PricingCatalog.build(document, schema, currency)
    placements = {p.code: p for p in sorted(document.placements, key=_code)}
    items: dict[ItemKey, CompiledItem] = {}
    audiences: list[tuple[ItemKey, CheckedRule | None]] = []
    ranked: dict[str, list[CompiledItem]] = {}
    for placement in placements.values():
        for rank, item in enumerate(ordered(placement.items)):
            key = (placement.code, item.code)
            checked, broken = None, None
            if item.audience is not None:
                try:
                    checked = check(parse(item.audience), schema, allow_realtime=True)
                except RuleError as exc:
                    broken = str(exc)
            paths = frozenset(C.placeholders(item.content))
            own = checked is not None and reads_customer(checked)
            fixed = None if paths else _shown_json(item.code, item.content)
            compiled = CompiledItem(placement.code, item, checked, broken, own, paths, rank, fixed)
            items[key] = compiled
            ranked.setdefault(placement.code, []).append(compiled)
            if broken is None:
                audiences.append((key, checked))
    reads_profile = pricing.reads_profile or any(
        ci.reads_customer or any(map(_customer_path, ci.paths)) for ci in items.values()
    )
    return LeverCatalog(
        version=version,
        placements=placements,
        items=items,
        ranked=ranked,
        index=AudienceIndex.build(audiences, schema),
        reads_profile=reads_profile,
        currency=currency,
        schema=schema,
        pricing=pricing,
        checked_at=time.monotonic(),
    )


def _code(p: Placement) -> str:
    return p.code


def _shown_json(code: str, content: Any) -> str:
    return _dumps({"item": code, "content": content})


@dataclass(frozen=True)
class PlacementAnswer:
    code: str
    shown: list[str]  # item codes, in order
    shown_json: list[str]  # each one's answer, encoded
    rejected: list[dict[str, Any]]


@dataclass(frozen=True)
class TargetingAnswer:
    as_of: dt.datetime
    evaluation: Evaluation
    pricing: PricedRequest
    pricing_rejected: list[dict[str, Any]]  # promotions, codes, then price lists
    placements: list[PlacementAnswer]
    explain: bool

    @property
    def priced(self) -> PricedCart:
        return self.pricing.priced

    def to_json(self) -> bytes:
        """The answer document; segments and groups come pre-encoded (the hot path)."""
        e = self.evaluation
        groups = "[" + ",".join(e.user_groups_json) + "]"
        segments = ",".join(s.json for s in e.segments)
        customer = json.dumps(e.customer_id, ensure_ascii=False)
        known = "true" if e.known else "false"
        as_of = json.dumps(self.as_of.isoformat().replace("+00:00", "Z"))
        shown = (
            "{"
            + ",".join(
                json.dumps(p.code) + ":[" + ",".join(p.shown_json) + "]" for p in self.placements
            )
            + "}"
        )
        priced = self.pricing.priced
        rejected = list(self.pricing_rejected)
        if self.explain:
            rejected += [r for p in self.placements for r in p.rejected]
        answer = priced.to_dict()
        answer["rejected"] = rejected
        cart = _dumps(answer)
        return (
            f'{{"customer_id":{customer},"known":{known},"segments":[{segments}],'
            f'"user_groups":{groups},"as_of":{as_of},'
            f'"customer":{{"id":{customer},"known":{known}}},{cart[1:-1]},'
            f'"placements":{shown}}}'
        ).encode()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.to_json())
        return data


def _dumps(data: Any) -> str:
    """Compact JSON, non-ASCII as is: what ``json.dumps(ensure_ascii=False,
    separators=(",", ":"))`` writes, by orjson (several times faster on an answer's
    cart). A text orjson refuses (a lone surrogate) goes to json, as before."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def audience_profile(evaluation: Evaluation) -> Profile:
    """The profile lever audiences read: the stored one (when known) with every segment
    this request matched and the groups they give."""
    base = evaluation.profile
    if base is not None and evaluation.known:
        profile = base.with_data()
    else:
        profile = Profile(id=evaluation.customer_id or "")
    profile.set_segments(
        (s.code for s in evaluation.segments), {s.code: s.user_group for s in evaluation.segments}
    )
    return profile


class _Resolver:
    """``{{path}}`` values for one request; ``{{missing}}`` is what the item's
    ``when_near`` promotion misses."""

    def __init__(
        self,
        profile: Profile,
        known: bool,
        context: RequestContext,
        currency: str,
        near: dict[str, str],
    ) -> None:
        self.profile, self.known, self.context = profile, known, context
        self.digits = money.digits(currency)
        self.near = near
        self.missing: str | None = None

    def for_item(self, item: PlacementItem) -> _Resolver:
        self.missing = self.near.get(item.when_near) if item.when_near is not None else None
        return self

    def __call__(self, path: str) -> str | None:
        c = self.context
        if path == "missing":
            return self.missing
        if path.startswith("context.query."):
            return c.query.get(path.removeprefix("context.query."))
        if path.startswith("context."):
            name = path.removeprefix("context.")
            if name in ("logged_in", "view", "store", "channel", "path"):
                return C.as_text(getattr(c, name))
            return None
        if path == "cart.subtotal":
            return C.as_text(c.cart_subtotal, self.digits)
        if path == "cart.quantity":
            return C.as_text(c.cart_quantity)
        if path.startswith("cart.") or not self.known:
            return None  # customer paths need a customer
        if path in ("id", "customer_id"):
            return self.profile.id
        if path.startswith("attributes."):
            return C.as_text(self.profile.attributes.get(path.removeprefix("attributes.")))
        return C.as_text(self.profile.fields.get(path))


def _missing_text(near: NearMiss, currency: str) -> str:
    """A near miss's missing amount as ``{{missing}}`` shows it: the subtotal's amount
    when a subtotal is missing, else the quantity."""
    shown = near.to_dict(currency)["missing"]
    value = shown.get("cart.subtotal", shown.get("cart.quantity"))
    return str(value) if value is not None else ""


@dataclass
class Targeting:
    """The lever catalog cache and the per-request answer; one per app (thread-safe)."""

    evaluator: Evaluator
    catalog_ttl: float = 5.0
    #: After a catalog is built, collect once and freeze what survives (gc.freeze): the
    #: catalog's many long-lived objects then leave the collector's scans, which would
    #: otherwise visit all of them in every full collection, a request's tail latency.
    #: For a long-running server (api/deps.py); a CLI call leaves the heap alone.
    freeze_heap: bool = False
    _catalog: LeverCatalog | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _generation: int = 0
    products: ProductCache = field(default_factory=ProductCache)

    def invalidate(self) -> None:
        with self._lock:
            self._catalog = None
            self._generation += 1

    def invalidate_products(self) -> None:
        self.products.invalidate()

    def cached_catalog(self) -> LeverCatalog | None:
        catalog = self._catalog
        if catalog is None or time.monotonic() - catalog.checked_at > self.catalog_ttl:
            return None
        return catalog

    def catalog(self, store: Store) -> LeverCatalog:
        catalog = self.cached_catalog()
        if catalog is not None:
            return catalog
        generation = self._generation
        old = self._catalog
        if old is not None and LeverRepository(store).catalog_version() == old.version:
            catalog = LeverCatalog(**{**old.__dict__, "checked_at": time.monotonic()})
        else:
            catalog = build_catalog(store)
            if self.freeze_heap:
                gc.unfreeze()  # the previous catalog's objects may be garbage now
                gc.collect()
                gc.freeze()
        with self._lock:
            if generation == self._generation:
                self._catalog = catalog
        return catalog

    def answer(
        self,
        store: Store,
        request: TargetingRequest,
        now: dt.datetime,
        reads: PricingReads | None = None,
    ) -> TargetingAnswer:
        """Evaluate ``request`` at its ``as_of`` (default ``now``), reading the store only
        for what the caches lack. ``reads``: where pricing reads counts and products
        (default: this store; a checkout passes its own, inside its transaction)."""
        catalog = self.catalog(store)
        at = request.as_of or now
        if reads is None:
            reads = StoreReads(store, self.products)
        cart = request_cart(catalog.pricing, request.cart, reads)
        context = cart_context(request.context, cart)
        evaluation = self.evaluator.evaluate(
            store, request.customer_id, context, at, catalog.reads_profile
        )
        segments = self.evaluator.catalog(store)
        return _answer(
            catalog, request, cart, context, evaluation, at, segments.anonymous_segments, reads
        )

    def answer_cached(self, request: TargetingRequest, now: dt.datetime) -> TargetingAnswer | None:
        """:meth:`answer` from the caches alone, or None when they lack something."""
        catalog = self.cached_catalog()
        if catalog is None:
            return None
        pricing = catalog.pricing
        if pricing.budgeted or (request.codes and pricing.generated):
            return None  # budgets and generated codes are read from the store: go there first
        at = request.as_of or now
        reads = CachedReads(self.products)
        try:
            cart = request_cart(catalog.pricing, request.cart, reads)
            context = cart_context(request.context, cart)
            evaluation = self.evaluator.evaluate_cached(
                request.customer_id, context, at, catalog.reads_profile
            )
            segments = self.evaluator.cached_catalog()
            if evaluation is None or segments is None:
                return None
            return _answer(
                catalog, request, cart, context, evaluation, at, segments.anonymous_segments, reads
            )
        except NeedsStore:
            return None


def _answer(
    catalog: LeverCatalog,
    request: TargetingRequest,
    cart: Cart,
    requested: RequestContext,
    evaluation: Evaluation,
    at: dt.datetime,
    anonymous_segments: frozenset[str],
    reads: PricingReads,
) -> TargetingAnswer:
    profile = audience_profile(evaluation)
    known = evaluation.known
    pricing = price_request(
        catalog.pricing,
        cart,
        request.codes,
        profile,
        customer_id=evaluation.customer_id,
        known=known,
        context=requested,
        at=at,
        reads=reads,
        anonymous_segments=anonymous_segments,
        explain=request.explain,
    )
    priced = pricing.priced
    pricing_rejected = _pricing_rejected(catalog, priced, profile, requested, at, request.explain)
    context = priced_context(requested, priced) if cart.lines else requested
    near = {n.promotion: _missing_text(n, priced.currency) for n in priced.near}
    codes: Iterable[str] = (
        catalog.placements if request.placements is None else dict.fromkeys(request.placements)
    )
    matched = catalog.index.match(profile, at, context) if catalog.items else []
    # the matched items of each placement, in priority order (what choose visits first)
    found: dict[str, list[CompiledItem]] = {}
    items = catalog.items
    asked = None if request.placements is None else frozenset(request.placements)
    for key in matched:
        if asked is None or key[0] in asked:
            compiled = items[key]
            found.setdefault(compiled.placement, []).append(compiled)
    resolve = _Resolver(profile, known, context, catalog.currency, near)
    answers: list[PlacementAnswer] = []

    def applies(item: PlacementItem, code: str) -> tuple[str, str] | None:
        compiled = items[(code, item.code)]
        if compiled.broken is not None:
            return Reason.AUDIENCE, f"the audience no longer type-checks: {compiled.broken}"
        if not known and compiled.needs_customer(anonymous_segments):
            return Reason.LOGIN_REQUIRED, "the audience reads customer data: a known customer only"
        if compiled in hits:
            return None
        return Reason.AUDIENCE, f"the audience is false: {item.audience}"

    hits: set[CompiledItem] = set()
    if request.explain:
        hits = {items[key] for key in matched}
    for code in codes:
        placement = catalog.placements.get(code)
        if placement is None:
            rejected = [
                {
                    "placement": code,
                    "item": None,
                    "reason": "unknown_placement",
                    "detail": f"no placement {code!r}",
                }
            ]
            answers.append(PlacementAnswer(code, [], [], rejected if request.explain else []))
            continue
        candidates = sorted(found.get(code, ()), key=_RANK)
        if not request.explain:
            hits = set(candidates)
        result = choose(
            placement,
            at,
            context.store,
            functools.partial(_applies_in, applies, code),
            near=near,
            candidates=[c.item for c in candidates],
            presorted=True,
            explain=request.explain,
        )
        answers.append(_placement_answer(catalog, result, profile, context, at, resolve))
    return TargetingAnswer(at, evaluation, pricing, pricing_rejected, answers, request.explain)


_RANK = attrgetter("rank")


def _applies_in(
    applies: Callable[[PlacementItem, str], tuple[str, str] | None], code: str, item: PlacementItem
) -> tuple[str, str] | None:
    return applies(item, code)


def _false_parts(
    rule: ast.Rule | None,
    profile: Profile,
    at: dt.datetime,
    schema: Schema,
    context: RequestContext,
) -> list[dict[str, str]]:
    """The parts of a checked rule that are false, as ``segmint explain`` shows them."""
    if rule is None:
        return []
    steps = explain(rule, profile, at, schema, context).steps
    return [{"text": s.text, "sentence": s.sentence} for s in steps if not s.value]


def _pricing_rejected(
    catalog: LeverCatalog,
    priced: PricedCart,
    profile: Profile,
    context: RequestContext,
    at: dt.datetime,
    explain_all: bool,
) -> list[dict[str, Any]]:
    """The answer's promotion and price-list rejections; for ``audience`` and
    ``condition``, the false parts (with ``explain``), of the rules as compiled."""
    rules = catalog.pricing.rules
    out: list[dict[str, Any]] = []
    for r in priced.rejected:
        entry = r.to_dict()
        if explain_all and r.promotion is not None:
            if r.reason == Reason.AUDIENCE:
                audience = rules.audience_checked.get(("promotion", r.promotion))
                rule = audience.rule if audience is not None else None
                entry["false"] = _false_parts(rule, profile, at, catalog.schema, context)
            elif r.reason == "condition":
                seen = r.seen if r.seen is not None else context
                rule = rules.condition_asts.get(r.promotion)
                entry["false"] = _false_parts(rule, profile, at, catalog.schema, seen)
        out.append(entry)
    for pr in priced.price_lists_rejected:
        entry = pr.to_dict()
        if pr.reason == Reason.AUDIENCE:
            audience = rules.audience_checked.get(("price_list", pr.price_list))
            rule = audience.rule if audience is not None else None
            entry["false"] = _false_parts(rule, profile, at, catalog.schema, context)
        out.append(entry)
    return out


def _placement_answer(
    catalog: LeverCatalog,
    result: Answer,
    profile: Profile,
    context: RequestContext,
    at: dt.datetime,
    resolve: _Resolver,
) -> PlacementAnswer:
    code = result.placement.code
    shown: list[str] = []
    for s in result.shown:
        fixed = catalog.items[(code, s.item.code)].shown_json
        shown.append(
            fixed
            if fixed is not None
            else _shown_json(s.item.code, C.render(s.item.content, resolve.for_item(s.item)))
        )
    rejected: list[dict[str, Any]] = []
    for r in result.rejected:
        entry = r.to_dict(code)
        compiled = catalog.items[(code, r.item.code)]
        if r.reason == Reason.AUDIENCE and compiled.checked is not None:
            entry["false"] = _false_parts(
                compiled.checked.rule, profile, at, catalog.schema, context
            )
        rejected.append(entry)
    return PlacementAnswer(code, [s.item.code for s in result.shown], shown, rejected)
