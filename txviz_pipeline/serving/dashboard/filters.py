"""The dashboard's sidebar filters: event dates, categories and states, applied to every panel."""

from __future__ import annotations

import streamlit as st

from txviz_pipeline.serving.queries import Filters
from txviz_pipeline.serving.snapshot import FilterOptions

DATES_LABEL = "Event dates (UTC)"
CATEGORY_LABEL = "Category"
STATE_LABEL = "State"


def filter_sidebar(options: FilterOptions) -> Filters:
    """The sidebar's widgets over what the data holds; nothing chosen means everything."""
    sidebar = st.sidebar
    sidebar.header("Filters")
    days = sidebar.date_input(
        DATES_LABEL,
        value=[],
        min_value=options.first_day,
        max_value=options.last_day,
        help="Empty: every event date. One date: that day onwards.",
        key="filter_dates",
    )
    # Keys keep each choice while the options grow with the data.
    categories = sidebar.multiselect(
        CATEGORY_LABEL, options.categories, placeholder="All", key="filter_categories"
    )
    states = sidebar.multiselect(
        STATE_LABEL, options.states, placeholder="All", key="filter_states"
    )
    days = list(days or [])
    return Filters(
        start=days[0] if days else None,
        end=days[1] if len(days) > 1 else None,
        categories=tuple(categories),
        states=tuple(states),
    )


def filter_caption(filters: Filters) -> str | None:
    """A line naming the active filters, or None when the page shows everything."""
    parts = []
    if filters.start or filters.end:
        parts.append(f"event dates {filters.start or '…'} → {filters.end or '…'}")
    if filters.categories:
        parts.append("categories " + ", ".join(filters.categories))
    if filters.states:
        parts.append("states " + ", ".join(filters.states))
    return "Filtered: " + " · ".join(parts) if parts else None
