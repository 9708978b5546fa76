"""A hand-written recursive-descent parser for the rule language (RULES.md §2).

``parse(text)`` returns the AST of :mod:`segmint.rules.ast` with a span on every node.
Only :class:`RuleError` (and its subclass :class:`RuleLimitError`) ever escapes: the
text length and the nesting depth are bounded, so no input can hang the parser or
exhaust the Python stack.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Final, NoReturn, cast

from segmint.errors import RuleError, RuleLimitError
from segmint.rules import ast
from segmint.rules import tokens as tk

#: The longest rule text accepted, in characters.
MAX_LENGTH: Final = 20_000
#: The deepest nesting of parentheses, NOT and aggregate WHERE clauses accepted.
MAX_DEPTH: Final = 64

_AGGREGATES: Final = ("COUNT", "SUM", "AVG", "MIN", "MAX", "EXISTS")
_TEXT_OPS: Final = {"CONTAINS": "CONTAINS", "STARTS": "STARTS WITH", "ENDS": "ENDS WITH"}
_AFTER_VALUE: Final = (
    "a comparison (=, !=, <, <=, >, >=, BETWEEN, IN, IS NULL, CONTAINS, "
    "STARTS WITH, ENDS WITH, WITHIN)"
)
_VALUE: Final = "a field, literal, relative time or aggregate"
_VALUE_STARTS: Final = frozenset(
    {tk.STRING, tk.NUMBER, tk.DATE, tk.TIMESTAMP, tk.RELATIVE, tk.PATH, tk.DURATION}
)


def parse(text: str) -> ast.Rule:
    """Parse a rule; raises :class:`RuleError` with position, caret and what was expected.

    Rules are immutable, so one text parses once: stored levers and segments are read
    again on every catalog build, and most of their texts have not changed."""
    if isinstance(text, str) and len(text) <= MAX_LENGTH:
        return _parse_cached(text)
    return _parse(text)


@functools.lru_cache(maxsize=100_000)
def _parse_cached(text: str) -> ast.Rule:
    return _parse(text)


def _parse(text: str) -> ast.Rule:
    if not isinstance(text, str):
        raise RuleError("a rule must be text", repr(text), 0)
    if len(text) > MAX_LENGTH:
        raise RuleLimitError(
            f"rule too long: {len(text)} characters, the limit is {MAX_LENGTH}",
            text[:60],
            0,
            min(len(text), 60),
        )
    try:
        return _Parser(text).parse_rule_text()
    except RecursionError:  # pragma: no cover - depth is bounded well below the stack
        raise RuleLimitError("rule nested too deeply", text, 0) from None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tk.tokenize(text)
        self.pos = 0
        self.depth = 0

    # --- token helpers ------------------------------------------------------------

    @property
    def tok(self) -> tk.Token:
        return self.tokens[self.pos]

    def advance(self) -> tk.Token:
        token = self.tokens[self.pos]
        if token.kind != tk.EOF:
            self.pos += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == tk.KEYWORD and self.tok.upper in words

    def peek_keyword(self, offset: int, word: str) -> bool:
        index = min(self.pos + offset, len(self.tokens) - 1)
        token = self.tokens[index]
        return token.kind == tk.KEYWORD and token.upper == word

    def expect_keyword(self, word: str) -> tk.Token:
        if not self.at_keyword(word):
            self.fail(f"'{word}'")
        return self.advance()

    def expect(self, kind: str, what: str) -> tk.Token:
        if self.tok.kind != kind:
            self.fail(what)
        return self.advance()

    def fail(self, expected: str, token: tk.Token | None = None) -> NoReturn:
        token = token or self.tok
        raise RuleError(
            f"unexpected {token.describe()}", self.text, token.start, token.end, expected=expected
        )

    def span_from(self, start: int) -> ast.Span:
        previous = self.tokens[self.pos - 1] if self.pos > 0 else self.tok
        return ast.Span(start, max(start, previous.end))

    def enter(self, token: tk.Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleLimitError(
                f"rule nested too deeply: more than {MAX_DEPTH} levels of parentheses, "
                "NOT or WHERE",
                self.text,
                token.start,
                token.end,
            )

    # --- rules --------------------------------------------------------------------

    def parse_rule_text(self) -> ast.Rule:
        if self.tok.kind == tk.EOF:
            self.fail("a rule")
        rule = self.parse_or()
        if self.tok.kind != tk.EOF:
            if self.tok.kind == tk.RPAREN:
                self.fail("end of rule (this ')' has no matching '(')")
            self.fail("AND, OR or end of rule")
        return rule

    def parse_or(self) -> ast.Rule:
        start = self.tok.start
        items = [self.parse_and()]
        while self.at_keyword("OR"):
            self.advance()
            items.append(self.parse_and())
        if len(items) == 1:
            return items[0]
        return ast.or_(*items, span=self.span_from(start))

    def parse_and(self) -> ast.Rule:
        start = self.tok.start
        items = [self.parse_not()]
        while self.at_keyword("AND"):
            self.advance()
            items.append(self.parse_not())
        if len(items) == 1:
            return items[0]
        return ast.and_(*items, span=self.span_from(start))

    def parse_not(self) -> ast.Rule:
        # "NOT IN SEGMENT" is NOT applied to the test "IN SEGMENT 'x'".
        if self.at_keyword("NOT"):
            token = self.advance()
            self.enter(token)
            operand = self.parse_not()
            self.depth -= 1
            return ast.Not(operand, span=self.span_from(token.start))
        return self.parse_test()

    def parse_test(self) -> ast.Rule:
        token = self.tok
        if token.kind == tk.LPAREN:
            self.advance()
            self.enter(token)
            inner = self.parse_or()
            self.depth -= 1
            if self.tok.kind != tk.RPAREN:
                self.fail("')' to close the '(' at " + self._where(token) + ", AND or OR")
            self.advance()
            return inner
        if self.at_keyword("IN") and self.peek_keyword(1, "SEGMENT"):
            self.advance()
            self.advance()
            code = self.expect(tk.STRING, "a segment code in quotes, e.g. 'big-spenders'")
            return ast.InSegment(cast(str, code.value), span=self.span_from(token.start))
        if not self.at_value_start():
            self.fail("a test: a comparison, a boolean field, EXISTS(...), IN SEGMENT or '('")
        value = self.parse_value()
        return self.parse_comparison(value, token.start)

    def at_value_start(self) -> bool:
        token = self.tok
        if token.kind == tk.KEYWORD:
            return self.at_keyword("TRUE", "FALSE", "NULL", "NOW", *_AGGREGATES)
        return token.kind in _VALUE_STARTS

    def _where(self, token: tk.Token) -> str:
        line = self.text.count("\n", 0, token.start) + 1
        column = token.start - (self.text.rfind("\n", 0, token.start) + 1) + 1
        return f"{line}:{column}"

    def parse_comparison(self, value: ast.Value, start: int) -> ast.Rule:
        token = self.tok
        if token.kind == tk.OP:
            self.advance()
            right = self.parse_value()
            op = cast(ast.CompareOp, token.text)
            return ast.Compare(op, value, right, span=self.span_from(start))
        if self.at_keyword("IS"):
            self.advance()
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            self.expect_keyword("NULL")
            return ast.IsNull(value, negated, span=self.span_from(start))
        negated = self.at_keyword("NOT")
        if negated:
            self.advance()
            if not self.at_keyword("BETWEEN", "IN", "CONTAINS", "STARTS", "ENDS", "WITHIN"):
                self.fail("BETWEEN, IN, CONTAINS, STARTS WITH, ENDS WITH or WITHIN after NOT")
        if self.at_keyword("BETWEEN"):
            self.advance()
            low = self.parse_value()
            self.expect_keyword("AND")
            high = self.parse_value()
            return ast.Between(value, low, high, negated, span=self.span_from(start))
        if self.at_keyword("IN"):
            self.advance()
            items = self.parse_literal_list()
            return ast.InList(value, items, negated, span=self.span_from(start))
        if self.at_keyword("CONTAINS", "STARTS", "ENDS"):
            word = self.advance().upper
            if word != "CONTAINS":
                self.expect_keyword("WITH")
            pattern = self.parse_value()
            text_op = cast(ast.TextOp, _TEXT_OPS[word])
            return ast.TextMatch(text_op, value, pattern, negated, span=self.span_from(start))
        if self.at_keyword("WITHIN"):
            self.advance()
            duration = self.parse_duration()
            return ast.Within(value, duration, negated, span=self.span_from(start))
        # No comparison follows: the value itself must be a boolean, and the test ends here.
        ends = self.tok.kind in (tk.EOF, tk.RPAREN) or self.at_keyword("AND", "OR")
        if ends and _is_boolean_value(value):
            return ast.BoolTest(value, span=self.span_from(start))
        self.fail(_AFTER_VALUE if not _is_boolean_value(value) else _AFTER_VALUE + ", AND or OR")

    def parse_literal_list(self) -> tuple[ast.Literal, ...]:
        self.expect(tk.LPAREN, "'(' and a list of literals, e.g. IN ('a', 'b')")
        items = [self.parse_list_item()]
        while self.tok.kind == tk.COMMA:
            self.advance()
            items.append(self.parse_list_item())
        self.expect(tk.RPAREN, "',' or ')'")
        return tuple(items)

    def parse_list_item(self) -> ast.Literal:
        literal = self.parse_literal()
        if literal is None:
            self.fail("a literal (string, number, date, timestamp, true, false or null)")
        return literal

    def parse_duration(self) -> ast.Duration:
        token = self.expect(tk.DURATION, "a duration such as 30d, 12h, 4w, 6m or 1y")
        amount, unit = cast(tuple[int, ast.DurationUnit], token.value)
        return ast.Duration(amount, unit, span=ast.Span(token.start, token.end))

    # --- values -------------------------------------------------------------------

    def parse_value(self) -> ast.Value:
        token = self.tok
        literal = self.parse_literal()
        if literal is not None:
            return literal
        if token.kind == tk.RELATIVE:
            self.advance()
            amount, unit = cast(tuple[int, ast.DurationUnit], token.value)
            span = ast.Span(token.start, token.end)
            ago = ast.Duration(amount, unit, span=ast.Span(token.start + 1, token.end))
            return ast.RelativeTime(ago, span=span)
        if self.at_keyword("NOW"):
            self.advance()
            return ast.RelativeTime(None, span=ast.Span(token.start, token.end))
        if token.kind == tk.PATH:
            self.advance()
            parts = cast(tuple[str, ...], token.value)
            return ast.Path(parts, span=ast.Span(token.start, token.end))
        if self.at_keyword(*_AGGREGATES):
            return self.parse_aggregate()
        if token.kind == tk.DURATION:
            self.fail(f"{_VALUE} (a duration is only allowed after WITHIN; write -{token.text})")
        self.fail(_VALUE)

    def parse_literal(self) -> ast.Literal | None:
        token = self.tok
        value: ast.LiteralValue
        if token.kind in (tk.STRING, tk.NUMBER, tk.DATE, tk.TIMESTAMP):
            value = cast(str | Decimal | dt.date | dt.datetime, token.value)
        elif self.at_keyword("TRUE", "FALSE"):
            value = token.upper == "TRUE"
        elif self.at_keyword("NULL"):
            value = None
        else:
            return None
        self.advance()
        return ast.Literal(value, span=ast.Span(token.start, token.end))

    def parse_aggregate(self) -> ast.Aggregate:
        func_token = self.advance()
        func = cast(ast.AggregateFunc, func_token.upper)
        self.expect(tk.LPAREN, f"'(' after {func}")
        needs_field = func not in ("COUNT", "EXISTS")
        expected = (
            "a collection field, e.g. orders.total"
            if needs_field
            else "a collection: orders, lines, events, wishlist or cart.lines"
        )
        path_token = self.expect(tk.PATH, expected)
        parts = cast(tuple[str, ...], path_token.value)
        field: str | None = None
        collection = parts
        if needs_field:
            if len(parts) < 2:
                raise RuleError(
                    f"{func} needs a field of the collection",
                    self.text,
                    path_token.start,
                    path_token.end,
                    expected=f"{parts[0]}.FIELD, e.g. {func}(orders.total)",
                )
            collection, field = parts[:-1], parts[-1]
        where: ast.Rule | None = None
        if self.at_keyword("WHERE"):
            where_token = self.advance()
            self.enter(where_token)
            where = self.parse_or()
            self.depth -= 1
        if self.tok.kind != tk.RPAREN:
            self.fail("WHERE or ')'" if where is None else "')', AND or OR")
        self.advance()
        return ast.Aggregate(func, collection, field, where, span=self.span_from(func_token.start))


def _is_boolean_value(value: ast.Value) -> bool:
    """Whether a value may stand alone as a test (its type is checked by the checker)."""
    if isinstance(value, ast.Path):
        return True
    if isinstance(value, ast.Literal):
        return isinstance(value.value, bool)
    return isinstance(value, ast.Aggregate) and value.func == "EXISTS"
