"""The targeting document (TARGETING.md §1): read and validate it whole, write it back.

    >>> doc = read_document(load_text(text, "levers.yaml"), schema, segments={"vip": True})
    >>> write_document(doc) == write_document(read_document(write_document(doc), schema, ...))

:func:`read_document` checks EVERYTHING before returning and raises one
:class:`DocumentError` listing every problem with its JSON path
(``promotions[3].benefit.percentage: must be between 0 and 100``): nothing is ever
partially accepted. Reading is deterministic (each kind sorted by code, a price list's
entries by sku and quantity, a placement's items in document order), so ``levers apply``
can upsert by code and compare versions by equality; :func:`write_document` writes every
field, and ``read_document(write_document(d)) == d``.

Decisions the spec leaves open are listed in the module docstrings of
:mod:`~segmint.targeting._doc_read` and in docs/targeting.md.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Mapping
from pathlib import PurePath
from typing import Any

import yaml

from segmint.errors import RuleError
from segmint.rules.schema import Schema
from segmint.targeting import money
from segmint.targeting._doc_fields import DocumentError, Fields, Problems, RuleScope, at, shown
from segmint.targeting._doc_read import (
    References,
    read_account,
    read_campaign,
    read_placement,
    read_price_list,
    read_promotion,
)
from segmint.targeting._doc_write import lever_to_data, write_document
from segmint.targeting.model import (
    AccountPortal,
    Campaign,
    Lever,
    LeverKind,
    Placement,
    PriceList,
    Promotion,
    TargetingDocument,
    key_of,
)

__all__ = [
    "DocumentError",
    "RuleScope",
    "check_audience",
    "check_rule",
    "lever_from_data",
    "lever_to_data",
    "load_text",
    "read_document",
    "write_document",
]

KINDS: tuple[str, ...] = tuple(kind.value for kind in LeverKind)


def read_document(
    data: Mapping[str, Any],
    schema: Schema,
    *,
    segments: Mapping[str, bool],
    known: Mapping[LeverKind, Collection[str]] | None = None,
    default_currency: str = money.DEFAULT_CURRENCY,
) -> TargetingDocument:
    """Validate a whole document and return it as data, or raise :class:`DocumentError`.

    ``segments`` maps every existing segment code to whether it is materialized (an
    audience's ``IN SEGMENT`` must name one; levers are evaluated per request, so a
    real-time segment is as good as any). ``known`` holds, per kind, the codes the store
    has outside this document, which a promotion's ``campaign`` and an item's
    ``when_near`` may name. Amounts without a currency of their own are checked against
    ``default_currency``'s digits.
    """
    money.check_currency(default_currency)
    p = Problems(schema, segments, known or {}, default_currency)
    if not isinstance(data, Mapping):
        raise DocumentError(
            [("$", f"a targeting document is an object with {', '.join(KINDS)}, not {shown(data)}")]
        )
    top = Fields(p, data, "", KINDS)
    refs = References.of(data, known or {})
    campaigns = _each(p, top, LeverKind.CAMPAIGN, lambda v, path: read_campaign(p, v, path))
    promotions = _each(
        p, top, LeverKind.PROMOTION, lambda v, path: read_promotion(p, v, path, refs)
    )
    price_lists = _each(p, top, LeverKind.PRICE_LIST, lambda v, path: read_price_list(p, v, path))
    placements = _each(
        p, top, LeverKind.PLACEMENT, lambda v, path: read_placement(p, v, path, refs)
    )
    accounts = _each(p, top, LeverKind.ACCOUNT, lambda v, path: read_account(p, v, path))
    p.raise_if_any()
    return TargetingDocument(
        campaigns=tuple(x for x in campaigns if isinstance(x, Campaign)),
        promotions=tuple(x for x in promotions if isinstance(x, Promotion)),
        price_lists=tuple(x for x in price_lists if isinstance(x, PriceList)),
        placements=tuple(x for x in placements if isinstance(x, Placement)),
        accounts=tuple(x for x in accounts if isinstance(x, AccountPortal)),
    )


def _each(
    p: Problems, top: Fields, kind: LeverKind, read: Callable[[Any, str], Lever | None]
) -> list[Lever]:
    """Read every lever of one kind; codes must be unique (account ids ignoring case,
    as rules compare ``business_account``). The result is sorted by code."""
    out: list[Lever] = []
    seen: dict[str, str] = {}
    key = "id" if kind is LeverKind.ACCOUNT else "code"
    for i, value in enumerate(top.array(kind.value)):
        path = at(kind.value, i)
        lever = read(value, path)
        if lever is None:
            continue
        code = key_of(lever)
        folded = code.lower() if kind is LeverKind.ACCOUNT else code
        if folded in seen:
            p.add(at(path, key), f"duplicate {kind.singular} {key} '{code}' (also {seen[folded]})")
            continue
        seen[folded] = path
        out.append(lever)
    return sorted(out, key=key_of)


def lever_from_data(
    kind: LeverKind,
    data: Mapping[str, Any],
    schema: Schema,
    *,
    segments: Mapping[str, bool],
    known: Mapping[LeverKind, Collection[str]] | None = None,
    default_currency: str = money.DEFAULT_CURRENCY,
    references: References | None = None,
) -> Lever:
    """One lever of ``kind`` (the API's one-resource-per-kind form): checked as in a
    document, with JSON paths starting at the lever's own fields (``benefit.percentage``).
    References resolve against ``known`` only (the store's codes); promo codes are
    checked unique within this lever only: the caller checks them against the store.
    ``references``: ``known`` already gathered (:func:`known_references`), for a caller
    reading many levers against the same store."""
    money.check_currency(default_currency)
    p = Problems(schema, segments, known or {}, default_currency)
    base = references if references is not None else References.of({}, known or {})
    refs = dataclasses.replace(base, promo_codes={})  # the sets are shared, read only
    readers: dict[LeverKind, Callable[[], Lever | None]] = {
        LeverKind.CAMPAIGN: lambda: read_campaign(p, data, ""),
        LeverKind.PROMOTION: lambda: read_promotion(p, data, "", refs),
        LeverKind.PRICE_LIST: lambda: read_price_list(p, data, ""),
        LeverKind.PLACEMENT: lambda: read_placement(p, data, "", refs),
        LeverKind.ACCOUNT: lambda: read_account(p, data, ""),
    }
    lever = readers[LeverKind(kind)]()
    p.raise_if_any()
    assert lever is not None  # a reader returns None only after recording a problem
    return lever


def known_references(known: Mapping[LeverKind, Collection[str]]) -> References:
    """The references of the store's codes, gathered once for :func:`lever_from_data`."""
    return References.of({}, known)


def check_audience(text: str, schema: Schema, *, segments: Mapping[str, bool]) -> RuleError | None:
    """The problem with one audience, checked exactly as when its lever is saved (parsed,
    type-checked with real-time allowed, every ``IN SEGMENT`` naming a segment); None if
    it is valid. For live validation while an audience is typed."""
    return check_rule(text, schema, segments=segments, scope="request")


def check_rule(
    text: str, schema: Schema, *, segments: Mapping[str, bool], scope: RuleScope = "request"
) -> RuleError | None:
    """The problem with one rule of a lever, checked exactly as when it is saved:
    ``request`` for audiences and conditions, ``line`` for a benefit's ``target``,
    ``buy`` and ``get`` (a condition on one cart line). None if it is valid."""
    p = Problems(schema, segments, {}, money.DEFAULT_CURRENCY)
    if p.rule(text, "rule", scope):
        return None
    return p.rule_errors["rule"]


# --- files ------------------------------------------------------------------------------


def load_text(text: str, filename: str) -> Any:
    """Parse a document file: JSON or YAML by extension (``.json``, ``.yaml``/``.yml``),
    else sniffed (JSON if it starts with ``{`` or ``[`` and parses, YAML otherwise).

    A syntax error raises :class:`DocumentError` whose path is ``FILE:LINE:COLUMN``.
    Duplicate keys in one object are refused (both parsers would silently keep the
    last). YAML is read with ``safe_load`` rules: unquoted timestamps become datetimes
    (aware ones are accepted as instants, naive ones refused by the reader), and
    unquoted numbers with a point become floats, which amounts refuse (write ``"12.50"``).
    """
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".json":
        return _load_json(text, filename)
    if suffix in (".yaml", ".yml"):
        return _load_yaml(text, filename)
    if text.lstrip().startswith(("{", "[")):
        try:
            return _load_json(text, filename)
        except DocumentError as json_error:
            try:
                return _load_yaml(text, filename)
            except DocumentError:
                raise json_error from None
    return _load_yaml(text, filename)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _load_json(text: str, filename: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise DocumentError(
            [(f"{filename}:{error.lineno}:{error.colno}", f"invalid JSON: {error.msg}")]
        ) from None
    except _DuplicateKey as error:
        raise DocumentError(
            [(filename, f"invalid JSON: duplicate key {json.dumps(error.key)} in one object")]
        ) from None
    except ValueError as error:
        raise DocumentError([(filename, f"invalid JSON: {error}")]) from None


class _StrictLoader(yaml.SafeLoader):
    """``safe_load`` that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in out
        except TypeError:  # an unhashable key (a list or mapping as a key)
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a string", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {shown(key)} in one mapping", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_yaml(text: str, filename: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = error.problem or error.context or "syntax error"
        raise DocumentError([(where, f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as error:
        raise DocumentError([(filename, f"invalid YAML: {error}")]) from None
