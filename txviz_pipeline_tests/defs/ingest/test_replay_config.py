"""Bad replay options on the launchpad fail the run before the conversion replaces the previous
dataset, naming the option; nothing is read, converted or replayed."""

from pathlib import Path

import dagster as dg
import pytest

from txviz_pipeline.defs.ingest.assets import firehose_replay, transactions_ndjson
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.settings import REPO_ROOT


def run(tmp_path: Path, replay_config: dict) -> dg.ExecuteInProcessResult:
    source = tmp_path / "small.csv"
    with (REPO_ROOT / "data" / "sample.csv").open() as f:
        source.write_text("".join(next(f) for _ in range(6)))
    return dg.materialize(
        [transactions_ndjson, firehose_replay],
        resources={"aws": AwsResource()},
        run_config={
            "ops": {
                "transactions_ndjson": {"config": {"source_csv": str(source)}},
                "firehose_replay": {"config": replay_config},
            }
        },
        raise_on_error=False,
    )


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"speed": float("nan")}, "speed: Input should be a finite number"),
        ({"speed": float("inf")}, "speed: Input should be a finite number"),
        ({"speed": 1e15}, "speed: Input should be less than or equal to 1000000000"),
        ({"processes": 0}, "processes: Input should be greater than or equal to 1"),
        ({"processes": 65}, "processes: Input should be less than or equal to 64"),
        ({"resend_dead_letters": "../x"}, "resend_dead_letters: Value error, invalid replay id"),
        ({"parts": 2, "part": 3}, "Value error, part 3 is not one of 1..2"),
    ],
)
def test_bad_replay_options_fail_before_the_dataset_is_replaced(
    config, named, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("TXVIZ_HOME", str(home))
    monkeypatch.setenv("TXVIZ_DATA_DIRS", str(tmp_path))
    previous = home / "ndjson" / "small"
    previous.mkdir(parents=True)
    (previous / "manifest.json").write_text('{"previous": true}')

    result = run(tmp_path, config)

    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "transactions_ndjson"
    message = failure.step_failure_data.error.message
    assert "firehose_replay config refused, nothing converted or replayed" in message
    assert named in message
    assert sorted(p.name for p in previous.iterdir()) == ["manifest.json"]
    assert (previous / "manifest.json").read_text() == '{"previous": true}'


@pytest.mark.e2e
def test_a_replay_whose_endpoint_is_gone_fails_the_run_in_one_line_with_its_events(
    tmp_path, monkeypatch
):
    from txviz_pipeline.settings import embedded_env
    from txviz_pipeline_tests.support.moto import free_port

    port = free_port()  # nothing listens there: every connection is refused
    for key, value in embedded_env(port, home=tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TXVIZ_DATA_DIRS", str(tmp_path))

    result = run(tmp_path, {"replay_id": "gone", "processes": 1})

    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "firehose_replay"
    data = failure.step_failure_data
    assert data.user_failure_data.description.startswith(
        f"cannot reach Firehose at http://127.0.0.1:{port} for "
    )
    assert data.user_failure_data.description.endswith(
        "(connection refused); stopped. 0 of 5 rows are sent; nothing was lost: "
        "launch again with replay_id gone to resume"
    )
    events = data.user_failure_data.metadata["events"].value
    assert "| started |" in events and "| stalled |" in events and "| stopped |" in events
