"""The one exception hierarchy of segmint.

Every error a user can cause derives from :class:`SegmintError`; the CLI prints
``str(error)`` and exits non-zero (2 for a bad rule, 1 otherwise) and the API maps
each class to one HTTP status. Anything else escaping is a bug.

    SegmintError
    ├── ConfigError          bad --db URL, bad --as-of, bad option combination
    │   └── ConflictError    a write based on a stale version, or a code already taken
    ├── RuleError            a rule that does not parse or type-check (positioned)
    │   └── RuleLimitError   a rule over the length or nesting limits
    ├── CompileError         a valid rule a target cannot run (e.g. real-time in SQL)
    ├── StoreError           the database refused or is unreachable
    │   ├── SchemaError      the database's schema is missing or newer than this code
    │   ├── StoreLocked      another process holds the DuckDB file (``pid`` if known)
    │   └── TimeLimitExceeded  a request held the store past its time limit (stopped)
    ├── ImportError_         a file refused whole (lists the bad rows)
    └── NotFoundError        a named thing (customer, segment) does not exist
"""

from __future__ import annotations

from dataclasses import dataclass


class SegmintError(Exception):
    """Base class of every error segmint reports to a user."""

    exit_code = 1


class ConfigError(SegmintError):
    """A setting or option is wrong: names the option and the value."""


class ConflictError(ConfigError):
    """A write that conflicts with the current state: it was based on a version that is
    no longer current (``If-Match``), or creates what already exists (HTTP 409)."""


@dataclass(frozen=True)
class SourcePosition:
    """A 1-based line and column in a rule's text, and the 0-based offsets of the span."""

    line: int
    column: int
    start: int
    end: int


class RuleError(SegmintError):
    """A rule that cannot be accepted, with its position and a caret excerpt.

    ``str(error)`` renders exactly as RULES.md §4::

        error: unknown field 'ordrs_count' at 1:1 (did you mean 'orders_count'?)
          ordrs_count >= 2
          ^^^^^^^^^^^
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        text: str,
        start: int,
        end: int | None = None,
        *,
        expected: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.text = text
        self.start = max(0, min(start, len(text)))
        self.end = max(self.start + 1, end if end is not None else self.start + 1)
        self.expected = expected
        self.suggestion = suggestion
        line_start = text.rfind("\n", 0, self.start) + 1
        self.line = text.count("\n", 0, self.start) + 1
        self.column = self.start - line_start + 1
        super().__init__(self.render())

    @property
    def position(self) -> SourcePosition:
        return SourcePosition(self.line, self.column, self.start, self.end)

    def render(self) -> str:
        head = f"error: {self.message} at {self.line}:{self.column}"
        extras = []
        if self.expected:
            extras.append(f"expected {self.expected}")
        if self.suggestion:
            extras.append(f"did you mean '{self.suggestion}'?")
        if extras:
            head += " (" + "; ".join(extras) + ")"
        line_start = self.text.rfind("\n", 0, self.start) + 1
        line_end = self.text.find("\n", self.start)
        if line_end == -1:
            line_end = len(self.text)
        source_line = self.text[line_start:line_end]
        width = max(1, min(self.end, line_end) - self.start)
        caret = " " * (self.start - line_start) + "^" * width
        return f"{head}\n  {source_line}\n  {caret}"

    def to_dict(self) -> dict[str, object]:
        return {
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "start": self.start,
            "end": self.end,
            "expected": self.expected,
            "suggestion": self.suggestion,
            "rendered": self.render(),
        }


class RuleLimitError(RuleError):
    """A rule longer or more deeply nested than the parser accepts."""


class CompileError(SegmintError):
    """A valid rule that a target cannot evaluate (e.g. a real-time rule compiled to SQL)."""


class StoreError(SegmintError):
    """The database refused an operation or could not be reached."""


class SchemaError(StoreError):
    """The database has no segmint schema, or one newer than this version understands."""


class StoreLocked(StoreError):
    """Another process holds the embedded database file for writing (DuckDB allows one
    process per file); ``pid`` is that process when DuckDB names it."""

    def __init__(self, message: str, path: str, pid: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid


class TimeLimitExceeded(StoreError):
    """The work ran past its time limit (``Store.limit_time``) and was stopped: its
    statement interrupted, its transaction rolled back, nothing of it written."""


@dataclass(frozen=True)
class BadRow:
    """One refused row of an import: 1-based data row number, column and the raw value."""

    row: int
    column: str
    value: str | None
    reason: str

    def render(self) -> str:
        shown = "(missing)" if self.value is None else repr(self.value)
        return f"row {self.row}, column '{self.column}': {shown} — {self.reason}"


class ImportError_(SegmintError):
    """A file refused whole: nothing from it was stored."""

    max_listed = 20

    def __init__(
        self, file: str, bad_rows: list[BadRow], total_bad: int | None = None, note: str = ""
    ) -> None:
        self.file = file
        self.bad_rows = bad_rows[: self.max_listed]
        self.total_bad = total_bad if total_bad is not None else len(bad_rows)
        self.note = note
        super().__init__(self.render())

    def render(self) -> str:
        if not self.total_bad and self.note:  # a file-level problem, not bad rows
            return f"error: {self.file}: refused, nothing was imported: {self.note}"
        lines = [
            f"error: {self.file}: refused, nothing was imported "
            f"({self.total_bad} bad row{'s' if self.total_bad != 1 else ''})"
            + (f": {self.note}" if self.note else "")
        ]
        lines += [f"  {self.file}: {r.render()}" for r in self.bad_rows]
        if self.total_bad > len(self.bad_rows):
            lines.append(f"  … and {self.total_bad - len(self.bad_rows)} more")
        return "\n".join(lines)


class NotFoundError(SegmintError):
    """A named customer, segment or other record does not exist."""
