"""Rendering: the Jinja2 environment (autoescaped), the security headers every page and
fragment carries, redirects with a flash message, and the error pages."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from segmint.web._session import WebSession, clear_flash, read_flash, set_flash

HERE = Path(__file__).parent

#: Sent with every page and fragment: scripts only from this site (htmx is vendored, no
#: inline script anywhere), no framing, no caching of pages holding customer data.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def instant(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


#: The locale money and counts are written in on the admin pages.
LOCALE = "en_US"


def money(value: object, currency: str | None = None) -> str:
    """An amount in its currency with babel ("$1,234.50", "€12.00"); without a known
    currency, the number with two decimals and grouping. ``—`` for none."""
    from decimal import Decimal

    from babel.numbers import format_currency, format_decimal

    if value is None or value == "":
        return "—"
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if currency:
        try:
            return str(format_currency(amount, currency.upper(), locale=LOCALE))
        except (ValueError, KeyError):  # not an ISO 4217 code babel knows
            pass
    text = str(format_decimal(amount, format="#,##0.00##", locale=LOCALE))
    return f"{text} {currency}" if currency else text


def label(name: str) -> str:
    """A field name as words: ``last_order_at`` -> "Last order at"."""
    words = name.removeprefix("attributes.").replace("_", " ").replace(".", " ")
    return words[:1].upper() + words[1:]


def urlpart(value: object) -> str:
    return quote(str(value), safe="")


def json_text(value: object) -> str:
    """A JSON value as indented text: a plain string, so autoescaping shows markup in it
    as the characters it is (``tojson`` would mark it safe and write ``\\u003c``)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, every fragment: nothing user-typed renders raw
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["instant"] = instant
ENV.filters["urlpart"] = urlpart
ENV.filters["money"] = money
ENV.filters["label"] = label
ENV.filters["json_text"] = json_text


def render(
    request: Request,
    template: str,
    session: WebSession | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page, or a fragment (a template named ``_…``: fragments leave the flash alone)."""
    flash = read_flash(request) if not template.startswith("_") else None
    page = ENV.get_template(template).render(
        session=session,
        csrf=session.csrf if session else "",
        flash=flash,
        **context,
    )
    response = HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
    if flash:
        clear_flash(response)
    return response


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if flash:
        set_flash(response, flash)
    return response


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def segment_url(code: str) -> str:
    return "/segments/" + quote(code, safe="")


def not_found(request: Request, session: WebSession, message: str) -> HTMLResponse:
    return render(
        request, "error.html", session, status_code=404, title="Not found", message=message
    )


def forbidden(request: Request, session: WebSession | None) -> HTMLResponse:
    return render(
        request,
        "error.html",
        session,
        status_code=403,
        title="Forbidden",
        message="This form has expired or did not come from this site (bad CSRF token). "
        "Reload the page and try again.",
    )
