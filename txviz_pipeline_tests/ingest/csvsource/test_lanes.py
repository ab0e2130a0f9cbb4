"""Lane arithmetic: each trick judged against plain Python on every byte it can meet."""

from __future__ import annotations

import numpy as np
import pytest

from txviz_pipeline.ingest.csvsource.lanes import (
    CATEGORY_MULTIPLIER,
    category_slot,
    category_table,
    category_words,
    equal_lanes,
    nondigits,
)
from txviz_pipeline.schema import CATEGORIES


def words_of(data: bytes) -> np.ndarray:
    return np.frombuffer(data.ljust(-(-len(data) // 8) * 8, b"\0"), "<u8")


def flagged_lanes(flags: np.ndarray) -> list[bool]:
    """Which byte lanes have their high bit set, in byte order."""
    return [bool(b & 0x80) for b in flags.astype("<u8").tobytes()]


def test_nondigits_and_equal_lanes_flag_exactly_their_bytes():
    data = bytes(range(256))
    words = words_of(data)
    assert flagged_lanes(nondigits(words)) == [not chr(b).isdigit() or b > 127 for b in data]
    for char in (ord("."), ord("-"), 0, 255):
        assert flagged_lanes(equal_lanes(words, char)) == [b == char for b in data]


def first_perfect_multiplier() -> int:
    """How CATEGORY_MULTIPLIER was found: the first odd multiplier from the golden ratio's
    under which every category hashes to a slot of its own."""
    keys = [(*category_words(name), len(name)) for name in CATEGORIES]
    for multiplier in range(0x9E3779B97F4A7C15, 1 << 64, 2):
        if len({category_slot(a, b, n, multiplier) for a, b, n in keys}) == len(CATEGORIES):
            return multiplier
    raise AssertionError("no multiplier separates the categories")


def test_the_category_multiplier_gives_each_category_its_own_slot():
    assert first_perfect_multiplier() == CATEGORY_MULTIPLIER
    multiplier, first, second, lengths = category_table()
    assert int(multiplier) == CATEGORY_MULTIPLIER
    assert np.count_nonzero(lengths) == len(CATEGORIES)
    held = {
        (int(first[s]).to_bytes(8, "little") + int(second[s]).to_bytes(8, "little"))[: lengths[s]]
        for s in np.flatnonzero(lengths)
    }
    assert held == {name.encode() for name in CATEGORIES}


def test_a_multiplier_that_collides_is_refused(monkeypatch: pytest.MonkeyPatch):
    from txviz_pipeline.ingest.csvsource import lanes

    monkeypatch.setattr(lanes, "CATEGORY_MULTIPLIER", 0x9E3779B97F4A7C15)  # the first odd one
    lanes.category_table.cache_clear()
    try:
        with pytest.raises(ValueError, match="shares a slot"):
            lanes.category_table()
    finally:
        lanes.category_table.cache_clear()
