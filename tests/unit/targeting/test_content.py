"""{{path}} substitution (targeting/content.py): plain text, one pass, never code."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from segmint.targeting.content import as_text, placeholders, render

VALUES = {"first_name": "Ann", "cart.subtotal": "6.00", "context.query.ref": "x"}


def test_every_string_in_nested_content_is_substituted() -> None:
    content = {"title": "Hi {{ first_name }}", "list": ["{{cart.subtotal}} left", 3], "n": None}
    assert render(content, VALUES.get) == {"title": "Hi Ann", "list": ["6.00 left", 3], "n": None}
    assert placeholders(content) == {"first_name", "cart.subtotal"}


def test_a_path_without_value_becomes_empty_and_braces_that_are_not_paths_stay() -> None:
    assert render("a{{missing}}b", VALUES.get) == "ab"
    assert render("{{ 1+1 }} {{__import__('os')}}", VALUES.get) == "{{ 1+1 }} {{__import__('os')}}"


@given(st.text())
def test_substituted_values_are_never_scanned_again(value: str) -> None:
    assert render("<{{first_name}}>", {"first_name": value}.get) == f"<{value}>"


def test_values_as_text() -> None:
    assert as_text(Decimal("6"), 2) == "6.00"
    assert as_text(Decimal("1500"), 0) == "1500"
    assert as_text(True) == "true"
    assert as_text(["a", "b"]) == "a, b"
    assert as_text(None) is None
