"""The building blocks of reading a targeting document: JSON paths, the list of problems,
and typed field getters that record a problem and carry on (so one pass finds every
problem). Pure: no I/O. :mod:`segmint.targeting._doc_read` reads the lever kinds with them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeVar

from segmint.errors import ConfigError, RuleError
from segmint.rules import ast, check, parse
from segmint.rules.schema import Schema
from segmint.targeting import money
from segmint.targeting.model import CODE_MAX, LeverKind

#: Lever and item codes (TARGETING.md §1): as segment codes.
CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: Integers the document accepts: what a 32-bit signed column holds.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: Longest promo code a customer types (generated codes are far shorter).
PROMO_CODE_MAX = 64

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_E = TypeVar("_E", bound=enum.StrEnum)

#: A rule over the request (audience, condition) or over one cart line (a benefit target).
RuleScope = Literal["request", "line"]


class DocumentError(ConfigError):
    """A targeting document (or one lever) refused whole, with every problem found.

    ``errors`` is the list of ``(json_path, message)`` in document order, e.g.
    ``("promotions[3].benefit.percentage", "must be between 0 and 100")``; ``str()`` lists
    them one per line as ``path: message``. ``rule_errors`` maps the path of every rule
    that did not parse or type-check to its :class:`RuleError` (position and caret).
    """

    def __init__(
        self, errors: Sequence[tuple[str, str]], rule_errors: Mapping[str, RuleError] | None = None
    ) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        self.rule_errors: dict[str, RuleError] = dict(rule_errors or {})
        super().__init__("\n".join(f"{path}: {message}" for path, message in self.errors))


def at(path: str, key: str | int) -> str:
    """The JSON path of ``key`` inside ``path`` (``""`` is the root): ``promotions[3]``,
    ``promotions[3].benefit``, ``content["a b"]``."""
    if isinstance(key, int):
        return f"{path or '$'}[{key}]"
    if not _IDENT.match(key):
        return f"{path or '$'}[{json.dumps(key, ensure_ascii=False)}]"
    return f"{path}.{key}" if path else key


def shown(value: Any) -> str:
    """A value as the document spells it, cut short (for messages)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (dt.date, dt.datetime)):
        text = value.isoformat()
    elif isinstance(value, (str, int, float)):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, Mapping):
        text = "an object"
    elif isinstance(value, (list, tuple)):
        text = "a list"
    else:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def close(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1)
    return matches[0] if matches else None


def rule_message(error: RuleError) -> str:
    """A rule error on one line: RULES.md §4's head without ``error:``."""
    return error.render().split("\n", 1)[0].removeprefix("error: ")


class Problems:
    """Every problem found so far, and the context the checks need."""

    def __init__(
        self,
        schema: Schema,
        segments: Mapping[str, bool],
        known: Mapping[LeverKind, Collection[str]],
        default_currency: str,
    ) -> None:
        self.schema = schema
        self.segments = segments
        self.known = known
        self.default_currency = default_currency
        self.errors: list[tuple[str, str]] = []
        self.rule_errors: dict[str, RuleError] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.append((path or "$", message))

    def mark(self) -> int:
        return len(self.errors)

    def clean_since(self, mark: int) -> bool:
        return len(self.errors) == mark

    def raise_if_any(self) -> None:
        if self.errors:
            raise DocumentError(self.errors, self.rule_errors)

    # --- a rule ---------------------------------------------------------------------

    def rule(self, text: str, path: str, scope: RuleScope) -> bool:
        """Parse and type-check ``text`` (real-time allowed); a ``line`` rule sees the
        fields of one cart line, as inside ``EXISTS(cart.lines WHERE …)``. Every
        ``IN SEGMENT`` must name an existing segment."""
        try:
            parsed = parse(text)
            if scope == "line":
                # The target is parsed alone and wrapped as a tree, never as text: a ')' in
                # it cannot close the EXISTS, and error positions stay the target's own.
                wrapped: ast.Rule = ast.BoolTest(
                    ast.Aggregate("EXISTS", ("cart", "lines"), where=parsed)
                )
                try:
                    check(wrapped, self.schema, text=text, allow_realtime=True)
                except RuleError as error:
                    raise _as_line_error(error) from None
            else:
                check(parsed, self.schema, text=text, allow_realtime=True)
                for node in ast.walk(parsed):
                    if isinstance(node, ast.InSegment) and node.code not in self.segments:
                        span = node.span or ast.Span(0, len(text))
                        raise RuleError(
                            f"unknown segment '{node.code}'",
                            text,
                            span.start,
                            span.end,
                            suggestion=close(node.code, self.segments),
                        )
        except RuleError as error:
            self.add(path, rule_message(error))
            self.rule_errors[path or "$"] = error
            return False
        return True


