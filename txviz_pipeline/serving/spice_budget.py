"""The SPICE ingestion budget on AWS: count the dataset's ingestions of the last 24 h and decide
whether txviz may start another.

QuickSight caps a dataset's ingestions at 32 per rolling 24 h on Enterprise (8 on Standard), and
a refused CreateIngestion is a failed run. The guard asks ListIngestions instead, so it sees every
ingestion whoever started it (txviz, the console, another tool) and keeps working across daemon
restarts; past the budget it says so and txviz skips the refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from txviz_pipeline.serving.quicksight import IngestionResult, refresh_spice_dataset

WINDOW = timedelta(hours=24)
PAGE_SIZE = 100


@dataclass(frozen=True)
class BudgetDecision:
    """Whether a SPICE refresh may start now, and the count it was decided on."""

    allowed: bool
    used: int
    budget: int
    # The oldest counted ingestion's time: the budget frees a slot 24 h after it.
    oldest: datetime | None

    @property
    def reason(self) -> str:
        if self.allowed:
            return f"{self.used} of {self.budget} SPICE ingestions used in the last 24 h"
        frees = (
            f"; a slot frees at {(self.oldest + WINDOW):%Y-%m-%d %H:%M} UTC" if self.oldest else ""
        )
        return (
            f"skipped: {self.used} SPICE ingestions in the last 24 h reach txviz's daily budget "
            f"of {self.budget} (TXVIZ_SPICE_DAILY_INGESTION_BUDGET; QuickSight caps a dataset at "
            f"32 a day on Enterprise, 8 on Standard){frees}"
        )


def recent_ingestion_times(
    client: Any, account_id: str, dataset_id: str, now: datetime
) -> list[datetime]:
    """The creation times of the dataset's ingestions created within 24 h before ``now``
    (every page of ListIngestions; QuickSight does not document their order)."""
    since = now - WINDOW
    times: list[datetime] = []
    kwargs: dict[str, Any] = {
        "AwsAccountId": account_id,
        "DataSetId": dataset_id,
        "MaxResults": PAGE_SIZE,
    }
    while True:
        try:
            page = client.list_ingestions(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "AccessDeniedException":
                raise PermissionError(
                    f"the SPICE budget guard needs quicksight:ListIngestions on dataset "
                    f"{dataset_id}: grant it to the role that runs txviz"
                ) from exc
            raise
        times += [
            created
            for ingestion in page.get("Ingestions", [])
            if (created := ingestion.get("CreatedTime")) is not None and created > since
        ]
        token = page.get("NextToken")
        if not token:
            return times
        kwargs["NextToken"] = token


def check_budget(
    client: Any, account_id: str, dataset_id: str, budget: int, now: datetime
) -> BudgetDecision:
    """May txviz start one more ingestion of ``dataset_id`` at ``now`` (timezone-aware)?"""
    times = recent_ingestion_times(client, account_id, dataset_id, now)
    return BudgetDecision(
        allowed=len(times) < budget, used=len(times), budget=budget, oldest=min(times, default=None)
    )


def guarded_refresh(
    client: Any,
    account_id: str,
    dataset_id: str,
    budget: int,
    now: datetime,
    **refresh: Any,
) -> IngestionResult | BudgetDecision:
    """The one way txviz refreshes SPICE on AWS: a FULL_REFRESH if the budget allows one (its
    IngestionResult), else the BudgetDecision that says why it was skipped.

    Full, not incremental: the dataset's SQL de-duplicates over the whole table (one row per
    trans_num), which an incremental refresh's lookback window would cut short, so the dataset
    has no refresh configuration that INCREMENTAL_REFRESH needs.
    """
    decision = check_budget(client, account_id, dataset_id, budget, now)
    if not decision.allowed:
        return decision
    return refresh_spice_dataset(client, account_id, dataset_id, mode="FULL_REFRESH", **refresh)
