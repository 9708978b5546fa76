"""The lexer of the rule language (RULES.md §2): text -> a list of :class:`Token`.

Literals are converted here (strings unquoted, numbers to ``Decimal``, dates and
timestamps to ``datetime`` objects normalised to UTC), so the parser only deals with
structure and every malformed literal is reported at its own position.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from segmint.errors import RuleError

# Token kinds.
KEYWORD: Final = "keyword"
PATH: Final = "path"  # value: tuple[str, ...]
STRING: Final = "string"  # value: str
NUMBER: Final = "number"  # value: Decimal (may be negative)
DATE: Final = "date"  # value: dt.date
TIMESTAMP: Final = "timestamp"  # value: aware dt.datetime in UTC
DURATION: Final = "duration"  # value: (amount, unit)
RELATIVE: Final = "relative"  # "-30d"; value: (amount, unit)
OP: Final = "op"  # = != < <= > >=
LPAREN: Final = "("
RPAREN: Final = ")"
COMMA: Final = ","
EOF: Final = "end of rule"

KEYWORDS: Final = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "IN",
        "SEGMENT",
        "BETWEEN",
        "IS",
        "NULL",
        "CONTAINS",
        "STARTS",
        "ENDS",
        "WITH",
        "WITHIN",
        "WHERE",
        "TRUE",
        "FALSE",
        "NOW",
        "COUNT",
        "SUM",
        "AVG",
        "MIN",
        "MAX",
        "EXISTS",
    }
)

#: The longest duration accepted per unit: about 1000 years, so that ``now - d`` always
#: stays inside the calendar Python and SQL can represent.
MAX_DURATION: Final = {"h": 8_784_000, "d": 366_000, "w": 52_200, "m": 12_000, "y": 1_000}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # the source text of the token
    start: int
    end: int
    value: object = None

    @property
    def upper(self) -> str:
        """The keyword spelling (keywords are case-insensitive)."""
        return self.text.upper()

    def describe(self) -> str:
        if self.kind == EOF:
            return "end of rule"
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return f"'{shown}'"


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,6}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DURATION_RE = re.compile(r"([0-9]+)([hdwmyHDWMY])")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# What may not directly follow a literal: "12abc", "2024-01-01x", "30days" are typos.
_GLUED = re.compile(r"[A-Za-z0-9_.]")
_DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() also accepts '²' and '٣'
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_MAX_NUMBER_DIGITS = 1000


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token; raises :class:`RuleError`."""
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while True:
        # Skip whitespace and comments.
        while pos < n:
            ch = text[pos]
            if ch.isspace():
                pos += 1
            elif ch == "#":
                newline = text.find("\n", pos)
                pos = n if newline == -1 else newline + 1
            else:
                break
        if pos >= n:
            tokens.append(Token(EOF, "", n, n))
            return tokens
        token = _next_token(text, pos)
        tokens.append(token)
        pos = token.end


def _next_token(text: str, pos: int) -> Token:
    ch = text[pos]
    if ch == "'":
        return _string(text, pos)
    if ch == "(":
        return Token(LPAREN, ch, pos, pos + 1)
    if ch == ")":
        return Token(RPAREN, ch, pos, pos + 1)
    if ch == ",":
        return Token(COMMA, ch, pos, pos + 1)
    for op in _OPS:
        if text.startswith(op, pos):
            if op == "<>":  # SQL habit: report it with the spelling the language uses
                raise RuleError("unknown operator '<>'", text, pos, pos + 2, expected="'!='")
            return Token(OP, op, pos, pos + len(op))
    if ch in _DIGITS or (ch == "-" and pos + 1 < len(text) and text[pos + 1] in _DIGITS):
        return _numeric(text, pos)
    if ch.isascii() and (ch.isalpha() or ch == "_"):
        m = _PATH_RE.match(text, pos)
        assert m is not None  # the first character matched
        end = m.end()
        if end < len(text) and text[end] == ".":
            raise RuleError(
                "incomplete field path", text, pos, end + 1, expected="a name after '.'"
            )
        word = m.group()
        if "." not in word and word.upper() in KEYWORDS:
            return Token(KEYWORD, word, pos, end)
        return Token(PATH, word, pos, end, tuple(word.split(".")))
    if ch == "!":
        raise RuleError("unexpected '!'", text, pos, expected="'!='")
    if ch == "-":
        raise RuleError(
            "unexpected '-'", text, pos, expected="a number or relative time such as -30d"
        )
    _common_mistake(text, pos)
    shown = ch if ch.isprintable() else repr(ch)
    raise RuleError(f"unexpected character '{shown}'", text, pos, expected="a rule")


