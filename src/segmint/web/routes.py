"""The admin web pages: server-rendered Jinja2 templates, with htmx for the live parts.

Like every entry point (docs/architecture.md), the web pages only translate: they read
forms, call :mod:`segmint.services`, and render the result. Sessions, passwords and
CSRF tokens come from :mod:`segmint.services.auth`; every state-changing POST checks the
session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``) and answers
403 when it is missing or wrong. See docs/web.md.

This module is the public API: :data:`router` (included by
:func:`segmint.api.app.create_app`) and :data:`PAGE_SIZE`. The code lives in private
modules next to it:

- ``_pages_site``: ``/``, login, logout, static files;
- ``_pages_segments``: the segment list, builder, detail, edit review, delete, members;
- ``_pages_customers``: the customer search and page;
- ``_pages_admin``: API keys, users and the worker's status (admin users only);
- ``_pages_placements``: placements (list, page with reach, create/edit, delete, history)
  and "see it as" (``_placement_form``: the form; ``_see_as``: the panel);
- ``_pages_promotions``: promotions (list with benefits in words and budget meters, page
  with codes, code generation and the codes CSV, create/edit, delete, history);
  ``_promotion_form``: the form; ``_pages_backtest``: "Simulate on past orders" (the job
  and its report; ``_backtest_chart``: the discount-per-week bars);
- ``_pages_price_lists``: price lists (list, page, create/edit, delete, history);
  ``_price_list_form``: the form;
- ``_lever_pages``: what the lever pages share (writer check, status, not-found, delete,
  history; for those two also the form routes: new, create, edit, save, live rule check);
  ``_lever_form``: the lever fields of every lever form, and the promotion and price-list
  forms' errors placed by JSON path;
- ``_pages_builder``: the JSON the visual condition builder (``static/builder.js``) asks
  for: a rule's tree and text, the fields and their values;
- ``_pages_simulator``: the cart simulator (``_simulator``: the form and the answer shaped);
- ``_deps``: store, clock and form dependencies, and the session/CSRF guard;
- ``_session``: session, login-CSRF and flash cookies;
- ``_templates``: the Jinja2 environment, security headers, render and redirect;
- ``_forms``: form parsing and the definition built from the builder form;
- ``_chart``: the members-over-time SVG chart.
"""

from __future__ import annotations

from fastapi import APIRouter

from segmint.web import (
    _pages_admin,
    _pages_backtest,
    _pages_builder,
    _pages_customers,
    _pages_placements,
    _pages_price_lists,
    _pages_promotions,
    _pages_segments,
    _pages_simulator,
    _pages_site,
)

__all__ = ["PAGE_SIZE", "router"]

#: Members per page on a segment's page (read on every request).
PAGE_SIZE = 50

router = APIRouter(include_in_schema=False)
# Routes are matched in order: these keep the order the pages have always had (and inside
# _pages_segments, "/segments/new" comes before "/segments/{code}").
router.include_router(_pages_site.router)
router.include_router(_pages_segments.router)
router.include_router(_pages_customers.router)
router.include_router(_pages_admin.router)
router.include_router(_pages_placements.router)
router.include_router(_pages_backtest.router)  # before /promotions/{code}/…
router.include_router(_pages_promotions.router)
router.include_router(_pages_price_lists.router)
router.include_router(_pages_simulator.router)
router.include_router(_pages_builder.router)
