"""A refresh's no-change proof inside its fused pass: keep only the customers whose rows
must be written.

The fused pass computes, per customer, every rule of a layer (``r_i``) and the due
sources (``v_i``). Instead of storing all of them (a million rows) and then joining the
unpivoted target (millions of (segment, customer) rows) with ``memberships`` and
``customer_due``, the stored state is folded per customer into a few numbers and
compared in the same statement:

- memberships of the layer's segments become bit masks (one BIGINT per 62 segments): the
  member bits and the bits whose reason is ``manual``, both ``BIT_OR`` over a join with
  a small table of (segment code, chunk, bit);
- manual includes and excludes become two masks the same way; the wanted members are
  ``(rules | includes) - ((rules | includes) & excludes)`` and the wanted ``manual``
  reasons ``includes - (includes & excludes)`` (an included rule match is ``manual``,
  as the target says);
- due rows become one column per source (``MIN(due_at) FILTER (WHERE source = s)``),
  compared with the pass's own instants (``IS DISTINCT FROM``); memberships and due rows
  are folded in one grouped subquery (a UNION ALL), so the pass is joined once.

The joins are FULL OUTER, so a customer that has memberships, manual rows or due rows but
no customer row (a deleted customer's pseudonym) is found too, as the full join of the
unpivoted rows found it. Only the rows of customers that differ are written to the wide
table; the refresh then materializes and writes just those. Used by the refresh when the
layer has rules and its due sources are fused-pass columns (otherwise the refresh takes
the wide table and :func:`segmint.engine.refresh.changed_customers`).
"""

from __future__ import annotations

from collections.abc import Sequence

from segmint.engine.plans import sql_for
from segmint.store.base import Store
from segmint.store.sqltext import fixed, render

#: Bits per BIGINT mask (62 keeps every value positive in a signed 64-bit integer).
CHUNK = 62
_FUSED = "__segmint_fused_pass__"


