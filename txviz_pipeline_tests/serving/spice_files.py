"""Build a local SPICE file from landing records without S3 (for dashboard tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from txviz_pipeline.compaction import parse_landing_lines
from txviz_pipeline.serving.spice import SpiceRefreshResult, curated_table, publish_spice


def build_spice(path: Path, records: list[dict[str, Any]]) -> SpiceRefreshResult:
    table, bad = parse_landing_lines([orjson.dumps(r) for r in records])
    assert bad == 0
    return publish_spice(path, [curated_table(table, "2026-11-27-09")], files=1)
