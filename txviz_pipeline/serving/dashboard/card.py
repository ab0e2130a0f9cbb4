"""The dashboard's card drill-down: one card's transactions over time, its totals and flags.

The card is chosen by its token (never shown: the page names a card by its last four digits).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from txviz_pipeline.serving.dashboard.flags import FLAGGED_HELP

CARD_TITLE = "Card drill-down"
PICK_LABEL = "Card (most flagged first)"
TOKEN_LABEL = "…or a card token"
FLAG_COLOR = "#d6336c"
PLAIN_COLOR = "#1c7ed6"
CARD_FLAGGED_LABEL = "Card flagged by the model"


def masked(last4: str) -> str:
    return f"•••• {last4}"


def card_picker(cards: pd.DataFrame | None) -> str | None:
    """The sidebar's choice of card to drill into: a typed token, else one of the most flagged
    cards (listed by last four digits)."""
    st.sidebar.header(CARD_TITLE)
    pick_col = token_col = st.sidebar
    labels: dict[str, str] = {}
    if cards is not None:
        for row in cards.itertuples():
            labels[row.card_token] = (
                f"{masked(row.card_last4)} · {int(row.flagged):,} flagged"
                f" of {int(row.transactions):,}"
            )
    # The chosen card stays listed (under its last label) when new flags push it off the list.
    seen = st.session_state.setdefault("card_labels", {})
    seen.update(labels)
    chosen = st.session_state.get("card_pick")
    if chosen is not None and chosen not in labels and chosen in seen:
        labels[chosen] = seen[chosen]
    # The key keeps the chosen card while the list reorders as flags arrive.
    picked = pick_col.selectbox(
        PICK_LABEL,
        list(labels),
        index=None,
        format_func=labels.__getitem__,
        placeholder="Choose a card",
        key="card_pick",
    )
    typed = token_col.text_input(TOKEN_LABEL, type="password", key="card_token").strip()
    return typed or picked


def card_panel(frame: pd.DataFrame | None) -> None:
    """Totals and a timeline of amounts, flagged transactions in the fraud colour."""
    st.subheader(CARD_TITLE)
    if frame is None:
        st.caption("Choose a card in the sidebar to see its transactions.")
        return
    if frame.empty:
        st.info("No transaction of this card matches the filters.")
        return
    amounts = frame.amount.astype(float)
    flagged = frame.flagged.astype(bool)
    tiles = st.columns(5)
    tiles[0].metric("Card", masked(frame.card_last4.iloc[0]), border=True)
    tiles[1].metric("Card transactions", f"{len(frame):,}", border=True)
    tiles[2].metric("Card amount", f"${frame.amount.sum():,.2f}", border=True)
    tiles[3].metric(CARD_FLAGGED_LABEL, f"{int(flagged.sum()):,}", border=True, help=FLAGGED_HELP)
    tiles[4].metric("Card fraud (labelled)", f"{int(frame.is_fraud.sum()):,}", border=True)
    data = pd.DataFrame(
        {
            "time": pd.to_datetime(frame.event_time),
            "amount": amounts,
            "merchant": frame.merchant.str.removeprefix("fraud_"),
            "category": frame.category,
            "score": frame.fraud_score,
            "flag": flagged.map({True: "flagged", False: "not flagged"}),
            "model": frame.model_version,
            "reasons": frame.fraud_reasons.fillna(""),
        }
    )
    base = alt.Chart(data).encode(x=alt.X("time:T", title="Event time (UTC)"))
    line = base.mark_line(color="#adb5bd", strokeWidth=1).encode(y="amount:Q")
    points = base.mark_point(filled=True, size=70).encode(
        y=alt.Y("amount:Q", title="Amount ($)", axis=alt.Axis(format="$,.0f")),
        color=alt.Color(
            "flag:N",
            title=None,
            scale=alt.Scale(domain=["flagged", "not flagged"], range=[FLAG_COLOR, PLAIN_COLOR]),
        ),
        tooltip=[
            alt.Tooltip("time:T", format="%Y-%m-%d %H:%M:%S"),
            alt.Tooltip("amount:Q", format="$,.2f"),
            "merchant",
            "category",
            alt.Tooltip("score:Q", format=".3f"),
            "flag",
            "model",
            "reasons",
        ],
    )
    st.altair_chart(alt.layer(line, points).properties(height=260), width="stretch")
