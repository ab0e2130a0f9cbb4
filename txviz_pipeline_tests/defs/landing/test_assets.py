"""landing_transactions materialized through Dagster on hours built to pass or fail each check."""

import dagster as dg
import pytest

from txviz_pipeline import aws
from txviz_pipeline.defs.landing.assets import landing_transactions
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.landing.checks import DEFAULT_MAX_BAD_RECORD_RATE
from txviz_pipeline_tests.compaction.records import landing_record, ndjson, processing_failed_line

pytestmark = pytest.mark.integration

HOUR = "2026/11/27/09"
ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN
SEVERITY = {
    "landing_records_parse": ERROR,
    "landing_schema_conforms": ERROR,
    "no_duplicate_trans_num": WARN,
    "bad_record_rate_below_threshold": WARN,
}


def land(settings, body: bytes, failed: int = 0) -> None:
    """One landing object with ``body`` and ``failed`` processing-failed records in HOUR."""
    s3 = aws.client("s3", settings)
    s3.create_bucket(Bucket=settings.bucket)
    s3.put_object(Bucket=settings.bucket, Key=f"landing/{HOUR}/obj-1", Body=body)
    if failed:
        lines = [processing_failed_line(i, "r1", "bad_value: amt") for i in range(failed)]
        s3.put_object(
            Bucket=settings.bucket,
            Key=f"errors/processing-failed/{HOUR}/err-1",
            Body=b"\n".join(lines) + b"\n",
        )


def evaluate_hour() -> tuple[dg.ExecuteInProcessResult, dict[str, dg.AssetCheckEvaluation]]:
    result = dg.materialize(
        [landing_transactions],
        partition_key=HOUR,
        resources={"aws": AwsResource()},
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(SEVERITY)
    for name, evaluation in evaluations.items():
        assert evaluation.severity == SEVERITY[name], name
    return result, evaluations


def failing(evaluations) -> set[str]:
    return {name for name, e in evaluations.items() if not e.passed}


def good(n: int) -> bytes:
    return ndjson([landing_record(i) for i in range(n)])


def test_clean_hour_passes_every_check(moto_settings):
    land(moto_settings, good(20))
    result, evaluations = evaluate_hour()
    assert result.success
    assert failing(evaluations) == set()
    (materialization,) = result.asset_materializations_for_node("landing_transactions")
    assert materialization.metadata["records"].value == 20


@pytest.mark.parametrize(
    ("body", "failed", "fails", "blocked"),
    [
        (good(20) + b'{"not json\n', 0, {"landing_records_parse"}, True),
        (
            good(20) + ndjson([landing_record(20, amount="oops")]),
            0,
            {"landing_schema_conforms"},
            True,
        ),
        (good(20) + ndjson([landing_record(3)]), 0, {"no_duplicate_trans_num"}, False),
        (good(10), 5, {"bad_record_rate_below_threshold"}, False),
    ],
    ids=["unparseable-line", "nonconforming-record", "duplicate-trans_num", "many-failed"],
)
def test_each_check_fails_on_the_data_it_guards(moto_settings, body, failed, fails, blocked):
    land(moto_settings, body, failed)
    result, evaluations = evaluate_hour()
    assert failing(evaluations) == fails
    # A failed blocking check (ERROR) fails the run, so nothing downstream reads the hour.
    assert result.success is not blocked


@pytest.mark.parametrize(("records", "failed", "passes"), [(19, 1, False), (20, 1, True)])
def test_bad_record_rate_must_stay_strictly_below_the_threshold(
    moto_settings, records, failed, passes
):
    assert DEFAULT_MAX_BAD_RECORD_RATE == 0.05  # 1 of 20 is exactly at it, 1 of 21 below
    land(moto_settings, good(records), failed)
    _result, evaluations = evaluate_hour()
    check = evaluations["bad_record_rate_below_threshold"]
    assert check.passed is passes
    assert check.metadata["bad_record_rate"].value == round(failed / (records + failed), 5)
    rate = failed / (records + failed)
    assert check.description == (
        f"{failed} of {records + failed} records ({rate:.1%}) were refused by the processor, "
        "failed or unreadable; the check warns from 5%."
    )
