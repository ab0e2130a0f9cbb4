"""The dashboard's spending behaviour over time: daily amount per gender and per age band."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

GENDER_TITLE = "Daily amount by gender"
AGE_TITLE = "Daily amount by age band"


def daily_chart(frame: pd.DataFrame, column: str, title: str) -> alt.Chart:
    """One line per value of ``column``: the amount spent each event day (points mark days)."""
    data = frame.assign(day=pd.to_datetime(frame["day"]), amount=frame.amount_total.astype(float))
    return (
        alt.Chart(data)
        .mark_line(point=True, strokeWidth=1.5)
        .encode(
            x=alt.X("day:T", title="Event day (UTC)", axis=alt.Axis(format="%Y-%m-%d")),
            y=alt.Y("amount:Q", title="Amount ($)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color(f"{column}:N", title=title),
            tooltip=[
                alt.Tooltip("day:T", format="%Y-%m-%d"),
                column,
                alt.Tooltip("transactions:Q", format=","),
                alt.Tooltip("amount:Q", format="$,.2f"),
                alt.Tooltip("fraud_rate:Q", format=".2%", title="fraud rate"),
            ],
        )
        .properties(height=280)
    )


def demographics_panels(by_gender: pd.DataFrame, by_age_band: pd.DataFrame) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader(GENDER_TITLE)
        st.altair_chart(daily_chart(by_gender, "gender", "Gender"), width="stretch")
    with right:
        st.subheader(AGE_TITLE)
        st.altair_chart(daily_chart(by_age_band, "age_band", "Age band"), width="stretch")
