"""The dashboard's map: spending and fraud by cardholder state, drawn offline.

Vega-Lite projects each state's point (its cardholders' mean latitude and longitude, from the
data itself) with the Albers USA projection: no map tiles, no CDN, nothing fetched.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from txviz_pipeline.serving.dashboard.charts import fraud_rate_color, totals_tooltip

MAP_TITLE = "Spending and fraud by state"
MAP_HEIGHT = 420


def state_map_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Circles sized by amount and coloured by fraud rate, each labelled with its state."""
    base = alt.Chart(frame).encode(longitude="lon:Q", latitude="lat:Q")
    points = base.mark_circle(opacity=0.8, stroke="#495057", strokeWidth=0.5).encode(
        size=alt.Size(
            "amount_total:Q",
            title="Amount ($)",
            scale=alt.Scale(range=[40, 2400]),
            legend=alt.Legend(format="$,.0f"),
        ),
        color=fraud_rate_color(),
        tooltip=[*totals_tooltip("state"), alt.Tooltip("fraud_count:Q", format=",")],
    )
    labels = base.mark_text(dy=-12, fontSize=10, color="#343a40").encode(text="state:N")
    return alt.layer(points, labels).project(type="albersUsa").properties(height=MAP_HEIGHT)


def state_map_panel(frame: pd.DataFrame) -> None:
    st.subheader(MAP_TITLE)
    st.caption(
        "Each circle sits at the mean position of the state's cardholders; its size is the"
        " amount spent, its colour the labelled fraud rate."
    )
    st.altair_chart(state_map_chart(frame), width="stretch")
