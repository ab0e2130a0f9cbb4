"""Build a local SPICE file from landing records without S3 (for dashboard tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from txviz_pipeline.compaction import parse_landing_lines
from txviz_pipeline.serving.spice import SpiceRefreshResult, curated_table, publish_spice
from txviz_pipeline_tests.compaction.records import varied_records


def build_spice(path: Path, records: list[dict[str, Any]]) -> SpiceRefreshResult:
    table, bad = parse_landing_lines([orjson.dumps(r) for r in records])
    assert bad == 0
    return publish_spice(path, [curated_table(table, "2026-11-27-09")], files=1)


def states_records(n: int) -> list[dict]:
    """``varied_records`` spread over three states, two cardholder positions in each."""
    records = varied_records(n)
    for i, r in enumerate(records):
        r["state"] = STATES[i % 3]
        r["lat"], r["long"] = STATE_POSITIONS[r["state"]][i % 2]
    return records


STATES = ["CA", "NC", "TX"]
STATE_POSITIONS = {
    "CA": [(34.0, -118.0), (38.0, -122.0)],
    "NC": [(35.5, -80.5), (36.5, -79.5)],
    "TX": [(29.5, -95.5), (32.5, -97.5)],
}
