"""Numbers and times as fraudTrain.csv writes them, for whole columns at once by table lookup."""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SIGNS = pa.array(["", "-"], pa.string())


@cache
def clock_strings() -> pa.Array:
    """ "HH:MM:SS" for every second of a day, to build timestamps by lookup."""
    return pa.array(
        [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)], pa.string()
    )


def amount_strings(cents: np.ndarray) -> pa.Array:
    """Cents as Python's repr writes the amount in dollars (45.0, 4.5, 4.97)."""
    return pc.binary_join_element_wise(
        pc.cast(pa.array(cents // 100), pa.string()),
        pc.take(_cents_strings(), pa.array(cents % 100)),
        ".",
    )


def decimal_strings(value_e6: np.ndarray) -> pa.Array:
    """Millionths as the shortest decimal text (-82.048315, 36.0113, 36.0), as repr writes it."""
    head, tail = _thousandths()
    magnitude = np.abs(value_e6)
    fraction = magnitude % 1_000_000
    high, low = fraction // 1000, fraction % 1000
    return pc.binary_join_element_wise(
        pc.take(_SIGNS, pa.array((value_e6 < 0).astype(np.int8))),
        pc.cast(pa.array(magnitude // 1_000_000), pa.string()),
        ".",
        pc.take(head, pa.array(high + 1000 * (low != 0))),
        pc.take(tail, pa.array(low)),
        "",
    )


@cache
def _cents_strings() -> pa.Array:
    """The part after the point for 0..99 cents (0, 5, 97)."""
    return pa.array(["0" if c == 0 else f"{c:02d}".rstrip("0") for c in range(100)], pa.string())


@cache
def _thousandths() -> tuple[pa.Array, pa.Array]:
    """Lookup tables for 6-decimal fractions built from two 3-digit halves.

    head[h] is the first half when the second half is zero ("5" for 500, "0" for 0) and
    head[1000 + h] the zero-padded first half otherwise; tail[l] is the second half without
    trailing zeros ("" for 0).
    """
    padded = [f"{i:03d}" for i in range(1000)]
    stripped = [p.rstrip("0") for p in padded]
    head = pa.array([s or "0" for s in stripped] + padded, pa.string())
    return head, pa.array(stripped, pa.string())