def _common_mistake(text: str, pos: int) -> None:
    """Raise the error for a habit from other languages: a "double-quoted" string, a
    currency sign before a number ($300). Returns if the character is neither."""
    ch = text[pos]
    if ch == '"':
        close = text.find('"', pos + 1)
        if close != -1:
            inner = text[pos + 1 : close].replace("'", "''")
            raise RuleError(
                "strings take single quotes, not double quotes",
                text,
                pos,
                close + 1,
                expected=f"'{inner}'",
            )
    number = _NUMBER_RE.match(text, pos + 1)
    if ch in "$€£¥" and number is not None:
        raise RuleError(
            "a number is written without a currency sign",
            text,
            pos,
            number.end(),
            expected=number.group(0),
        )


def _string(text: str, start: int) -> Token:
    parts: list[str] = []
    pos = start + 1
    while True:
        quote = text.find("'", pos)
        if quote == -1:
            raise RuleError(
                "unterminated string", text, start, len(text), expected="a closing quote (')"
            )
        parts.append(text[pos:quote])
        if text.startswith("''", quote):  # '' is an escaped quote
            parts.append("'")
            pos = quote + 2
            continue
        return Token(STRING, text[start : quote + 1], start, quote + 1, "".join(parts))


def _check_not_glued(text: str, start: int, end: int, what: str) -> None:
    if end < len(text) and _GLUED.match(text, end):
        stop = end
        while stop < len(text) and _GLUED.match(text, stop):
            stop += 1
        raise RuleError(
            f"invalid {what} '{text[start:stop]}'",
            text,
            start,
            stop,
            expected=_EXPECTED_LITERAL,
        )


_EXPECTED_LITERAL = "a number (12, 4.50), date (2024-01-31), timestamp or duration (30d)"


def _numeric(text: str, start: int) -> Token:
    negative = text[start] == "-"
    body = start + 1 if negative else start
    if not negative:
        m = _TIMESTAMP_RE.match(text, start)
        if m:
            _check_not_glued(text, start, m.end(), "timestamp")
            return Token(TIMESTAMP, m.group(), start, m.end(), _timestamp(text, start, m))
        m = _DATE_RE.match(text, start)
        if m:
            if m.end() < len(text) and text[m.end()] in "Tt":
                raise RuleError(
                    "invalid timestamp",
                    text,
                    start,
                    _glued_end(text, m.end()),
                    expected="YYYY-MM-DDTHH:MM:SS[.ffffff] followed by Z or ±HH:MM",
                )
            _check_not_glued(text, start, m.end(), "date")
            return Token(DATE, m.group(), start, m.end(), _date(text, start, m))
    m = _DURATION_RE.match(text, body)
    if m:
        _check_not_glued(text, start, m.end(), "duration")
        amount_text, unit = m.group(1), m.group(2).lower()
        limit = MAX_DURATION[unit]
        if len(amount_text) > 9 or int(amount_text) > limit:
            raise RuleError(
                "duration too long",
                text,
                start,
                m.end(),
                expected=f"at most {limit}{unit} (about 1000 years)",
            )
        kind = RELATIVE if negative else DURATION
        return Token(kind, text[start : m.end()], start, m.end(), (int(amount_text), unit))
    m = _NUMBER_RE.match(text, start)
    assert m is not None  # a digit is there
    _check_not_glued(text, start, m.end(), "number")
    if m.end() - start > _MAX_NUMBER_DIGITS:
        raise RuleError(
            "number too long",
            text,
            start,
            m.end(),
            expected=f"at most {_MAX_NUMBER_DIGITS} digits",
        )
    return Token(NUMBER, m.group(), start, m.end(), Decimal(m.group()))


def _glued_end(text: str, pos: int) -> int:
    while pos < len(text) and (text[pos].isalnum() or text[pos] in ":.+-_"):
        pos += 1
    return pos


def _date(text: str, start: int, m: re.Match[str]) -> dt.date:
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise RuleError(
            f"invalid date '{m.group()}'", text, start, m.end(), expected="a real calendar date"
        ) from None


def _timestamp(text: str, start: int, m: re.Match[str]) -> dt.datetime:
    fraction = (m.group(7) or "").ljust(6, "0")
    zone = m.group(8)
    try:
        if zone in ("Z", "z"):
            tz = dt.UTC
        else:
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError("offset")
            sign = -1 if zone[0] == "-" else 1
            tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
        year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
        local = dt.datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=tz)
        return local.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise RuleError(
            f"invalid timestamp '{m.group()}'",
            text,
            start,
            m.end(),
            expected="a real date and time, e.g. 2024-05-01T09:30:00Z",
        ) from None
