"""Vectorised Arrow helpers shared by the demo data sets: exact decimals, UTC timestamps,
string ids and list columns built from numpy arrays without a Python loop per row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as _pc

#: Arrow compute, untyped: pyarrow-stubs' overloads are narrower than the kernels accept
#: (e.g. ``take`` with indices built from numpy, ``year`` of a date32 array).
pc: Any = _pc
AnyArray: TypeAlias = "pa.Array[Any]"

#: Money in every import table: exact, never float (architecture.md).
MONEY = pa.decimal128(18, 4)
#: Timestamps in every import table.
TIMESTAMP = pa.timestamp("us", tz="UTC")

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def decimal_from_scaled(
    scaled: IntArray, scale: int = 4, valid: BoolArray | None = None
) -> AnyArray:
    """A ``decimal128(18, scale)`` array whose values are ``scaled / 10**scale`` exactly.

    The 128-bit little-endian two's-complement layout is written directly (low word is the
    value, high word its sign extension), so nothing goes through a float.
    """
    values = np.ascontiguousarray(scaled, dtype=np.int64)
    n = len(values)
    words = np.empty((n, 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    validity = None
    null_count = 0
    if valid is not None and not bool(np.all(valid)):
        validity = pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little").tobytes())
        null_count = int(n - np.count_nonzero(valid))
    return pa.Array.from_buffers(
        pa.decimal128(18, scale),
        n,
        [validity, pa.py_buffer(words.tobytes())],
        null_count=null_count,
    )


def money_from_cents(cents: IntArray, valid: BoolArray | None = None) -> AnyArray:
    """``decimal128(18, 4)`` from integer cents (exact)."""
    return decimal_from_scaled(np.asarray(cents, dtype=np.int64) * 100, 4, valid)


def timestamps_from_micros(micros: IntArray) -> AnyArray:
    """``timestamp('us', tz='UTC')`` from microseconds since the Unix epoch."""
    return pa.array(np.asarray(micros, dtype=np.int64), type=TIMESTAMP)


def ids(prefix: str, numbers: IntArray, width: int) -> AnyArray:
    """Strings ``prefix`` + zero-padded ``numbers`` (e.g. ``C00000042``)."""
    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0"
    )
    result: AnyArray = pc.binary_join_element_wise(pa.scalar(prefix), digits, pa.scalar(""))
    return result


def pick(choices: Sequence[str], index: npt.NDArray[np.integer]) -> AnyArray:
    """A string array taking ``choices[index[i]]`` for each row (dictionary decode, vectorised)."""
    dictionary = pa.array(list(choices), type=pa.string())
    result: AnyArray = pc.take(dictionary, pa.array(np.asarray(index, dtype=np.int64)))
    return result


def pick_nullable(choices: Sequence[str], index: npt.NDArray[np.integer]) -> AnyArray:
    """Like :func:`pick`, a negative index giving null."""
    idx = np.asarray(index, dtype=np.int64)
    dictionary = pa.array(list(choices), type=pa.string())
    result: AnyArray = pc.take(dictionary, pa.array(np.where(idx < 0, 0, idx), mask=idx < 0))
    return result


def string_lists(names: Sequence[str], flags: BoolArray) -> AnyArray:
    """A ``list<string>`` array: row ``i`` holds ``names[j]`` for every true ``flags[i, j]``."""
    rows, cols = np.nonzero(flags)  # row-major: grouped by row, names in their given order
    counts = np.bincount(rows, minlength=flags.shape[0])
    offsets = np.zeros(flags.shape[0] + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = pick(names, cols)
    list_array: Any = pa.ListArray
    result: AnyArray = list_array.from_arrays(pa.array(offsets), values)
    return result
