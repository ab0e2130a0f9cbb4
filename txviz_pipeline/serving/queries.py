"""The dashboard's SQL: one set of statements for the local SPICE (DuckDB) and for AWS.

Every statement is plain ANSI SQL that DuckDB and Athena (Trino) both run unchanged:
double-quoted identifiers, CAST, CASE, SUBSTR, NULLIF, COALESCE, ROW_NUMBER() OVER, LIMIT.
Money is summed as DECIMAL(18, 2) so totals are exact to the cent in both engines.

- ``DATASET_SQL`` builds the SPICE dataset from the curated Glue table ``txviz.transactions``
  (one Parquet file per arrival hour). At-least-once delivery can put one trans_num in two
  arrival hours; the dataset keeps the earliest copy, so its counts equal the source's.
  SPICE has no array type, so the model's reasons (a list in the curated table) become text:
  ``fraud_reasons`` joined with "; " and ``top_fraud_reason``, the strongest one. Trino's
  ``array_join`` is DuckDB's ``array_to_string``; ``add_trino_functions`` gives DuckDB the
  Trino name, so the statement itself stays one.
- ``PANELS`` are the dashboard panels; each reads the dataset under the name ``transactions``
  (a table in the local SPICE, the dataset in QuickSight; on Athena, a view over DATASET_SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from txviz_pipeline.compaction import ARRIVAL_HOUR_COLUMN
from txviz_pipeline.schema import LANDING_FIELDS
from txviz_pipeline.settings import GLUE_DATABASE, GLUE_TABLE

# The curated table the dataset reads (Glue on AWS; an attached staging database locally).
SOURCE_TABLE = f"{GLUE_DATABASE}.{GLUE_TABLE}"
# The name panels read the dataset under.
DATASET_TABLE = "transactions"
# Per-minute volume covers the newest 12 hours of event time that hold data.
MINUTES_SHOWN = 720
LATEST_FLAGGED_LIMIT = 50
TOP_MERCHANTS_LIMIT = 10

# The model's reasons as one line of text; reasons are phrases that may hold commas
# ("$1,250.00 shopping_net purchase"), so they are joined with a semicolon.
REASONS_SEPARATOR = "; "
TOP_REASON_COLUMN = "top_fraud_reason"
# Dataset columns computed from the curated ones (SPICE takes no arrays); the rest pass through.
_COMPUTED = {
    "fraud_reasons": f"array_join(fraud_reasons, '{REASONS_SEPARATOR}') AS fraud_reasons",
    # Trino fails fraud_reasons[1] on an empty array; CASE guards it in both engines.
    TOP_REASON_COLUMN: (
        f"CASE WHEN cardinality(fraud_reasons) > 0 THEN fraud_reasons[1] END AS {TOP_REASON_COLUMN}"
    ),
}
_REASONS_AT = list(LANDING_FIELDS).index("fraud_reasons") + 1
DATASET_COLUMNS: tuple[str, ...] = (
    *list(LANDING_FIELDS)[:_REASONS_AT],
    TOP_REASON_COLUMN,
    *list(LANDING_FIELDS)[_REASONS_AT:],
    ARRIVAL_HOUR_COLUMN,
)


def dataset_sql(source: str) -> str:
    """The dataset over curated rows in ``source``: one copy per trans_num, reasons as text."""
    columns = ",\n    ".join(_COMPUTED.get(c, f'"{c}"') for c in DATASET_COLUMNS)
    return f"""
SELECT
    {columns}
FROM (
    SELECT
        t.*,
        ROW_NUMBER() OVER (
            PARTITION BY t.trans_num ORDER BY t.arrival_hour, t.processed_at, t.row_id
        ) AS copy_number
    FROM {source} AS t
) AS ranked
WHERE copy_number = 1
""".strip()


DATASET_SQL = dataset_sql(SOURCE_TABLE)


def add_trino_functions(con) -> None:
    """Give a DuckDB connection the Trino functions DATASET_SQL uses that DuckDB names otherwise."""
    con.execute(
        "CREATE OR REPLACE TEMP MACRO array_join(items, sep) AS array_to_string(items, sep)"
    )


_AMOUNT = "CAST(amount AS DECIMAL(18, 2))"
_FRAUD_COUNT = "CAST(COALESCE(SUM(is_fraud), 0) AS BIGINT)"
_FRAUD_RATE = "CAST(SUM(is_fraud) AS DOUBLE) / NULLIF(COUNT(*), 0)"
# "Flagged" is the verdict of the model that scored the record (against that model's own
# threshold, recorded by the processor), never a threshold applied here.
_FLAGGED = "CASE WHEN fraud_flagged = 1 THEN 1 ELSE 0 END"


def _daily_by(column: str) -> str:
    """Per event day and value of ``column``: transactions, amount and fraud."""
    return f"""
