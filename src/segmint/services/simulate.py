"""The cart simulator's use case: an evaluate request document (TARGETING.md §3) priced
and answered exactly as ``POST /v1/evaluate`` answers it, and nothing written.

The request is validated by :func:`segmint.services.evaluate_request.read_request`, so its
errors are the API's, naming the same paths (``cart.lines[0].quantity: …``); a cart that
cannot be priced (a line without a price anywhere, an amount with more digits than its
currency allows, an unknown currency) raises the same
:class:`~segmint.services.evaluate_request.RequestError` the API answers 422 with.

Unlike :func:`segmint.services.checkout.checkout`, nothing is redeemed: the answer reads the
redemption rows (usage limits, budgets) and records none.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from segmint.services.evaluate_request import read_request
from segmint.services.targeting import Targeting, TargetingAnswer
from segmint.store.base import Store


def simulate(
    store: Store, targeting: Targeting, document: Any, now: dt.datetime
) -> TargetingAnswer:
    """The answer to ``document`` at its ``as_of`` (default ``now``), or
    :class:`~segmint.services.evaluate_request.RequestError`."""
    request = read_request(document, "request")
    return targeting.answer(store, request, now)
