"""What the dashboard shows on one refresh: every panel over ``SPICE ∪ speed layer``.

One short DuckDB session per refresh: an in-memory database attaches the SPICE file read-only
(the refresh process swaps that file atomically and is never delayed by a reader), the speed
layer adds the landed rows that snapshot does not hold, and a view named ``transactions`` over
both lets the panels run their SQL unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from txviz_pipeline.serving.queries import DATASET_COLUMNS, DATASET_TABLE, PANELS, run_panel
from txviz_pipeline.serving.speed import FRESH_TABLE, SpeedLayer, SpeedStats
from txviz_pipeline.serving.spice import REFRESH_TABLE

# The SPICE file's name inside a dashboard session.
SPICE_CATALOG = "spice"


@dataclass(frozen=True)
class Snapshot:
    panels: dict[str, pd.DataFrame]
    # The SPICE's load description (spice_refresh row); None before the first SPICE refresh.
    refresh: dict | None
    # None when the dashboard runs without a speed layer.
    speed: SpeedStats | None = None


def read_snapshot(path: Path, speed: SpeedLayer | None = None) -> Snapshot | None:
    """Every panel over the SPICE at ``path`` and the speed layer's fresh rows; None if neither
    has any data yet."""
    con = duckdb.connect()
    try:
        spice_table = None
        if path.exists():
            quoted = str(path).replace("'", "''")
            con.execute(f"ATTACH '{quoted}' AS {SPICE_CATALOG} (READ_ONLY)")
            spice_table = f"{SPICE_CATALOG}.{DATASET_TABLE}"
        stats = None
        columns = ", ".join(f'"{c}"' for c in DATASET_COLUMNS)
        parts = [f"SELECT {columns} FROM {spice_table}"] if spice_table else []
        if speed is not None:
            fresh, stats = speed.refresh(con, spice_table)
            if fresh.num_rows or spice_table is None:
                con.register(FRESH_TABLE, fresh)
                parts.append(f"SELECT {columns} FROM {FRESH_TABLE}")
        if spice_table is None and (stats is None or stats.fresh_rows == 0):
            return None
        con.execute(f"CREATE VIEW {DATASET_TABLE} AS " + " UNION ALL ".join(parts))
        panels = {name: run_panel(con, name) for name in PANELS}
        refresh = None
        if spice_table is not None:
            refresh = (
                con.execute(f"SELECT * FROM {SPICE_CATALOG}.{REFRESH_TABLE}").df().iloc[0].to_dict()
            )
        return Snapshot(panels, refresh, stats)
    finally:
        con.close()