SELECT
    SUBSTR(event_time, 1, 10) AS "day",
    {column},
    COUNT(*) AS transactions,
    SUM({_AMOUNT}) AS amount_total,
    {_FRAUD_COUNT} AS fraud_count,
    {_FRAUD_RATE} AS fraud_rate
FROM {DATASET_TABLE}
GROUP BY SUBSTR(event_time, 1, 10), {column}
ORDER BY "day", {column}
"""


PANELS: dict[str, str] = {
    # One row: the KPI tiles.
    "kpis": f"""
SELECT
    COUNT(*) AS transactions,
    COALESCE(SUM({_AMOUNT}), 0) AS amount_total,
    {_FRAUD_COUNT} AS fraud_count,
    {_FRAUD_RATE} AS fraud_rate,
    CAST(COALESCE(SUM({_FLAGGED}), 0) AS BIGINT) AS flagged_count,
    COUNT(DISTINCT card_token) AS cards,
    MIN(event_time) AS first_event_time,
    MAX(event_time) AS last_event_time
FROM {DATASET_TABLE}
""",
    "by_category": f"""
SELECT
    category,
    COUNT(*) AS transactions,
    SUM({_AMOUNT}) AS amount_total,
    {_FRAUD_COUNT} AS fraud_count,
    {_FRAUD_RATE} AS fraud_rate
FROM {DATASET_TABLE}
GROUP BY category
ORDER BY amount_total DESC, category
""",
    "by_hour": f"""
SELECT
    "hour",
    COUNT(*) AS transactions,
    {_FRAUD_COUNT} AS fraud_count,
    {_FRAUD_RATE} AS fraud_rate
FROM {DATASET_TABLE}
GROUP BY "hour"
ORDER BY "hour"
""",
    # event_time is ISO-8601 UTC text, so its first 16 characters name the minute.
    "per_minute": f"""
SELECT "minute", transactions, amount_total, fraud_count
FROM (
    SELECT
        SUBSTR(event_time, 1, 16) AS "minute",
        COUNT(*) AS transactions,
        SUM({_AMOUNT}) AS amount_total,
        {_FRAUD_COUNT} AS fraud_count
    FROM {DATASET_TABLE}
    GROUP BY SUBSTR(event_time, 1, 16)
    ORDER BY "minute" DESC
    LIMIT {MINUTES_SHOWN}
) AS newest
ORDER BY "minute"
""",
    "by_day": f"""
SELECT
    SUBSTR(event_time, 1, 10) AS "day",
    COUNT(*) AS transactions,
    {_FRAUD_COUNT} AS fraud_count,
    {_FRAUD_RATE} AS fraud_rate
FROM {DATASET_TABLE}
GROUP BY SUBSTR(event_time, 1, 10)
ORDER BY "day"
""",
    "by_age_band": f"""
SELECT
    age_band,
    COUNT(*) AS transactions,
    SUM({_AMOUNT}) AS amount_total,
    {_FRAUD_COUNT} AS fraud_count,
    {_FRAUD_RATE} AS fraud_rate
FROM {DATASET_TABLE}
GROUP BY age_band
ORDER BY age_band
""",
    # The map: one point per cardholder state, placed at its cardholders' mean position.
    "by_state": f"""
SELECT
    state,
    AVG(lat) AS lat,
    AVG("long") AS lon,
    COUNT(*) AS transactions,
    SUM({_AMOUNT}) AS amount_total,
    {_FRAUD_COUNT} AS fraud_count,
    {_FRAUD_RATE} AS fraud_rate
