"""Validation time against the number of checked columns: the bad-row pass in one query
(the code before issue 19) against chunks of ``CHECKS_PER_QUERY`` (now), side by side in
one run, over a one-row ``raw`` table as the importer builds it (an event whose
properties are columns).

    python bench/bench_wide_validation.py [--widths 100,200,400,800]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import duckdb

from segmint.importing import columns
from segmint.importing.columns import Col, T, bad_rows, type_checks
from segmint.importing.reader import RawColumn


def timed(width: int, per_query: int) -> float:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE raw AS SELECT 1 AS __row, " + ", ".join(f"'x' AS c{i}" for i in range(width))
    )
    checked = [(RawColumn(f"properties.p{i}", f"c{i}", False), Col(T.STRING)) for i in range(width)]
    checks = type_checks(checked, None)
    with mock.patch.object(columns, "CHECKS_PER_QUERY", per_query):
        started = time.perf_counter()
        assert bad_rows(con, checks, {}) == ([], 0)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--widths", default="100,200,400,800")
    args = parser.parse_args()
    print("| columns | checks | one query (s) | chunks of 32 (s) |")
    print("|---|---|---|---|")
    for width in (int(w) for w in args.widths.split(",")):
        single = timed(width, 10**9)
        chunked = timed(width, 32)
        print(f"| {width} | {2 * width} | {single:.2f} | {chunked:.2f} |")


if __name__ == "__main__":
    main()
