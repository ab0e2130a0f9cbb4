"""SPICE refresh against QuickSight's real API shapes (botocore Stubber: moto has no
DescribeIngestion)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from txviz_pipeline.serving.quicksight import (
    QuickSightRefreshError,
    RefreshLimitExceededError,
    RefreshTimeoutError,
    refresh_spice_dataset,
)
from txviz_pipeline.settings import QUICKSIGHT_DATASET_ID

ACCOUNT = "123456789012"
INGESTION = "txviz-test-1"
KEY = {"AwsAccountId": ACCOUNT, "DataSetId": QUICKSIGHT_DATASET_ID, "IngestionId": INGESTION}
ARN = (
    f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/{QUICKSIGHT_DATASET_ID}/ingestion/{INGESTION}"
)


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def stubbed() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client(
        "quicksight",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_create(stubber: Stubber, mode: str = "FULL_REFRESH") -> None:
    stubber.add_response(
        "create_ingestion",
        {"Arn": ARN, "IngestionId": INGESTION, "IngestionStatus": "INITIALIZED", "Status": 201},
        {**KEY, "IngestionType": mode},
    )


def expect_create_error(stubber: Stubber, code: str, message: str, http_status: int) -> None:
    stubber.add_client_error(
        "create_ingestion",
        service_error_code=code,
        service_message=message,
        http_status_code=http_status,
        expected_params={**KEY, "IngestionType": "FULL_REFRESH"},
    )


def expect_describe(stubber: Stubber, status: str, **extra) -> None:
    ingestion = {
        "Arn": ARN,
        "IngestionId": INGESTION,
        "IngestionStatus": status,
        "CreatedTime": datetime(2024, 5, 1, 12, tzinfo=UTC),
        **extra,
    }
    stubber.add_response("describe_ingestion", {"Ingestion": ingestion, "Status": 200}, KEY)


def refresh(client, fake: FakeTime, **kwargs):
    return refresh_spice_dataset(
        client,
        ACCOUNT,
        QUICKSIGHT_DATASET_ID,
        ingestion_id=INGESTION,
        sleep=fake.sleep,
        clock=fake.clock,
        **kwargs,
    )


def test_polls_through_queued_and_running_to_completed(stubbed):
    client, stubber = stubbed
    fake = FakeTime()
    expect_create(stubber, "INCREMENTAL_REFRESH")
    expect_describe(
        stubber, "QUEUED", QueueInfo={"WaitingOnIngestion": "x", "QueuedIngestion": "y"}
    )
    expect_describe(stubber, "RUNNING")
    expect_describe(stubber, "RUNNING")
    expect_describe(
        stubber,
        "COMPLETED",
        RowInfo={"RowsIngested": 1234, "RowsDropped": 2, "TotalRowsInDataset": 5000},
        IngestionTimeInSeconds=41,
    )

    result = refresh(client, fake, mode="INCREMENTAL_REFRESH", poll_s=5)

    assert result.status == "COMPLETED"
    assert result.ingestion_id == INGESTION
    assert (result.rows_ingested, result.rows_dropped) == (1234, 2)
    assert result.duration_s == 41.0
    assert result.error is None
    assert fake.sleeps == [5, 5, 5]


def test_failed_ingestion_raises_with_error_info(stubbed):
    client, stubber = stubbed
    expect_create(stubber)
    expect_describe(stubber, "RUNNING")
    expect_describe(
        stubber,
        "FAILED",
        ErrorInfo={"Type": "DATA_SOURCE_NOT_FOUND", "Message": "Table txviz.transactions missing"},
    )

    with pytest.raises(QuickSightRefreshError) as info:
        refresh(client, FakeTime())

    assert info.value.status == "FAILED"
    assert info.value.error_type == "DATA_SOURCE_NOT_FOUND"
    assert "DATA_SOURCE_NOT_FOUND" in str(info.value)
    assert "Table txviz.transactions missing" in str(info.value)
    assert INGESTION in str(info.value)


def test_cancelled_ingestion_raises(stubbed):
    client, stubber = stubbed
    expect_create(stubber)
    expect_describe(stubber, "CANCELLED")

    with pytest.raises(QuickSightRefreshError, match="CANCELLED"):
        refresh(client, FakeTime())


def test_times_out_when_never_final(stubbed):
    client, stubber = stubbed
    fake = FakeTime()
    expect_create(stubber)
    # At 10 s polls a 25 s timeout allows describes at t=0, 10, 20, 30 and gives up at 30.
    for _ in range(4):
        expect_describe(stubber, "RUNNING")

    with pytest.raises(RefreshTimeoutError) as info:
        refresh(client, fake, poll_s=10, timeout_s=25)

    assert info.value.status == "RUNNING"
    assert info.value.ingestion_id == INGESTION
    assert "still RUNNING" in str(info.value)
    assert fake.sleeps == [10, 10, 10]


def test_manual_refresh_cap_gets_a_clear_error(stubbed):
    client, stubber = stubbed
    expect_create_error(stubber, "LimitExceededException", "Ingestion limit exceeded", 429)

    with pytest.raises(RefreshLimitExceededError) as info:
        refresh(client, FakeTime())

    message = str(info.value)
    assert "32 per 24 h" in message
    assert "Ingestion limit exceeded" in message
    assert info.value.error_type == "LimitExceededException"


def test_existing_ingestion_id_resumes_waiting(stubbed):
    client, stubber = stubbed
    expect_create_error(stubber, "ResourceExistsException", "exists", 409)
    expect_describe(stubber, "COMPLETED", RowInfo={"RowsIngested": 7, "RowsDropped": 0})

    result = refresh(client, FakeTime())

    assert result.status == "COMPLETED"
    assert result.rows_ingested == 7
    assert result.duration_s == 0.0


def test_other_create_errors_are_wrapped(stubbed):
    client, stubber = stubbed
    expect_create_error(stubber, "ResourceNotFoundException", "dataset not found", 404)

    with pytest.raises(QuickSightRefreshError, match="ResourceNotFoundException: dataset not"):
        refresh(client, FakeTime())


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match="FULL_REFRESH"):
        refresh_spice_dataset(object(), ACCOUNT, "d", mode="SOMETIMES")  # type: ignore[arg-type]