class Fields:
    """One JSON object being read: refuses unknown keys and reads typed fields.

    Every getter returns a well-typed value (its default when absent, null or wrong), so
    a reader can always go on; whether the object was clean is :meth:`Problems.clean_since`.
    A ``null`` value is the same as an absent key everywhere.
    """

    def __init__(
        self, problems: Problems, data: Mapping[str, Any], path: str, allowed: Sequence[str]
    ) -> None:
        self.p = problems
        self.data = data
        self.path = path
        for key in data:
            if not isinstance(key, str):
                problems.add(path, f"keys must be strings, not {shown(key)}")
            elif key not in allowed:
                hint = close(key, allowed)
                extra = f"did you mean '{hint}'?" if hint else f"expected one of {_list(allowed)}"
                problems.add(at(path, key), f"unknown field ({extra})")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def where(self, key: str) -> str:
        return at(self.path, key)

    def bad(self, key: str, message: str) -> None:
        self.p.add(self.where(key), message)

    def required(self, key: str) -> bool:
        if self.data.get(key) is None:
            self.bad(key, "is required")
            return False
        return True

    # --- scalars --------------------------------------------------------------------

    def string(self, key: str, default: str = "", *, required: bool = False) -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                self.bad(key, "is required")
            return default
        if not isinstance(value, str):
            self.bad(key, f"must be a string, not {shown(value)}")
            return default
        return value

    def optional_string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.bad(key, f"must be a string or null, not {shown(value)}")
            return None
        return value

    def name(self, key: str) -> str | None:
        """A non-empty trimmed string (a group name, an account id, a sku), or None."""
        value = self.optional_string(key)
        if value is None:
            return None
        if not value.strip():
            self.bad(key, "must not be empty")
            return None
        return value.strip()

    def code(self, key: str = "code", *, required: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.bad(key, "is required")
            return None
        problem = code_problem(value)
        if problem:
            self.bad(key, problem)
            return None
        assert isinstance(value, str)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.bad(key, f"must be true or false, not {shown(value)}")
            return default
        return value

    def integer(self, key: str, default: int, *, positive: bool = False) -> int:
        value = self.optional_integer(key, positive=positive)
        return default if value is None else value

    def optional_integer(self, key: str, *, positive: bool = False) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            what = "a positive integer" if positive else "an integer"
            self.bad(key, f"must be {what}, not {shown(value)}")
            return None
        if positive and value < 1:
            self.bad(key, f"must be a positive integer, not {value}")
            return None
        if not INT_MIN <= value <= INT_MAX:
            self.bad(key, f"must be between {INT_MIN} and {INT_MAX}")
            return None
        return value

    def choice(self, key: str, kind: type[_E], default: _E) -> _E:
        """One of an enum's values; ``default`` when absent (or wrong, reported)."""
        found = self.required_choice(key, kind, missing_ok=True)
        return default if found is None else found

    def required_choice(self, key: str, kind: type[_E], *, missing_ok: bool = False) -> _E | None:
        value = self.data.get(key)
        names = [m.value for m in kind]
        if value is None:
            if not missing_ok:
                self.bad(key, f"is required (one of {_list(names)})")
            return None
        if not isinstance(value, str) or value not in names:
            hint = close(value, names) if isinstance(value, str) else None
            extra = f" (did you mean '{hint}'?)" if hint else ""
            self.bad(key, f"must be one of {_list(names)}, not {shown(value)}{extra}")
            return None
        return kind(value)

    def instant(self, key: str) -> dt.datetime | None:
        value = self.data.get(key)
        if value is None:
            return None
        problem, parsed = parse_instant(value)
        if problem:
            self.bad(key, problem)
        return parsed

    # --- structure ------------------------------------------------------------------

    def object(self, key: str, *, required: bool = False) -> Mapping[str, Any] | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.bad(key, "is required")
            return None
        if not isinstance(value, Mapping):
            self.bad(key, f"must be an object, not {shown(value)}")
            return None
        return value

    def array(self, key: str, *, required: bool = False) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            if required:
                self.bad(key, "is required")
            return []
        if not isinstance(value, (list, tuple)):
            self.bad(key, f"must be a list, not {shown(value)}")
            return []
        return list(value)

    def strings(self, key: str) -> list[tuple[str, str]]:
        """A list of strings, each with its path (non-strings are reported and dropped)."""
        out: list[tuple[str, str]] = []
        for i, item in enumerate(self.array(key)):
            where = at(self.where(key), i)
            if not isinstance(item, str):
                self.p.add(where, f"must be a string, not {shown(item)}")
            else:
                out.append((where, item))
        return out

    # --- money and rules ------------------------------------------------------------

    def amount(self, key: str, currency: str | None, *, required: bool = True) -> Decimal | None:
        """An amount >= 0 with at most ``currency``'s digits, kept with exactly that many
        (``"5"`` USD reads as ``Decimal("5.00")``); ``currency`` None: not checked yet."""
        value = self.data.get(key)
        if value is None:
            if required:
                self.bad(key, "is required")
            return None
        problem, amount = parse_decimal(value)
        if amount is None:
            self.bad(key, problem)
            return None
        if amount < 0:
            self.bad(key, f"must not be negative, not {format(amount, 'f')}")
            return None
        if currency is None:
            return amount
        if not money.fits(amount, currency):
            self.bad(
                key,
                f"{format(amount, 'f')} has more digits than {currency} allows "
                f"({money.digits(currency)} after the point)",
            )
            return None
        return amount.quantize(money.quantum(currency))

    def percentage(self, key: str) -> Decimal | None:
        value = self.data.get(key)
        if value is None:
            self.bad(key, "is required")
            return None
        problem, number = parse_decimal(value)
        if number is None:
            self.bad(key, problem)
            return None
        if not Decimal(0) < number <= Decimal(100):
            self.bad(key, "must be between 0 and 100")
            return None
        return number

    def currency(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        try:
            return money.check_currency(value)
        except money.MoneyError as error:
            self.bad(key, str(error))
            return None

    def rule(self, key: str, scope: RuleScope, empty_means: str) -> str | None:
        """Rule text (kept as written), parsed and type-checked; None when absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.bad(key, f"must be rule text or null, not {shown(value)}")
            return None
        if not value.strip():
            self.bad(key, f"is an empty rule; write null for {empty_means}")
            return None
        self.p.rule(value, self.where(key), scope)
        return value


_LINE_FIELDS = "sku, product_name, brand, category, quantity, unit_price or amount"


def _as_line_error(error: RuleError) -> RuleError:
    """A checker error inside the ``EXISTS(cart.lines WHERE …)`` wrapper, said in terms
    of what the merchant wrote: a condition on one cart line."""
    message, expected = error.message, error.expected
    if message.startswith("unknown field") and message.endswith(" in cart.lines"):
        message = message.removesuffix(" in cart.lines") + " of a cart line"
        expected = _LINE_FIELDS
    elif message.startswith("an aggregate cannot be nested"):
        message = "a condition on one cart line cannot hold an aggregate"
        expected = f"a condition on {_LINE_FIELDS}"
    elif message.startswith("IN SEGMENT inside"):
        message = "IN SEGMENT in a condition on one cart line"
        expected = "only the line's fields; customer tests go in the audience or condition"
    return RuleError(
        message, error.text, error.start, error.end, expected=expected, suggestion=error.suggestion
    )


def _list(names: Iterable[str]) -> str:
    return ", ".join(names)


def code_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {shown(value)}"
    if len(value) > CODE_MAX:
        return f"must be at most {CODE_MAX} characters"
    if not CODE_PATTERN.match(value):
        if CODE_PATTERN.match(value.lower()):
            return f"{shown(value)} is not a valid code (codes are lower case: '{value.lower()}')"
        return (
            f"{shown(value)} is not a valid code (a-z, 0-9, _ and -, starting with a letter or "
            "digit)"
        )
    return None


def parse_decimal(value: object) -> tuple[str, Decimal | None]:
    """A decimal from its JSON form (a string, an integer, or a Decimal); never a float."""
    if isinstance(value, float):
        return (
            f'write amounts and percentages as strings, e.g. "12.50" ({shown(value)} is read '
            "as a floating-point number, which is not exact)",
            None,
        )
    if isinstance(value, Decimal):
        if not value.is_finite():
            return f"{value} is not a number", None
        value = format(value, "f")
    try:
        number = money.parse_amount(value, negative=True)
    except money.MoneyError as error:
        return str(error), None
    return "", number.copy_abs() if number == 0 else number  # no "-0.00" in an export


def parse_instant(value: object) -> tuple[str, dt.datetime | None]:
    """An aware instant normalised to UTC, from ISO-8601 text with a zone (or an aware
    datetime, as YAML reads an unquoted timestamp)."""
    example = 'e.g. "2026-12-01T00:00:00Z"'
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return f"{shown(value)} has no time zone; write an instant with a zone, {example}", None
        return "", value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return f"{shown(value)} is a date; write an instant with a time and zone, {example}", None
    if not isinstance(value, str):
        return f"must be an instant as a string, {example}, not {shown(value)}", None
    text = value.strip()
    if "T" not in text.upper() and " " not in text:
        return f"{shown(value)} is not an instant with a time and zone, {example}", None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return f"{shown(value)} is not an ISO-8601 instant, {example}", None
    if parsed.tzinfo is None:
        return f"{shown(value)} has no time zone; add Z or an offset, {example}", None
    return "", parsed.astimezone(dt.UTC)
