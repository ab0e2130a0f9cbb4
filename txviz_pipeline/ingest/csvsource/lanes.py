"""Lane arithmetic: eight bytes of a field checked at once as one uint64 (SWAR), a bit trick
per byte lane, on whole columns of words. The scan (:mod:`.scan`) builds on these."""

from __future__ import annotations

from functools import cache

import numpy as np

from txviz_pipeline.schema import CATEGORIES

_HIGH = np.uint64(0x8080808080808080)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_BYTES = np.uint64(0x0101010101010101)
_ABOVE_9 = np.uint64(0x7676767676767676)  # 0x80 - 10
_ZEROS = np.uint64(0x3030303030303030)
# KEEP[k]: the low k byte lanes of a word (the first k bytes of the field it was read at)
KEEP = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def nondigits(word: np.ndarray) -> np.ndarray:
    """A lane's high bit is set where its byte is not an ASCII digit: digits xor "0" are
    0..9, and adding 0x76 carries every other lane value into the lane's high bit."""
    x = word ^ _ZEROS
    return (((x & _LOW7) + _ABOVE_9) | x) & _HIGH


def equal_lanes(word: np.ndarray, char: int) -> np.ndarray:
    """A lane's high bit is set where its byte equals ``char``."""
    x = word ^ (_BYTES * np.uint64(char))
    return ~(((x & _LOW7) + _LOW7) | x) & _HIGH


def _pattern(pattern: str) -> tuple[np.uint64, np.uint64, np.uint64]:
    """For a pattern such as "dddd-dd-" (d: any digit): the high bits of its digit lanes,
    and the mask and value of its other lanes."""
    digits = fixed = value = 0
    for i, c in enumerate(pattern):
        if c == "d":
            digits |= 0x80 << (8 * i)
        else:
            fixed |= 0xFF << (8 * i)
            value |= ord(c) << (8 * i)
    return np.uint64(digits), np.uint64(fixed), np.uint64(value)


def matches(word: np.ndarray, pattern: str) -> np.ndarray:
    digits, fixed, value = _pattern(pattern)
    return ((nondigits(word) & digits) == 0) & ((word & fixed) == value)


def two_digits(word: np.ndarray, lane: int) -> np.ndarray:
    """The number written by the two digits at lanes lane and lane + 1."""
    pair = word >> np.uint64(8 * lane)
    tens, ones = pair & np.uint64(15), (pair >> np.uint64(8)) & np.uint64(15)
    return (tens * np.uint64(10) + ones).astype(np.int64)


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def real_date(word: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether "YYYY-MM-" (word) and ``day`` make a real date, and YYYYMMDD."""
    year = two_digits(word, 0) * 100 + two_digits(word, 2)
    month = two_digits(word, 5)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _DAYS_IN_MONTH[np.minimum(month, 12)] + ((month == 2) & leap)
    # Years before 1000 are left to the slow path, which knows what strptime accepts.
    ok = (year >= 1000) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= last)
    return ok, (year * 100 + month) * 100 + day


# Categories are told apart by their first 16 bytes (two words) and length, hashed to one of
# 64 slots: under this odd multiplier the 14 categories take 14 different slots, so one
# comparison per row decides. It is the first odd number from the golden ratio's
# 0x9E3779B97F4A7C15 that separates them (test_lanes searches again and fails on a collision).
CATEGORY_MULTIPLIER = 0x9E3779B97F4A7C1B


def category_words(name: str) -> tuple[int, int]:
    """The first 16 bytes of a category (zero-padded) as two little-endian words."""
    raw = name.encode().ljust(16, b"\0")
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


def category_slot(first: int, second: int, length: int, multiplier: int) -> int:
    """The slot of a category's words and length; the scan computes the same on uint64s."""
    return ((first ^ second * 31 ^ length) * multiplier % (1 << 64)) >> 58


@cache
def category_table() -> tuple[np.uint64, np.ndarray, np.ndarray, np.ndarray]:
    """The multiplier and, per slot, the words and length of the category that hashes there
    (length 0: no category)."""
    first = np.zeros(64, np.uint64)
    second = np.zeros(64, np.uint64)
    lengths = np.zeros(64, np.int64)
    for name in CATEGORIES:
        a, b = category_words(name)
        slot = category_slot(a, b, len(name), CATEGORY_MULTIPLIER)
        if lengths[slot]:
            raise ValueError(f"{name!r} shares a slot with another category: change the multiplier")
        first[slot], second[slot], lengths[slot] = a, b, len(name)
    return np.uint64(CATEGORY_MULTIPLIER), first, second, lengths
