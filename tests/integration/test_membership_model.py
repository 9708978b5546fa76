"""Model-based test of the membership promise, on both stores: after the worker has
caught up to an instant, every materialized segment's stored members are what ``match``
answers then, and every customer's history alternates entry and exit and replays to the
stored memberships (docs/membership.md, "What is guaranteed").

A hypothesis ``RuleBasedStateMachine`` drives the real service functions on a fresh,
small store (at most 24 customers, five segment codes) at the machine's clock: create,
edit, deactivate and delete segments (rule, purchase and manual kinds; windows in hours,
days and a month, ``IN SEGMENT`` and user groups, start and end dates), import
customers, orders (cancellations and re-dated orders too) and events, add and remove
manual members, refresh some or all segments, run the worker, and move the clock. Every
step may first move the clock (by a random amount, or exactly to an instant at which a
window opens or closes, or a microsecond before it), so writes meet due instants the
worker has not applied yet. After every step the worker catches up to now and the
invariant is checked against an independent oracle (tests/membership_oracle.py).

``SEGMINT_MODEL_EXAMPLES`` (default 25) and ``SEGMINT_MODEL_STEPS`` (default 30) set
the examples per store and the steps per example; raise them locally to search longer.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conftest import STORE_KINDS, with_database
from membership_oracle import (
    Memberships,
    describe,
    expected_memberships,
    history_problems,
    membership_problems,
    past_problems,
)
from segmint.errors import ConfigError
from segmint.model.segment import PurchaseRequirements, SegmentDefinition, SegmentKind
from segmint.rules.timeutil import add_months
from segmint.services import segments
from segmint.services.ingest import import_and_update
from segmint.services.membership import run_worker
from segmint.store.base import Store
from store_checks import assert_keys_unique

UTC = dt.UTC
START = dt.datetime(2025, 1, 10, 9, 30, tzinfo=UTC)
CUSTOMERS = [f"c{i:02d}" for i in range(24)]
CODES = ["s0", "s1", "s2", "s3", "s4"]
SKUS = ["A", "B", "C"]
EXAMPLES = int(os.environ.get("SEGMINT_MODEL_EXAMPLES", "10"))
STEPS = int(os.environ.get("SEGMINT_MODEL_STEPS", "30"))

#: Every window a rule below uses, so the clock can be moved exactly to where one closes.
WINDOWS = [dt.timedelta(hours=h) for h in (12, 24, 48, 72)] + [
    dt.timedelta(days=d) for d in (7, 10, 30)
]

#: Rules reading only the customer's own data (the windows above, a calendar month,
#: lapsed customers entering when a window closes, a date literal).
OWN_RULES = [
    "SUM(orders.total WHERE placed_at WITHIN 30d) > 50",
    "EXISTS(orders WHERE placed_at WITHIN 7d)",
    "NOT EXISTS(orders WHERE placed_at WITHIN 10d) AND orders_count >= 1",
    "last_order_at > -10d",
    "COUNT(events WHERE type = 'product_view' AND at WITHIN 12h) >= 1",
    "EXISTS(lines WHERE sku = 'A' AND placed_at WITHIN 1m)",
    "created_at WITHIN 2d",
    "total_spent >= 100",
    "tags CONTAINS 'vip'",
    "EXISTS(wishlist WHERE sku = 'B')",
    "orders_count >= 2 AND first_order_at <= -3d",
    "EXISTS(orders WHERE placed_at >= {day} AND status = 'completed')",
]
#: Rules reading another segment: ``{ref}`` a code, ``{group}`` a group.
REF_RULES = [
    "IN SEGMENT '{ref}' AND EXISTS(orders WHERE placed_at WITHIN 3d)",
    "IN SEGMENT '{ref}' OR tags CONTAINS 'vip'",
    "NOT IN SEGMENT '{ref}' AND orders_count >= 1",
]
GROUP_RULES = [
    "user_groups CONTAINS '{group}'",
    "user_groups CONTAINS '{group}' AND total_spent > 20",
    "NOT user_groups CONTAINS '{group}' AND EXISTS(events WHERE at WITHIN 1d)",
]


def groups_of(index: int) -> list[str]:
    """The groups a segment ``s<index>`` may give: its code (the default), its own
    ``g<index>``, and ``team`` for s0 and s1 only. A segment reads only the groups and
    codes of segments with a lower index, so no save can close a cycle."""
    return [CODES[index], f"g{index}"] + (["team"] if index < 2 else [])


@dataclass
class Order:
    customer: str
    placed_at: dt.datetime
    status: str
    lines: list[tuple[str, Decimal]] = field(default_factory=list)


class MembershipModel(RuleBasedStateMachine):
    """The store, the machine's clock, and what was written (for choosing steps)."""

    open_store: Callable[[], tuple[Store, Callable[[], None]]]

    def __init__(self) -> None:
        super().__init__()
        self.store, self._discard = type(self).open_store()
        self.now = START
        self.defs: dict[str, SegmentDefinition] = {}
        self.customers: set[str] = set()
        self.orders: dict[str, Order] = {}
        self.instants: list[dt.datetime] = []  # of the data: where windows start
        self.serial = 0
        # The oracle's answers at instants the clock passed before a step changed the
        # data: history replayed to each must agree once the worker has caught up.
        self.passed: dict[dt.datetime, Memberships] = {}

    def teardown(self) -> None:
        try:
            assert_keys_unique(self.store)
        finally:
            self.store.close()
            self._discard()

    # ---- the clock --------------------------------------------------------------------

    def boundaries(self) -> list[dt.datetime]:
        """Instants after now at which some window opens or closes, or a segment starts
        or ends (each also a microsecond earlier)."""
        found: set[dt.datetime] = set()
        for t in self.instants:
            for w in WINDOWS:
                found.add(t + w)
            found.add(add_months(t, 1))
            found.add(t)  # an order placed in the future enters when it is placed
        for d in self.defs.values():
            found.update(x for x in (d.starts_at, d.ends_at) if x is not None)
        after = sorted(x for x in found if x > self.now)
        return after + [x - dt.timedelta(microseconds=1) for x in after]

    def advance(self, data: st.DataObject) -> None:
        """Maybe move the clock before a step: not at all, by seconds to weeks, or exactly
        to (or a microsecond before) a boundary. The oracle's answers at up to four
        boundaries the clock passes are kept for the invariant: until the step runs, the
        data is what it was, so history must say the same at those instants."""
        how = data.draw(st.sampled_from(["stay", "stay", "seconds", "days", "boundary"]))
        before = self.now
        candidates = sorted(self.boundaries())
        if how == "seconds":
            self.now += dt.timedelta(seconds=data.draw(st.integers(1, 4 * 86_400)))
        elif how == "days":
            self.now += dt.timedelta(days=data.draw(st.integers(1, 40)))
        elif how == "boundary" and candidates:
            self.now = candidates[data.draw(st.integers(0, min(len(candidates), 12) - 1))]
        passed = [t for t in candidates if before < t < self.now]
        if len(passed) > 4:
            passed = [passed[i * (len(passed) - 1) // 3] for i in range(4)]
        for t in passed:
            self.passed[t] = expected_memberships(self.store, t)

    def instant(self, data: st.DataObject, *, future: bool = False) -> dt.datetime:
        """An instant of the data, at or before now (sometimes just after: a clock skew)."""
        back = data.draw(st.integers(0, 40 * 86_400_000_000))
        moment = self.now - dt.timedelta(microseconds=back)
        if future and data.draw(st.integers(0, 9)) == 0:
            moment = self.now + dt.timedelta(seconds=data.draw(st.integers(1, 86_400)))
        self.instants.append(moment)
        return moment

    def log(self, what: str, definition: SegmentDefinition | None = None) -> None:
        """What the step does, printed with a failing example."""
        if definition is not None:
            d = definition
            dates = f" starts {d.starts_at} ends {d.ends_at}" if d.starts_at or d.ends_at else ""
            what += (
                f" {d.code} {d.kind.value} group={d.group} active={d.active}{dates}: "
                f"{d.effective_rule}"
            )
        note(f"{self.now.isoformat()} {what}")

    # ---- segment definitions ------------------------------------------------------------

    def definition(self, data: st.DataObject, index: int) -> SegmentDefinition:
        code = CODES[index]
        lower = [c for c in CODES[:index] if c in self.defs]
        kind = data.draw(st.sampled_from(["rule", "rule", "rule", "purchase", "manual"]))
        options: dict[str, Any] = {
            "user_group": data.draw(st.sampled_from([None, *groups_of(index)[1:]])),
            "active": data.draw(st.sampled_from([True, True, True, False])),
        }
        ends = data.draw(st.sampled_from([None, None, None, 1, 5, 20]))
        if ends is not None:
            options["ends_at"] = self.now + dt.timedelta(days=ends, hours=1)
        if data.draw(st.integers(0, 5)) == 0:
            starts = self.now + dt.timedelta(days=data.draw(st.integers(1, 10)))
            if options.get("ends_at") is None or starts < options["ends_at"]:
                options["starts_at"] = starts
        if kind == "manual":
            return SegmentDefinition(code, code, SegmentKind.MANUAL, **options)
        if kind == "purchase":
            purchase = data.draw(
                st.sampled_from(
                    [
                        PurchaseRequirements(Decimal("0"), last_days=1),
                        PurchaseRequirements(Decimal("40"), last_days=7),
                        PurchaseRequirements(Decimal("100"), last_days=30),
                        PurchaseRequirements(
                            Decimal("20"), last_days=10, item_field="sku", item_value="A"
                        ),
                        PurchaseRequirements(Decimal("30"), date_from=START.date()),
                    ]
                )
            )
            return SegmentDefinition(code, code, SegmentKind.PURCHASE, purchase=purchase, **options)
        templates = list(OWN_RULES)
        if lower:
            templates += REF_RULES + GROUP_RULES
        text = data.draw(st.sampled_from(templates))
        if "{day}" in text:
            day = (START + dt.timedelta(days=data.draw(st.integers(0, 30)))).date()
            text = text.format(day=day.isoformat())
        elif "{ref}" in text:
            text = text.format(ref=data.draw(st.sampled_from(lower)))
        elif "{group}" in text:
            groups = sorted({g for i in range(index) for g in groups_of(i)})
            text = text.format(group=data.draw(st.sampled_from(groups)))
        return SegmentDefinition(code, code, SegmentKind.RULE, rule_text=text, **options)

    def referrers(self, code: str) -> list[str]:
        return sorted(
            c for c, d in self.defs.items() if d.rule_text and f"IN SEGMENT '{code}'" in d.rule_text
        )

    # ---- steps --------------------------------------------------------------------------

    @initialize(data=st.data())
    def shop(self, data: st.DataObject) -> None:
        """A few customers with orders in the last weeks, so windows have members."""
        self.import_customers(data, move=False)
        for _ in range(data.draw(st.integers(0, 2))):
            self.import_orders(data, move=False)

    def has_free_code(self) -> bool:
        return len(self.defs) < len(CODES)

    def has_segments(self) -> bool:
        return bool(self.defs)

    def has_orders(self) -> bool:
        return bool(self.orders)

    def has_members_to_change(self) -> bool:
        return bool(self.defs) and bool(self.customers)

    @precondition(has_free_code)
    @rule(data=st.data())
    def create(self, data: st.DataObject) -> None:
        self.advance(data)
        index = data.draw(st.sampled_from([i for i, c in enumerate(CODES) if c not in self.defs]))
        definition = self.definition(data, index)
        self.log("create", definition)
        segments.create_segment(self.store, definition, self.now)
        self.defs[definition.code] = definition

    @precondition(has_segments)
    @rule(data=st.data())
    def edit(self, data: st.DataObject) -> None:
        self.advance(data)
        code = data.draw(st.sampled_from(sorted(self.defs)))
        definition = self.definition(data, CODES.index(code))
        self.log("update", definition)
        segments.update_segment(self.store, definition, self.now)
        self.defs[code] = definition

    @precondition(has_segments)
    @rule(data=st.data())
    def deactivate_or_reschedule(self, data: st.DataObject) -> None:
        self.advance(data)
        code = data.draw(st.sampled_from(sorted(self.defs)))
        current = self.defs[code]
        change = data.draw(st.sampled_from(["toggle", "end", "unend"]))
        if change == "toggle":
            definition = current.with_changes(active=not current.active)
        elif change == "end":
            hours = data.draw(st.integers(1, 72))
            definition = current.with_changes(
                starts_at=None, ends_at=self.now + dt.timedelta(hours=hours)
            )
        else:
            definition = current.with_changes(starts_at=None, ends_at=None)
        self.log("update", definition)
        segments.update_segment(self.store, definition, self.now)
        self.defs[code] = definition

    @precondition(has_segments)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        self.advance(data)
        code = data.draw(st.sampled_from(sorted(self.defs)))
        referrers = self.referrers(code)
        self.log(f"delete {code}" + (f" (refused: referenced by {referrers})" if referrers else ""))
        if referrers:
            with pytest.raises(ConfigError, match="referenced by segment"):
                segments.delete_segment(self.store, code, self.now)
            assert segments.find_segment(self.store, code) is not None
            return
        segments.delete_segment(self.store, code, self.now)
        del self.defs[code]

    @rule(data=st.data())
    def import_customers(self, data: st.DataObject, move: bool = True) -> None:
        if move:
            self.advance(data)
        ids = data.draw(st.lists(st.sampled_from(CUSTOMERS), min_size=1, max_size=6, unique=True))
        created = []
        for _ in ids:
            if data.draw(st.integers(0, 3)) == 0:
                created.append(self.now)  # a sign-up right now
                self.instants.append(self.now)
            else:
                created.append(self.instant(data))
        table = pa.table(
            {
                "id": ids,
                "created_at": [t.isoformat() for t in created],
                "tags": [data.draw(st.sampled_from(["", "vip", "vip|new", "new"])) for _ in ids],
                "user_groups": [data.draw(st.sampled_from(["", "", "team", "g0"])) for _ in ids],
            }
        )
        self.log(f"import customers {table.to_pylist()}")
        import_and_update(self.store, "customers", table, self.now, source="model")
        self.customers.update(ids)

    @rule(data=st.data())
    def import_orders(self, data: st.DataObject, move: bool = True) -> None:
        if move:
            self.advance(data)
        batch: dict[str, Order] = {}
        for _ in range(data.draw(st.integers(1, 4))):
            self.serial += 1
            lines = [
                (
                    data.draw(st.sampled_from(SKUS)),
                    Decimal(data.draw(st.sampled_from([10, 30, 60]))),
                )
                for _ in range(data.draw(st.integers(1, 2)))
            ]
            status = data.draw(st.sampled_from(["completed", "completed", "completed", "refunded"]))
            customer = data.draw(st.sampled_from(CUSTOMERS))
            batch[f"o{self.serial}"] = Order(
                customer, self.instant(data, future=True), status, lines
            )
        self._import_orders(batch)

    @precondition(has_orders)
    @rule(data=st.data())
    def cancel_or_redate_order(self, data: st.DataObject) -> None:
        """A shop system sending an existing order again: cancelled, or placed at another
        instant (the whole order with its lines, as it replaces them)."""
        self.advance(data)
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        if data.draw(st.booleans()):
            changed = replace(order, status="cancelled")
        else:
            changed = replace(order, placed_at=self.instant(data, future=True))
        self._import_orders({order_id: changed})

    def _import_orders(self, batch: dict[str, Order]) -> None:
        rows = [(oid, o, sku, amount) for oid, o in batch.items() for sku, amount in o.lines]
        table = pa.table(
            {
                "order_id": [r[0] for r in rows],
                "customer_id": [r[1].customer for r in rows],
                "placed_at": [r[1].placed_at.isoformat() for r in rows],
                "status": [r[1].status for r in rows],
                "sku": [r[2] for r in rows],
                "amount": [str(r[3]) for r in rows],
            }
        )
        self.log(f"import orders {table.to_pylist()}")
        import_and_update(self.store, "orders", table, self.now, source="model")
        self.orders.update(batch)
        self.customers.update(o.customer for o in batch.values())

    @rule(data=st.data())
    def import_events(self, data: st.DataObject) -> None:
        self.advance(data)
        kinds = ["product_view", "product_view", "wishlist_add", "wishlist_remove", "page_view"]
        events = [
            (
                data.draw(st.sampled_from(CUSTOMERS)),
                data.draw(st.sampled_from(kinds)),
                self.instant(data, future=True),
                data.draw(st.sampled_from(SKUS)),
            )
            for _ in range(data.draw(st.integers(1, 4)))
        ]
        table = pa.table(
            {
                "customer_id": [e[0] for e in events],
                "type": [e[1] for e in events],
                "at": [e[2].isoformat() for e in events],
                "sku": [e[3] for e in events],
            }
        )
        self.log(f"import events {table.to_pylist()}")
        import_and_update(self.store, "events", table, self.now, source="model")
        self.customers.update(e[0] for e in events)

    @precondition(has_members_to_change)
    @rule(data=st.data())
    def add_or_remove_members(self, data: st.DataObject) -> None:
        self.advance(data)
        code = data.draw(st.sampled_from(sorted(self.defs)))
        ids = data.draw(
            st.lists(st.sampled_from(sorted(self.customers)), min_size=1, max_size=4, unique=True)
        )
        if data.draw(st.booleans()):
            self.log(f"add members {code} {ids}")
            segments.add_members(self.store, code, ids, self.now)
        else:
            self.log(f"remove members {code} {ids}")
            segments.remove_members(self.store, code, ids, self.now)

    @rule(data=st.data())
    def refresh(self, data: st.DataObject) -> None:
        self.advance(data)
        codes = sorted(self.defs)
        chosen = data.draw(st.lists(st.sampled_from(codes), unique=True)) if codes else []
        self.log(f"refresh {chosen or 'all'}")
        segments.refresh(self.store, chosen or None, self.now)

    @rule(data=st.data())
    def worker(self, data: st.DataObject) -> None:
        self.advance(data)
        self.log("worker")
        run_worker(self.store, self.now)

    @rule(data=st.data())
    def move_clock(self, data: st.DataObject) -> None:
        """The clock alone moves; the invariant's worker pass applies what fell due."""
        self.advance(data)
        self.log("clock moved")

    # ---- the invariant --------------------------------------------------------------

    @invariant()
    def memberships_are_exact(self) -> None:
        run_worker(self.store, self.now)
        problems = membership_problems(self.store, self.now)
        problems += history_problems(self.store, self.now)
        for at, expected in sorted(self.passed.items()):
            problems += past_problems(self.store, at, expected)
        self.passed.clear()
        assert not problems, f"at {self.now.isoformat()}:\n{describe(problems)}"


# ---- running it on both stores ---------------------------------------------------------


def duckdb_opener(folder: Path) -> Callable[[], tuple[Store, Callable[[], None]]]:
    from segmint.store.duckdb import DuckDBStore

    def open_store() -> tuple[Store, Callable[[], None]]:
        path = folder / f"model_{uuid.uuid4().hex[:10]}.duckdb"
        store = DuckDBStore(path)
        store.init()

        def discard() -> None:
            for leftover in folder.glob(path.name + "*"):
                leftover.unlink()

        return store, discard

    return open_store


def postgres_opener(url: str) -> Callable[[], tuple[Store, Callable[[], None]]]:
    from segmint.store.postgres import PostgresStore

    dbname = urlsplit(url).path[1:]

    def open_store() -> tuple[Store, Callable[[], None]]:
        schema = f"m_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        store = PostgresStore(with_database(url, dbname, schema))
        store.init()

        def discard() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

        return store, discard

    return open_store


@pytest.fixture(params=STORE_KINDS)
def opener(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], tuple[Store, Callable[[], None]]]]:
    if request.param == "duckdb":
        yield duckdb_opener(tmp_path)
    else:
        yield postgres_opener(request.getfixturevalue("pg_url"))


def test_memberships_stay_exact_under_any_order_of_operations(
    opener: Callable[[], tuple[Store, Callable[[], None]]],
) -> None:
    machine = type("Model", (MembershipModel,), {"open_store": staticmethod(opener)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