def _chunks(count: int) -> int:
    return max(1, -(-count // CHUNK))


def changed_wide(
    store: Store,
    fused_sql: str,
    codes: Sequence[str],
    rule_codes: Sequence[str],
    due: Sequence[tuple[str, str]],
    value_columns: int,
    manual: bool,
    join_customers: bool,
) -> tuple[str, dict[str, object]]:
    """``SELECT id, r_0…, v_0…`` of the customers whose memberships of ``codes`` (with
    their reasons) or due rows of the ``due`` sources differ from what ``fused_sql``
    (the compiled pass, in the store's dialect, columns ``id, r_i, v_i``) says.

    ``rule_codes[i]`` is the segment of ``r_i``; the pass has ``value_columns`` columns
    ``v_i``; ``due`` pairs each source with its expected instant as SQL over ``f`` (the
    pass) and ``c`` (the customer row, joined when ``join_customers``). Returns the
    statement in the store's dialect and its own parameters (the pass's are the
    caller's). Every piece is a constant, a generated name or a bound parameter."""
    params: dict[str, object] = {}
    positions: list[str] = []
    for n, code in enumerate(codes):
        params[f"bc{n}"] = code
        positions.append(
            f"(CAST($bc{n} AS TEXT), {n // CHUNK}, CAST({1 << (n % CHUNK)} AS BIGINT))"
        )
    table = f"(VALUES {', '.join(positions)}) AS b(segment_code, k, bit)"
    chunks = _chunks(len(codes))
    position = {code: n for n, code in enumerate(codes)}

    def bit(k: int, condition: str) -> str:
        """Mask ``k``'s bit of the row's segment where ``condition`` holds, else 0."""
        return f"CASE WHEN b.k = {k} {condition} THEN b.bit ELSE 0 END"

    def bits(name: str, condition: str) -> str:
        return ", ".join(f"{bit(k, condition)} AS {name}_{k}" for k in range(chunks))

    def or_bits(name: str, condition: str) -> str:
        """Per mask: the bits of a customer's rows, OR-ed."""
        return ", ".join(f"BIT_OR({bit(k, condition)}) AS {name}_{k}" for k in range(chunks))

    # Memberships and due rows in ONE grouped subquery (one join with the pass, not two).
    for n, (source, _) in enumerate(due):
        params[f"ws{n}"] = source
    no_due = "CAST(NULL AS TEXT) AS source, CAST(NULL AS TIMESTAMP) AS due_at"
    parts = [
        render(
            "SELECT m.customer_id, {member}, {manual}, {no_due} FROM memberships AS m "
            "JOIN {b} ON b.segment_code = m.segment_code",
            member=fixed(bits("m", "")),
            manual=fixed(bits("x", "AND m.reason = 'manual'")),
            no_due=fixed(no_due),
            b=fixed(table),
        )
    ]
    if due:
        zeros = ", ".join(f"CAST(0 AS BIGINT) AS {n}_{k}" for n in "mx" for k in range(chunks))
        parts.append(
            render(
                "SELECT d.customer_id, {zeros}, d.source, d.due_at FROM customer_due AS d "
                "WHERE d.source IN ({sources})",
                zeros=fixed(zeros),
                sources=fixed(", ".join(f"$ws{n}" for n in range(len(due)))),
            )
        )
    folded = ", ".join(
        [f"BIT_OR(u.{n}_{k}) AS {n}_{k}" for n in "mx" for k in range(chunks)]
        + [f"MIN(u.due_at) FILTER (WHERE u.source = $ws{n}) AS d_{n}" for n in range(len(due))]
    )
    stored = render(
        "SELECT u.customer_id, {folded} FROM ({parts}) AS u GROUP BY u.customer_id",
        folded=fixed(folded),
        parts=fixed(" UNION ALL ".join(parts)),
    )
    joins = [f"FULL OUTER JOIN ({stored}) AS m ON m.customer_id = f.id"]
    keys = ["f.id", "m.customer_id"]
    if manual:
        modes = render(
            "SELECT s.customer_id, {inc}, {exc} FROM segment_manual AS s JOIN {b} "
            "ON b.segment_code = s.segment_code GROUP BY s.customer_id",
            inc=fixed(or_bits("i", "AND s.mode = 'include'")),
            exc=fixed(or_bits("e", "AND s.mode = 'exclude'")),
            b=fixed(table),
        )
        joins.append(
            f"FULL OUTER JOIN ({modes}) AS s ON s.customer_id = COALESCE({', '.join(keys)})"
        )
        keys.append("s.customer_id")
    if join_customers:
        joins.append("LEFT JOIN customers AS c ON c.id = f.id")

    differs: list[str] = []
    for k in range(chunks):
        rule_bits = [
            f"CASE WHEN f.r_{i} THEN CAST({1 << (position[code] % CHUNK)} AS BIGINT) ELSE 0 END"
            for i, code in enumerate(rule_codes)
            if position[code] // CHUNK == k
        ]
        rules = f"({' + '.join(rule_bits)})" if rule_bits else "CAST(0 AS BIGINT)"
        rules = f"COALESCE({rules}, 0)"  # f is NULL for a customer row that is gone
        member = f"COALESCE(m.m_{k}, 0)"
        reason = f"COALESCE(m.x_{k}, 0)"
        if manual:
            inc, exc = f"COALESCE(s.i_{k}, 0)", f"COALESCE(s.e_{k}, 0)"
            wanted = f"({rules} | {inc})"
            differs.append(f"{wanted} - ({wanted} & {exc}) <> {member}")
            differs.append(f"{inc} - ({inc} & {exc}) <> {reason}")
        else:
            differs.append(f"{rules} <> {member}")
            differs.append(f"{reason} <> 0")
    for n, (_, expected) in enumerate(due):
        # no customer row: no due row is wanted
        differs.append(f"(CASE WHEN f.id IS NOT NULL THEN {expected} END) IS DISTINCT FROM m.d_{n}")

    rules_out = ", ".join(f"COALESCE(f.r_{i}, FALSE) AS r_{i}" for i in range(len(rule_codes)))
    template = render(
        "SELECT COALESCE({keys}) AS id, {rules}{values} FROM ({fused}) AS f {joins} "
        "WHERE {differs}",
        keys=fixed(", ".join(keys)),
        rules=fixed(rules_out),
        values=fixed("".join(f", f.v_{n}" for n in range(value_columns))),
        fused=fixed(_FUSED),
        joins=fixed(" ".join(joins)),
        differs=fixed(" OR ".join(f"({d})" for d in differs)),
    )
    return sql_for(store, template).replace(_FUSED, fused_sql), params
