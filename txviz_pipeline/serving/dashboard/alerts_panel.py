"""The dashboard's alerts: a banner per open alert and the list of recent ones.

Alerts are read from the pipeline bucket's ``alerts/`` objects (txviz_pipeline.alerts.store),
the same copy on the embedded stack and on AWS, in their own fragment on a slower cadence than
the figures: an alert changes far less often than the transactions do.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pandas as pd
import streamlit as st

from txviz_pipeline.alerts.store import recent_alerts, still_open
from txviz_pipeline.settings import Settings

ALERTS_REFRESH_SECONDS = 10
RECENT_ALERTS = 20
MAX_BANNERS = 5


def banner_text(alert: dict[str, Any]) -> str:
    """One open alert as a banner line: what, where and when, with its Dagster link."""
    where = " · ".join(
        f"{name} {alert[name]}"
        for name in ("asset", "check", "partition")
        if alert.get(name) not in (None, "", "-")
    )
    text = f"**{alert['title']}**" + (f" — {where}" if where else "")
    text += f" (raised {alert['raised_at'][:16].replace('T', ' ')} UTC)"
    if alert.get("link"):
        text += f" · [open in Dagster]({alert['link']})"
    return text


def recent_table(alerts: list[dict[str, Any]]) -> pd.DataFrame:
    """Recent alerts, newest first, as the list shows them."""
    return pd.DataFrame(
        [
            {
                "Raised (UTC)": a["raised_at"][:19].replace("T", " "),
                "Status": a["status"],
                "Severity": a["severity"],
                "Kind": a["kind"],
                "Alert": a["title"],
                "Partition": a.get("partition", "-"),
            }
            for a in alerts
        ],
        columns=["Raised (UTC)", "Status", "Severity", "Kind", "Alert", "Partition"],
    )


@st.fragment(run_every=ALERTS_REFRESH_SECONDS)
def alerts_view() -> None:
    settings = Settings.from_env()
    if not (settings.endpoint_url or settings.mode == "aws"):
        return
    try:
        # One read of the stored alerts serves both the banners and the list.
        alerts = recent_alerts(settings, limit=None)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        st.caption(f"Alerts could not be read ({type(exc).__name__}).")
        return
    opened = still_open(alerts)
    recent = alerts[:RECENT_ALERTS]
    for alert in opened[:MAX_BANNERS]:
        show = st.error if alert["severity"] == "ERROR" else st.warning
        show(banner_text(alert), icon="🚨" if alert["severity"] == "ERROR" else "⚠️")
    if len(opened) > MAX_BANNERS:
        st.caption(f"and {len(opened) - MAX_BANNERS:,} more open alerts (see the list below)")
    label = f"Recent alerts ({len(recent)})" if recent else "Recent alerts (none)"
    with st.expander(label, expanded=bool(opened)):
        if recent:
            st.dataframe(recent_table(recent), hide_index=True, width="stretch")
        else:
            st.caption("No alert in the last 24 hours.")
