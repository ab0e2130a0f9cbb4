"""A replay in parts: row ranges, names, streams and quota shares, and four parts sent at once
through a metered moto server."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import replace

import pytest

from txviz_pipeline import aws
from txviz_pipeline.generator.sparkov import generate_csv
from txviz_pipeline.ingest.convert import convert_csv_to_ndjson
from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.fanout import replay_parts
from txviz_pipeline.ingest.replay.options import ReplayOptions
from txviz_pipeline.ingest.replay.parts import Part, part_rows
from txviz_pipeline.ingest.replay.ratelimit import Limits
from txviz_pipeline.settings import Settings
from txviz_pipeline_tests.support.metering import MeteringProxy
from txviz_pipeline_tests.support.moto import create_plain_stream

QUOTA = 200 * 1024  # bytes/s: low, so the test is short


@pytest.mark.parametrize("total", [0, 1, 7, 1_000, 1_296_675])
@pytest.mark.parametrize("parts", [1, 2, 3, 4, 64])
def test_parts_cover_every_row_once(total, parts):
    covered = []
    for number in range(1, parts + 1):
        first, end = part_rows(total, number, parts)
        covered.extend(range(first, end))
    assert covered == list(range(total))


def test_parts_share_their_stream_quota():
    settings = Settings(shard_streams=("s2", "s3"))
    quota = Limits(records_per_s=1_000, bytes_per_s=600, requests_per_s=None)
    parts = [Part.of(n, 4, quota, settings) for n in range(1, 5)]
    assert [p.stream for p in parts] == [
        settings.delivery_stream,
        "s2",
        "s3",
        settings.delivery_stream,
    ]
    # Two parts on the first stream, one on each other.
    assert [p.limits.bytes_per_s for p in parts] == [300, 600, 600, 300]
    assert parts[0].limits.requests_per_s is None
    assert parts[1].replay_id("r1") == "r1.part-2-of-4"
    whole = Part.of(None, 1, quota, settings)
    assert whole.replay_id("r1") == "r1" and whole.limits == quota


def test_a_part_must_be_one_of_the_parts():
    with pytest.raises(ValueError, match="part 5 is not one of 1..4"):
        ReplayOptions(parts=4, part=5)
    with pytest.raises(ValueError, match="runs one part at a time"):
        Part.of(None, 4, Limits(), Settings())


def _csv_trans_nums(path) -> Counter:
    with open(path, newline="") as f:
        return Counter(row["trans_num"] for row in csv.DictReader(f))


def _trans_nums(records: list[bytes]) -> Counter:
    return Counter(json.loads(r)["trans_num"] for r in records)


@pytest.mark.e2e
@pytest.mark.parametrize("streams", [1, 2])
def test_four_parts_send_every_row_once_within_the_shared_quota(tmp_path, moto_settings, streams):
    """Four parts in four processes (as four runs would) through a proxy that meters what the
    server receives: every one-second window of every stream holds at most its quota, and the
    server gets each of the CSV's transactions exactly once."""
    source = tmp_path / "tx.csv"
    generate_csv(source, rows=3_000, seed=3)
    dataset = tmp_path / "ndjson"
    convert_csv_to_ndjson(source, dataset)
    shards = tuple(f"{moto_settings.delivery_stream}-{i}" for i in range(2, streams + 1))
    for name in shards:
        create_plain_stream(replace(moto_settings, delivery_stream=name), prefix=f"shard/{name}/")
    create_plain_stream(moto_settings)
    options = ReplayOptions(
        parts=4,
        processes=1,
        max_batch_records=20,  # ~11 KB calls: many calls per second at a quarter of the quota
        max_bytes_per_s=QUOTA,
        progress_every_s=60,
    )
    with MeteringProxy(int(moto_settings.endpoint_url.rsplit(":", 1)[1])) as proxy:
        metered = replace(moto_settings, endpoint_url=proxy.url, shard_streams=shards)
        outcomes = replay_parts(dataset, metered, options, "metered")
        meter = proxy.meter
    assert all(not isinstance(o, Exception) for o in outcomes.values()), outcomes
    assert sorted(o.replay_id for o in outcomes.values()) == [
        f"metered.part-{n}-of-4" for n in range(1, 5)
    ]
    assert all(o.complete and o.dead_lettered == 0 for o in outcomes.values())
    # Every transaction of the CSV reached the server once, across the four parts.
    assert _trans_nums(meter.records) == _csv_trans_nums(source)
    assert sum(o.rows for o in outcomes.values()) == 3_000
    totals = meter.totals()
    assert set(totals) == {moto_settings.delivery_stream, *shards}
    for stream, total in totals.items():
        worst = meter.per_second(stream=stream)
        assert worst["bytes"] <= QUOTA, (stream, worst)
        # The long run: whole seconds from the first call to just after the last.
        seconds = math.floor(total["last"] - total["first"]) + 1
        assert total["bytes"] <= QUOTA * seconds
    # Each part's checkpoint covers its own rows only: resume and resend work per part.
    for outcome in outcomes.values():
        checkpoint = json.loads(
            (moto_settings.checkpoint_dir / f"{outcome.replay_id}.json").read_text()
        )
        assert checkpoint["next_row"] == outcome.first_row + outcome.rows
        manifest = aws.client("s3", moto_settings).get_object(
            Bucket=moto_settings.bucket, Key=f"replays/{outcome.replay_id}/manifest.json"
        )
        assert json.loads(manifest["Body"].read())["first_row"] == outcome.first_row


def test_a_replay_in_parts_needs_a_part(tmp_path, moto_settings):
    from txviz_pipeline.ingest.replay.api import replay

    with pytest.raises(ReplayError, match="runs one part at a time"):
        replay(
            _tiny_dataset(tmp_path), moto_settings, ReplayOptions(parts=2, replay_id="needs-part")
        )


def _tiny_dataset(tmp_path):
    from txviz_pipeline_tests.ingest.replay.data import write_dataset

    return write_dataset(tmp_path / "ds", 10)


def test_a_part_cuts_calls_to_a_tenth_of_its_share():
    quota = Limits(bytes_per_s=5 * 1024 * 1024)
    whole = Part.of(None, 1, quota, Settings())
    assert whole.batch_records(500, 600.0) == 500  # a whole replay keeps its batch size
    quarter = Part.of(1, 4, quota, Settings())
    assert quarter.batch_records(500, 600.0) == 218  # 1.25 MiB/s / 10 / 600 B
    assert quarter.batch_records(100, 600.0) == 100
    assert quarter.batch_records(500, 0.0) == 500  # no size known: as asked
    unlimited = Part.of(1, 4, Limits(bytes_per_s=None), Settings())
    assert unlimited.batch_records(500, 600.0) == 500
