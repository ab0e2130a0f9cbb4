"""What the dashboard shows on one refresh: every panel over ``SPICE ∪ speed layer``.

One short DuckDB session per refresh: an in-memory database attaches the SPICE file read-only
(the refresh process swaps that file atomically and is never delayed by a reader), the speed
layer adds the landed rows that snapshot does not hold, and a view named ``transactions`` over
both, narrowed by the viewer's filters, lets the panels run their SQL unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from txviz_pipeline.serving.queries import (
    CARD_CHOICES_SQL,
    CARD_TIMELINE_SQL,
    DATASET_COLUMNS,
    DATASET_TABLE,
    PANELS,
    Filters,
    run_panel,
)
from txviz_pipeline.serving.speed import FRESH_TABLE, SpeedLayer, SpeedStats
from txviz_pipeline.serving.spice import REFRESH_TABLE

# The SPICE file's name inside a dashboard session.
SPICE_CATALOG = "spice"
# SPICE ∪ speed layer before the filters; ``transactions`` is this view filtered.
UNFILTERED_VIEW = "all_transactions"


@dataclass(frozen=True)
class FilterOptions:
    """What the filter widgets offer: the data's categories, states and event-date range."""

    categories: list[str]
    states: list[str]
    first_day: date | None
    last_day: date | None
    # The cards the drill-down offers: card_token, card_last4, flagged, transactions.
    cards: pd.DataFrame | None = None


@dataclass(frozen=True)
class Snapshot:
    panels: dict[str, pd.DataFrame]
    # The SPICE's load description (spice_refresh row); None before the first SPICE refresh.
    refresh: dict | None
    # None when the dashboard runs without a speed layer.
    speed: SpeedStats | None = None
    # The drill-down card's transactions (CARD_TIMELINE_SQL); None when no card is chosen.
    card: pd.DataFrame | None = None


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
def dashboard_session(
    path: Path, speed: SpeedLayer | None = None, filters: Filters | None = None
) -> Iterator[Session]:
    """A session whose ``transactions`` view holds the SPICE at ``path`` and the speed layer's
    rows that this SPICE snapshot does not hold, narrowed by ``filters``; closed on exit."""
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
            con.execute(f"CREATE VIEW {UNFILTERED_VIEW} AS " + " UNION ALL ".join(parts))
            where = (filters or Filters()).where()
            con.execute(
                f"CREATE VIEW {DATASET_TABLE} AS SELECT * FROM {UNFILTERED_VIEW} WHERE {where}"
            )
        yield Session(con, refresh, stats, has_data)
    finally:
        con.close()


def read_snapshot(
    path: Path,
    speed: SpeedLayer | None = None,
    filters: Filters | None = None,
    card_token: str | None = None,
) -> Snapshot | None:
    """Every panel over the SPICE at ``path`` and the speed layer's fresh rows, narrowed by
    ``filters``, and the transactions of ``card_token`` if given; None if there is no data."""
    with dashboard_session(path, speed, filters) as session:
        if not session.has_data:
            return None
        panels = {name: run_panel(session.con, name) for name in PANELS}
        card = None
        if card_token:
            card = session.con.execute(CARD_TIMELINE_SQL, [card_token]).df()
        return Snapshot(panels, session.refresh, session.speed, card)


def read_filter_options(path: Path, speed: SpeedLayer | None = None) -> FilterOptions:
    """The categories, states and event dates that the SPICE at ``path`` and the speed layer
    hold (nothing yet: none)."""
    with dashboard_session(path, speed) as session:
        if not session.has_data:
            return FilterOptions([], [], None, None)
        row = session.con.execute(
            f"""SELECT
                LIST(DISTINCT category ORDER BY category),
                LIST(DISTINCT state ORDER BY state),
                MIN(SUBSTR(event_time, 1, 10)),
                MAX(SUBSTR(event_time, 1, 10))
            FROM {UNFILTERED_VIEW}"""
        ).fetchone()
        cards = session.con.execute(CARD_CHOICES_SQL.format(table=UNFILTERED_VIEW)).df()
    categories, states, first, last = row
    return FilterOptions(
        categories or [],
        states or [],
        date.fromisoformat(first) if first else None,
        date.fromisoformat(last) if last else None,
        cards,
    )