FROM {DATASET_TABLE}
GROUP BY state
ORDER BY amount_total DESC, state
""",
    # Spending behaviour by day and demographic: one row per (day, gender).
    # Spending behaviour by day and demographic: one row per (day, gender) / (day, age band).
    "daily_by_gender": _daily_by("gender"),
    "daily_by_age_band": _daily_by("age_band"),
    "top_merchants": f"""
SELECT
    merchant,
    COUNT(*) AS transactions,
    {_FRAUD_COUNT} AS fraud_count,
    {_FRAUD_RATE} AS fraud_rate,
    SUM(CASE WHEN is_fraud = 1 THEN {_AMOUNT} ELSE 0 END) AS fraud_amount
FROM {DATASET_TABLE}
GROUP BY merchant
HAVING SUM(is_fraud) > 0
ORDER BY fraud_count DESC, fraud_amount DESC, merchant
LIMIT {TOP_MERCHANTS_LIMIT}
""",
    # Newest first as they arrive (processing time). Card shown by its last four digits only;
    # the token never leaves the dataset.
    "latest_flagged": f"""
SELECT
    processed_at,
    event_time,
    card_last4,
    merchant,
    category,
    {_AMOUNT} AS amount,
    fraud_score,
    model_version,
    fraud_reasons,
    is_fraud,
    city,
    state
FROM {DATASET_TABLE}
WHERE fraud_flagged = 1
ORDER BY processed_at DESC, event_time DESC, trans_num DESC
LIMIT {LATEST_FLAGGED_LIMIT}
""",
}
PANELS = {name: sql.strip() for name, sql in PANELS.items()}

CARD_CHOICES_LIMIT = 25
# The cards the drill-down offers first: most flagged, then most spent.
CARD_CHOICES_SQL = f"""
SELECT
    card_token,
    MAX(card_last4) AS card_last4,
    SUM({_FLAGGED}) AS flagged,
    COUNT(*) AS transactions
FROM {{table}}
GROUP BY card_token
ORDER BY flagged DESC, SUM({_AMOUNT}) DESC, card_token
LIMIT {CARD_CHOICES_LIMIT}
""".strip()
# One card's transactions, oldest first (parameter: the card token).
CARD_TIMELINE_SQL = f"""
SELECT
    event_time,
    card_last4,
    {_AMOUNT} AS amount,
    merchant,
    category,
    fraud_score,
    {_FLAGGED} AS flagged,
    model_version,
    fraud_reasons,
    is_fraud
FROM {DATASET_TABLE}
WHERE card_token = ?
ORDER BY event_time, trans_num
""".strip()


def panel_view(name: str) -> str:
    """The view that holds panel ``name`` in the local SPICE (``panel_kpis`` ...)."""
    if name not in PANELS:
        raise KeyError(f"unknown panel {name!r}; panels: {', '.join(PANELS)}")
    return f"panel_{name}"


def run_panel(con, name: str) -> pd.DataFrame:
    """Run panel ``name`` on a DuckDB connection to the SPICE and return it as a DataFrame."""
    panel_view(name)
    return con.execute(PANELS[name]).df()


@dataclass(frozen=True)
class Filters:
    """What the dashboard's viewer narrowed the data to: event dates (UTC, both ends included),
    categories and states (empty: all). Applied as a view, so every panel's SQL runs unchanged."""

    start: date | None = None
    end: date | None = None
    categories: tuple[str, ...] = ()
    states: tuple[str, ...] = ()

    def where(self) -> str:
        """The SQL condition these filters put on ``transactions`` rows (``TRUE`` for none)."""
        conditions = []
        # event_time is ISO-8601 UTC text: comparing it with 'YYYY-MM-DD' compares dates.
        if self.start is not None:
            conditions.append(f"event_time >= {_literal(self.start.isoformat())}")
        if self.end is not None:
            conditions.append(f"event_time < {_literal((self.end + timedelta(1)).isoformat())}")
        for column, values in (("category", self.categories), ("state", self.states)):
            if values:
                conditions.append(f"{column} IN ({', '.join(_literal(v) for v in values)})")
        return " AND ".join(conditions) or "TRUE"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
