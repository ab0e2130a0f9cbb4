"""spice_dataset materialized through Dagster on the embedded path: curated Parquet in moto S3
becomes the local DuckDB SPICE."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.defs.serving.assets import spice_dataset
from txviz_pipeline.demo import spice_row_count
from txviz_pipeline_tests.defs.hours import compact_hour, land_hour

pytestmark = pytest.mark.integration


def test_spice_dataset_loads_the_curated_parquet(moto_settings):
    land_hour(moto_settings, rows=12)
    compact_hour()
    result = dg.materialize([spice_dataset], resources={"aws": AwsResource()})
    (materialization,) = result.asset_materializations_for_node("spice_dataset")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["engine"] == "duckdb (local SPICE)"
    assert (meta["rows"], meta["files"]) == (12, 1)
    assert meta["path"] == str(moto_settings.spice_path)
    assert spice_row_count(moto_settings.spice_path) == 12


CLIENTS: dict[str, object] = {}


class StubbedAws(AwsResource):
    """AwsResource on AWS whose clients are the test's Stubber-wrapped ones."""

    def client(self, service: str):
        return CLIENTS[service]


def test_on_aws_a_spent_budget_skips_the_refresh_without_failing(monkeypatch):
    import boto3
    from botocore.stub import Stubber

    from txviz_pipeline.settings import QUICKSIGHT_DATASET_ID

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("TXVIZ_SPICE_DAILY_INGESTION_BUDGET", "2")
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    sts = boto3.client("sts", region_name="us-east-1", **keys)
    quicksight = boto3.client("quicksight", region_name="us-east-1", **keys)
    CLIENTS.update(sts=sts, quicksight=quicksight)
    account = "123456789012"
    recent = [
        {
            "Arn": f"arn:aws:quicksight:us-east-1:{account}:dataset/x/ingestion/i-{n}",
            "IngestionId": f"i-{n}",
            "IngestionStatus": "COMPLETED",
            "CreatedTime": datetime.now(UTC) - timedelta(hours=n + 1),
        }
        for n in range(2)
    ]
    with Stubber(sts) as sts_stub, Stubber(quicksight) as qs_stub:
        sts_stub.add_response(
            "get_caller_identity",
            {
                "Account": account,
                "Arn": f"arn:aws:iam::{account}:user/txviz",
                "UserId": "AIDATXVIZ",
            },
        )
        qs_stub.add_response(
            "list_ingestions",
            {"Ingestions": recent, "Status": 200},
            {"AwsAccountId": account, "DataSetId": QUICKSIGHT_DATASET_ID, "MaxResults": 100},
        )
        result = dg.materialize(
            [spice_dataset], resources={"aws": StubbedAws(region_name="us-east-1")}
        )
        qs_stub.assert_no_pending_responses()  # and no CreateIngestion was made
    assert result.success
    (materialization,) = result.asset_materializations_for_node("spice_dataset")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert (meta["status"], meta["ingestions_24h"], meta["budget"]) == ("skipped", 2, 2)
    assert meta["reason"].startswith("skipped: 2 SPICE ingestions in the last 24 h reach")
