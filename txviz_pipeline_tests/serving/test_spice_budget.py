"""The SPICE budget guard against QuickSight's real API shapes (botocore Stubber: moto has no
ListIngestions or DescribeIngestion)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from txviz_pipeline.serving.quicksight import IngestionResult
from txviz_pipeline.serving.spice_budget import BudgetDecision, check_budget, guarded_refresh
from txviz_pipeline.settings import QUICKSIGHT_DATASET_ID, Settings
from txviz_pipeline_tests.serving.test_quicksight import (
    ACCOUNT,
    INGESTION,
    FakeTime,
    expect_create,
    expect_describe,
)
from txviz_pipeline_tests.serving.test_quicksight import stubbed as _stubbed

stubbed = _stubbed  # the Stubber-wrapped QuickSight client fixture

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
LIST = {"AwsAccountId": ACCOUNT, "DataSetId": QUICKSIGHT_DATASET_ID, "MaxResults": 100}


def ingestion(n: int, created: datetime) -> dict:
    return {
        "Arn": f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/x/ingestion/i-{n}",
        "IngestionId": f"i-{n}",
        "IngestionStatus": "COMPLETED",
        "CreatedTime": created,
        "RequestSource": "MANUAL",
        "RequestType": "FULL_REFRESH",
    }


def expect_list(stubber, ages_h: list[float], token: str | None = None, after: str | None = None):
    """One ListIngestions page of ingestions created ``ages_h`` hours before NOW."""
    page = {
        "Ingestions": [ingestion(i, NOW - timedelta(hours=h)) for i, h in enumerate(ages_h)],
        "Status": 200,
        **({"NextToken": token} if token else {}),
    }
    stubber.add_response(
        "list_ingestions", page, {**LIST, **({"NextToken": after} if after else {})}
    )


def guarded(client, budget: int):
    fake = FakeTime()
    waits = {"ingestion_id": INGESTION, "sleep": fake.sleep, "clock": fake.clock}
    return guarded_refresh(client, ACCOUNT, QUICKSIGHT_DATASET_ID, budget, NOW, **waits)


def test_under_budget_refreshes_in_full(stubbed):
    client, stubber = stubbed
    expect_list(stubber, [1.0, 2.5, 23.9])
    expect_create(stubber, "FULL_REFRESH")
    expect_describe(stubber, "COMPLETED", RowInfo={"RowsIngested": 7, "RowsDropped": 0})
    result = guarded(client, budget=4)
    assert isinstance(result, IngestionResult)
    assert (result.status, result.rows_ingested) == ("COMPLETED", 7)


def test_at_budget_skips_without_creating_an_ingestion(stubbed):
    client, stubber = stubbed
    expect_list(stubber, [0.5, 3.0, 20.0])
    result = guarded(client, budget=3)  # the stubber fails on any CreateIngestion
    assert result == BudgetDecision(
        allowed=False, used=3, budget=3, oldest=NOW - timedelta(hours=20)
    )
    assert result.reason == (
        "skipped: 3 SPICE ingestions in the last 24 h reach txviz's daily budget of 3 "
        "(TXVIZ_SPICE_DAILY_INGESTION_BUDGET; QuickSight caps a dataset at 32 a day on "
        "Enterprise, 8 on Standard); a slot frees at 2026-12-02 14:00 UTC"
    )


def test_every_page_is_counted(stubbed):
    client, stubber = stubbed
    expect_list(stubber, [1.0] * 100, token="page-2")
    expect_list(stubber, [2.0] * 100, token="page-3", after="page-2")
    expect_list(stubber, [3.0] * 5, after="page-3")
    decision = check_budget(client, ACCOUNT, QUICKSIGHT_DATASET_ID, 24, NOW)
    assert (decision.allowed, decision.used) == (False, 205)


def test_ingestions_older_than_24_hours_are_not_counted(stubbed):
    client, stubber = stubbed
    expect_list(stubber, [24.0, 30.0, 200.0], token="more")
    expect_list(stubber, [23.99, 25.0], after="more")
    decision = check_budget(client, ACCOUNT, QUICKSIGHT_DATASET_ID, 2, NOW)
    assert (decision.allowed, decision.used) == (True, 1)
    assert decision.reason == "1 of 2 SPICE ingestions used in the last 24 h"


def test_a_missing_list_permission_names_the_action(stubbed):
    client, stubber = stubbed
    stubber.add_client_error(
        "list_ingestions", "AccessDeniedException", "no", 403, expected_params=LIST
    )
    with pytest.raises(PermissionError, match="quicksight:ListIngestions"):
        check_budget(client, ACCOUNT, QUICKSIGHT_DATASET_ID, 24, NOW)


def test_budget_settings_default_and_bounds():
    assert Settings.from_env({}).spice_daily_ingestion_budget == 24
    assert Settings.from_env({}).spice_min_refresh_interval_minutes == 60.0
    env = {"TXVIZ_SPICE_DAILY_INGESTION_BUDGET": "6"}
    assert Settings.from_env(env).spice_daily_ingestion_budget == 6
    with pytest.raises(ValueError, match="TXVIZ_SPICE_DAILY_INGESTION_BUDGET='40'"):
        Settings.from_env({"TXVIZ_SPICE_DAILY_INGESTION_BUDGET": "40"})
