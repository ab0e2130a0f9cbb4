"""txviz live dashboard: spending and fraud from the local SPICE, refreshed every few seconds.

Run with ``streamlit run app.py`` (see launch.py) and TXVIZ_HOME pointing at the txviz home. The
SPICE file is opened read-only for each refresh and closed right away: the refresh process swaps
in a new file atomically, and a reader holding no connection never delays it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import botocore.exceptions
import duckdb
import pandas as pd
import streamlit as st

from txviz_pipeline import aws
from txviz_pipeline.serving.dashboard.alerts_panel import alerts_view
from txviz_pipeline.serving.dashboard.card import card_panel, card_picker
from txviz_pipeline.serving.dashboard.charts import fraud_rate_color, totals_tooltip
from txviz_pipeline.serving.dashboard.filters import filter_caption, filter_sidebar
from txviz_pipeline.serving.dashboard.flags import (
    FLAGGED_HELP,
    FLAGGED_LABEL,
    SCORE_FORMAT,
)
from txviz_pipeline.serving.dashboard.panels_demographics import demographics_panels
from txviz_pipeline.serving.dashboard.panels_geo import state_map_panel
from txviz_pipeline.serving.queries import Filters
from txviz_pipeline.serving.snapshot import (
    FilterOptions,
    Snapshot,
    read_filter_options,
    read_snapshot,
)
from txviz_pipeline.serving.speed import SpeedLayer
from txviz_pipeline.settings import Settings

# Seconds between page updates. The speed layer has a record about 1 s after its Put, so a
# viewer waits that plus up to this (bench/bench_latency.py --poll 3: p95 under 5 s).
REFRESH_SECONDS = 3
# A flagged transaction processed this recently is highlighted as new.
NEW_FLAG_SECONDS = 60
NEW_FLAG_STYLE = "background-color: #ffe3ec; font-weight: 600"
FLAGGED_TITLE = "Latest transactions flagged by the model"
TILE_HEIGHT = 150
ROW_PX = 35  # st.dataframe row height
WAITING_MESSAGE = "Waiting for the first refresh of the local SPICE"
FRAUD_COLOR = "#d6336c"
VOLUME_COLOR = "#1c7ed6"
AMOUNT_COLOR = "#0ca678"


@st.cache_resource
def speed_layer(where: tuple[str | None, str, str], _settings: Settings) -> SpeedLayer | None:
    """One speed layer per dashboard process and S3 ``where`` (endpoint, mode, bucket): it
    remembers the landing objects it has read. None when there is no S3 to read (neither the
    embedded stack nor AWS is configured)."""
    if not (_settings.endpoint_url or _settings.mode == "aws"):
        return None
    return SpeedLayer(aws.client("s3", _settings, max_attempts=2), _settings.bucket)


def money(value: float) -> str:
    return f"${value:,.2f}"


def merchant_name(name: str) -> str:
    # Sparkov prefixes every merchant with "fraud_"; it says nothing about fraud.
    return name.removeprefix("fraud_")


def refresh_age(refreshed_at: str) -> str:
    then = datetime.strptime(refreshed_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def kpi_tiles(snapshot: Snapshot) -> None:
    kpis = snapshot.panels["kpis"].iloc[0]
    per_minute = snapshot.panels["per_minute"]
    rate = kpis.fraud_rate if pd.notna(kpis.fraud_rate) else 0.0
    # The amount tile is widest: it shows the total to the cent.
    tiles = st.columns([1.1, 1.7, 1, 1, 1.2, 1])
    tiles[0].metric(
        "Transactions",
        f"{int(kpis.transactions):,}",
        border=True,
        chart_data=per_minute.transactions.tolist()[-60:],
        chart_type="bar",
        help="Distinct trans_num in the local SPICE; sparkline: the last 60 event-time minutes.",
        height=TILE_HEIGHT,
    )
    tiles[1].metric(
        "Amount",
        money(kpis.amount_total),
        border=True,
        chart_data=[float(v) for v in per_minute.amount_total.tolist()[-60:]],
        chart_type="bar",
        help="Sum of amounts, exact to the cent; sparkline: the last 60 event-time minutes.",
        height=TILE_HEIGHT,
    )
    tiles[2].metric(
        "Fraud (labelled)",
        f"{int(kpis.fraud_count):,}",
        border=True,
        chart_data=per_minute.fraud_count.tolist()[-60:],
        chart_type="bar",
        help="Transactions the source labels as fraud (is_fraud = 1).",
        height=TILE_HEIGHT,
    )
    tiles[3].metric(
        "Fraud rate",
        f"{rate:.2%}",
        border=True,
        help="Labelled fraud / transactions.",
        height=TILE_HEIGHT,
    )
    tiles[4].metric(
        FLAGGED_LABEL,
        f"{int(kpis.flagged_count):,}",
        border=True,
        help=FLAGGED_HELP,
        height=TILE_HEIGHT,
    )
    tiles[5].metric("Cards", f"{int(kpis.cards):,}", border=True, height=TILE_HEIGHT)


def category_panel(frame: pd.DataFrame) -> None:
    st.subheader("Amount by category")
    height = ROW_PX * (len(frame) + 1) + 3
    chart = (
        alt.Chart(frame)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("amount_total:Q", title="Amount ($)", axis=alt.Axis(format="$,.0f")),
            y=alt.Y("category:N", sort="-x", title=None),
            color=fraud_rate_color(),
            tooltip=totals_tooltip("category"),
        )
        .properties(height=height)
    )
    chart_col, table_col = st.columns([3, 2])
    chart_col.altair_chart(chart, width="stretch")
    table_col.dataframe(
        frame.assign(fraud_rate=frame.fraud_rate * 100),
        hide_index=True,
        width="stretch",
        height=height,
        column_config={
            "category": "Category",
            "transactions": st.column_config.NumberColumn("Transactions", format="localized"),
            "amount_total": st.column_config.NumberColumn("Amount", format="dollar"),
            "fraud_count": st.column_config.NumberColumn("Fraud", format="localized"),
            "fraud_rate": st.column_config.NumberColumn("Fraud rate", format="%.2f%%"),
        },
    )


def fraud_bars(
    frame: pd.DataFrame, *, x: alt.X, y: alt.Y, tooltip: list, height: int, corner: int = 3
) -> None:
    """A bar chart in the fraud colour, as wide as its column."""
    chart = (
        alt.Chart(frame)
        .mark_bar(color=FRAUD_COLOR, cornerRadiusEnd=corner)
        .encode(x=x, y=y, tooltip=tooltip)
        .properties(height=height)
    )
    st.altair_chart(chart, width="stretch")


def hour_panel(frame: pd.DataFrame) -> None:
    st.subheader("Fraud rate by hour of day")
    fraud_bars(
        frame,
        x=alt.X("hour:O", title="Hour of day", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("fraud_rate:Q", title="Fraud rate", axis=alt.Axis(format=".1%")),
        tooltip=[
            "hour",
            alt.Tooltip("transactions:Q", format=","),
            alt.Tooltip("fraud_count:Q", format=","),
            alt.Tooltip("fraud_rate:Q", format=".2%"),
        ],
        height=280,
        corner=2,
    )


def minute_panel(frame: pd.DataFrame) -> None:
    st.subheader("Volume and amount per minute")
    data = frame.assign(minute=pd.to_datetime(frame["minute"]), amount=frame.amount_total)
    base = alt.Chart(data).encode(x=alt.X("minute:T", title="Event time (UTC)"))
    volume = base.mark_bar(color=VOLUME_COLOR, opacity=0.45).encode(
        y=alt.Y("transactions:Q", title="Transactions", axis=alt.Axis(titleColor=VOLUME_COLOR))
    )
    amount = base.mark_line(color=AMOUNT_COLOR, strokeWidth=1.5).encode(
        y=alt.Y(
            "amount:Q", title="Amount ($)", axis=alt.Axis(format="$,.0f", titleColor=AMOUNT_COLOR)
        ),
        tooltip=[
            alt.Tooltip("minute:T", format="%Y-%m-%d %H:%M"),
            alt.Tooltip("transactions:Q", format=","),
            alt.Tooltip("amount:Q", format="$,.2f"),
            alt.Tooltip("fraud_count:Q", format=","),
        ],
    )
    chart = alt.layer(volume, amount).resolve_scale(y="independent").properties(height=280)
    st.altair_chart(chart, width="stretch")


def merchants_panel(frame: pd.DataFrame) -> None:
    st.subheader("Top merchants by fraud")
    fraud_bars(
        frame.assign(merchant=frame.merchant.map(merchant_name)),
        x=alt.X("fraud_count:Q", title="Fraudulent transactions"),
        y=alt.Y("merchant:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[
            "merchant",
            alt.Tooltip("fraud_count:Q", format=","),
            alt.Tooltip("fraud_rate:Q", format=".2%"),
            alt.Tooltip("fraud_amount:Q", format="$,.2f"),
        ],
        height=300,
    )


def age_panel(frame: pd.DataFrame) -> None:
    st.subheader("Fraud rate by age band")
    fraud_bars(
        frame,
        x=alt.X("age_band:N", title="Cardholder age", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("fraud_rate:Q", title="Fraud rate", axis=alt.Axis(format=".1%")),
        tooltip=["age_band", alt.Tooltip("transactions:Q", format=","), "fraud_count"],
        height=300,
    )


def seconds_since(iso_utc: str, now: datetime) -> float:
    """Seconds from an ISO-8601 UTC time (``...Z``, with or without milliseconds) to ``now``."""
    then = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    return (now - then).total_seconds()


def flagged_panel(frame: pd.DataFrame) -> None:
    st.subheader(FLAGGED_TITLE)
    if frame.empty:
        st.caption("No transaction has been flagged yet.")
        return
    now = datetime.now(UTC)
    new = frame.processed_at.map(lambda t: seconds_since(t, now) <= NEW_FLAG_SECONDS)
    # The model's verdict first (score, model, reasons), where the page has room for it; the
    # transaction's other details follow and scroll sideways on a narrow screen.
    table = pd.DataFrame(
        {
            "New": new.map({True: "● new", False: ""}),
            "Processed (UTC)": frame.processed_at.str.replace("T", " ").str[:19],
            "Card": "•••• " + frame.card_last4,
            "Amount": frame.amount.astype(float),
            "Score": frame.fraud_score,
            "Model": frame.model_version,
            "Reasons": frame.fraud_reasons.fillna(""),
            "Label": frame.is_fraud.map({1: "fraud", 0: "legit"}),
            "Merchant": frame.merchant.map(merchant_name),
            "Category": frame.category,
            "Location": frame.city + ", " + frame.state,
            "Event time (UTC)": frame.event_time.str.replace("T", " ").str.rstrip("Z"),
        }
    )
    styled = table.style.apply(
        lambda row: [NEW_FLAG_STYLE if new.iloc[row.name] else ""] * len(row), axis=1
    )
    st.caption(
        f"Newest first by processing time; rows processed in the last {NEW_FLAG_SECONDS} s are"
        " highlighted. Each row was flagged against the threshold of the model that scored it."
        " Cards show their last four digits only."
    )
    st.dataframe(
        styled,
        hide_index=True,
        width="stretch",
        column_config={
            "Amount": st.column_config.NumberColumn(format="dollar"),
            "Score": st.column_config.ProgressColumn(
                format=SCORE_FORMAT, min_value=0.0, max_value=1.0
            ),
            "Reasons": st.column_config.TextColumn(width="large"),
        },
    )


def status_line(snapshot: Snapshot) -> None:
    refresh = snapshot.refresh
    kpis = snapshot.panels["kpis"].iloc[0]
    if refresh is None:
        parts = ["SPICE not refreshed yet"]
    else:
        refreshed_at = refresh["refreshed_at"]
        parts = [
            f"SPICE refreshed {refreshed_at.replace('T', ' ').rstrip('Z')} UTC"
            f" ({refresh_age(refreshed_at)})",
            f"{int(refresh['files']):,} Parquet files",
            f"{int(refresh['rows']):,} rows",
            f"{int(refresh['duplicates_removed']):,} duplicates removed",
        ]
    if snapshot.speed is not None:
        parts.append(
            f"{snapshot.speed.fresh_rows:,} rows just landed, not yet compacted"
            f" ({snapshot.speed.pending_objects:,} landing objects)"
        )
    if kpis.transactions:
        first, last = (
            t.replace("T", " ")[:16] for t in (kpis.first_event_time, kpis.last_event_time)
        )
        parts.append(f"event time {first} → {last} UTC")
    parts.append(f"updates every {REFRESH_SECONDS} s")
    st.caption(" · ".join(parts))


def settings_and_speed() -> tuple[Settings, SpeedLayer | None]:
    settings = Settings.from_env()
    return settings, speed_layer((settings.endpoint_url, settings.mode, settings.bucket), settings)


def filter_options() -> FilterOptions:
    """What the filters offer, read once per page run (a widget change reruns the page)."""
    settings, speed = settings_and_speed()
    try:
        try:
            return read_filter_options(settings.spice_path, speed)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return read_filter_options(settings.spice_path)
    except duckdb.Error:
        # live_view reports the unreadable SPICE; the filters offer nothing meanwhile.
        return FilterOptions([], [], None, None)


@st.fragment(run_every=REFRESH_SECONDS)
def live_view(filters: Filters, card_token: str | None) -> None:
    settings, speed = settings_and_speed()
    path = settings.spice_path
    try:
        try:
            snapshot = read_snapshot(path, speed, filters, card_token)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            st.warning(f"Fresh landing records could not be read ({exc}); showing the SPICE only.")
            snapshot = read_snapshot(path, filters=filters, card_token=card_token)
    except duckdb.Error as exc:
        st.error(f"The local SPICE at {path} could not be read: {exc}")
        return
    if snapshot is None:
        st.info(
            f"{WAITING_MESSAGE}: {path} does not exist yet and nothing has landed. Data"
            " appears as soon as records land or the SPICE is refreshed; this page checks"
            f" again every {REFRESH_SECONDS} s.",
            icon="⏳",
        )
        return
    status_line(snapshot)
    if caption := filter_caption(filters):
        st.caption(caption)
    kpi_tiles(snapshot)
    if not int(snapshot.panels["kpis"].transactions.iloc[0]):
        if filter_caption(filters):
            st.info("No transaction matches the filters.")
        else:
            st.info("The SPICE is loaded but holds no transactions yet.")
        return
    category_panel(snapshot.panels["by_category"])
    state_map_panel(snapshot.panels["by_state"])
    left, right = st.columns(2)
    with left:
        minute_panel(snapshot.panels["per_minute"])
    with right:
        hour_panel(snapshot.panels["by_hour"])
    left, right = st.columns(2)
    with left:
        merchants_panel(snapshot.panels["top_merchants"])
    with right:
        age_panel(snapshot.panels["by_age_band"])
    demographics_panels(snapshot.panels["daily_by_gender"], snapshot.panels["daily_by_age_band"])
    flagged_panel(snapshot.panels["latest_flagged"])
    card_panel(snapshot.card)


st.set_page_config(page_title="txviz · live transactions", page_icon="💳", layout="wide")
st.title("txviz · live transactions and fraud")
options = filter_options()
filters = filter_sidebar(options)
alerts_view()
live_view(filters, card_picker(options.cards))
