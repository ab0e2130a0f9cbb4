"""What the dashboard shows on one refresh: every panel over ``SPICE ∪ speed layer``.

One short DuckDB session per refresh: an in-memory database attaches the SPICE file read-only
(the refresh process swaps that file atomically and is never delayed by a reader), the speed
layer adds the landed rows that snapshot does not hold, and a view named ``transactions`` over
both lets the panels run their SQL unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@dataclass
class Session:
    """One refresh's DuckDB session: its view ``transactions`` is SPICE ∪ speed layer (absent
    when ``has_data`` is false: no SPICE yet and nothing landed)."""

    con: duckdb.DuckDBPyConnection
    # The SPICE's load description (spice_refresh row); None before the first SPICE refresh.
    refresh: dict | None
    speed: SpeedStats | None
    has_data: bool


@contextmanager
def dashboard_session(path: Path, speed: SpeedLayer | None = None) -> Iterator[Session]:
    """A session whose ``transactions`` view holds the SPICE at ``path`` and the speed layer's
    rows that this SPICE snapshot does not hold; closed on exit."""
    con = duckdb.connect()
    try:
        spice_table = refresh = stats = None
        if path.exists():
            quoted = str(path).replace("'", "''")
            con.execute(f"ATTACH '{quoted}' AS {SPICE_CATALOG} (READ_ONLY)")
            spice_table = f"{SPICE_CATALOG}.{DATASET_TABLE}"
            refresh = con.sql(f"SELECT * FROM {SPICE_CATALOG}.{REFRESH_TABLE}").df()
            refresh = refresh.iloc[0].to_dict()
        columns = ", ".join(f'"{c}"' for c in DATASET_COLUMNS)
        parts = [f"SELECT {columns} FROM {spice_table}"] if spice_table else []
        if speed is not None:
            fresh, stats = speed.refresh(con, spice_table)
            con.register(FRESH_TABLE, fresh)
            parts.append(f"SELECT {columns} FROM {FRESH_TABLE}")
        has_data = bool(parts) and (spice_table is not None or stats.fresh_rows > 0)
        if parts:
            con.execute(f"CREATE VIEW {DATASET_TABLE} AS " + " UNION ALL ".join(parts))
        yield Session(con, refresh, stats, has_data)
    finally:
        con.close()


def read_snapshot(path: Path, speed: SpeedLayer | None = None) -> Snapshot | None:
    """Every panel over the SPICE at ``path`` and the speed layer's fresh rows; None if neither
    has any data yet."""
    with dashboard_session(path, speed) as session:
        if not session.has_data:
            return None
        panels = {name: run_panel(session.con, name) for name in PANELS}
        return Snapshot(panels, session.refresh, session.speed)
