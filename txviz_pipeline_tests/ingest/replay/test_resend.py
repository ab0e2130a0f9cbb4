"""Resending a replay's dead letters: from its dataset, under its id; what still fails stays,
permanent ones are skipped, local fallback files are picked up, a changed dataset is refused."""

from __future__ import annotations

import json

import pytest

from txviz_pipeline import aws
from txviz_pipeline.ingest.replay.api import ReplayError, ReplayOptions, replay
from txviz_pipeline.ingest.replay.deadletters import dead_letter_prefix
from txviz_pipeline.ingest.replay.plan import MAX_RECORD_BYTES
from txviz_pipeline.ingest.replay.resend import resend_dead_letters
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline_tests.ingest.replay import fakes
from txviz_pipeline_tests.ingest.replay.data import (
    START,
    create_stream,
    landed_row_ids,
    record,
    write_dataset,
)

ROWS = 1_200
TOO_LARGE = 700


def dead_letters(settings) -> dict[str, list[dict]]:
    """Every dead-letter object of replay "dl", S3 and local, with its lines."""
    s3 = aws.client("s3", settings)
    found = {}
    for key in iter_keys(s3, settings.bucket, dead_letter_prefix("dl")):
        body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
        found[key] = [json.loads(x) for x in body.splitlines()]
    for path in (settings.dead_letter_dir / dead_letter_prefix("dl")).glob("*"):
        found[str(path)] = [json.loads(x) for x in path.read_bytes().splitlines()]
    return found


@pytest.mark.integration
def test_resend_sends_what_failed_and_leaves_exactly_what_still_fails(tmp_path, moto_settings):
    settings = moto_settings
    create_stream(settings)
    lines = [json.dumps(record(i, START)).encode() + b"\n" for i in range(ROWS)]
    lines[TOO_LARGE] = json.dumps(record(700, START, job="x" * MAX_RECORD_BYTES)).encode() + b"\n"
    dataset = write_dataset(tmp_path / "ds", ROWS, parts=2, lines=lines)
    options = ReplayOptions(processes=2, replay_id="dl", max_attempts=4, backoff_base_s=0.001)
    first = replay(dataset, settings, options, client_factory=fakes.faulty_firehose)
    dead = {i for i in range(ROWS) if fakes.is_dead(i)}
    assert first.dead_lettered == len(dead) + 1 and not first.complete

    # One object as if S3 had failed at the time: only the local fallback holds it.
    s3 = aws.client("s3", settings)
    key = next(
        k for k, v in dead_letters(settings).items() if TOO_LARGE not in {d["row_id"] for d in v}
    )
    local = settings.dead_letter_dir / key
    local.parent.mkdir(parents=True)
    local.write_bytes(s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read())
    s3.delete_object(Bucket=settings.bucket, Key=key)
    moved = {json.loads(x)["row_id"] for x in local.read_text().splitlines()}

    resend = ReplayOptions(resend_dead_letters="dl", max_attempts=4, backoff_base_s=0.001)
    # Firehose still refuses the dead rows: they stay, rewritten with the new attempt.
    again = resend_dead_letters(settings, resend, client_factory=fakes.faulty_firehose)
    assert (again.resent, again.still_failing, again.permanent) == (0, len(dead), 1)
    left = dead_letters(settings)
    assert sorted(d["row_id"] for v in left.values() for d in v) == sorted(dead | {TOO_LARGE})
    # S3 answers now: the letters of the local fallback move there.
    assert key in left and not local.exists() and moved <= dead

    result = resend_dead_letters(settings, resend)
    assert (result.resent, result.still_failing, result.permanent) == (len(dead), 0, 1)
    assert result.local_files == ()
    left = dead_letters(settings)
    ((key, letters),) = left.items()
    assert [d["row_id"] for d in letters] == [TOO_LARGE] and letters[0]["permanent"]
    landed = landed_row_ids(settings)
    assert set(landed) == set(range(ROWS)) - {TOO_LARGE}
    assert all(n == 1 for n in landed.values())  # each dead row sent once, when it was accepted
    checkpoint = json.loads((settings.checkpoint_dir / "dl.json").read_text())
    assert (checkpoint["dead_lettered"], checkpoint["permanent"]) == (1, 1)
    assert checkpoint["resent"] == len(dead) and not checkpoint["complete"]
    assert checkpoint["dead_letter_local"] == []
    body = s3.get_object(Bucket=settings.bucket, Key="replays/dl/manifest.json")["Body"].read()
    manifest = json.loads(body)
    assert (manifest["dead_lettered"], manifest["resent"]) == (1, len(dead))
    assert [e.kind for e in result.events] == ["resending", "resent"]

    nothing = resend_dead_letters(settings, resend)
    assert (nothing.resent, nothing.still_failing, nothing.permanent) == (0, 0, 1)


@pytest.mark.integration
def test_resend_refuses_a_dataset_converted_again_since(tmp_path, moto_settings):
    create_stream(moto_settings)
    dataset = write_dataset(tmp_path / "ds", 300)
    options = ReplayOptions(processes=1, replay_id="dl", max_attempts=1)
    replay(dataset, moto_settings, options, client_factory=fakes.faulty_firehose)
    write_dataset(tmp_path / "ds", 300, first_row_id=5_000)  # other rows, same count
    before = dead_letters(moto_settings)
    with pytest.raises(ReplayError, match="changed since replay dl ran.*nothing was resent"):
        resend_dead_letters(moto_settings, ReplayOptions(resend_dead_letters="dl"))
    assert dead_letters(moto_settings) == before and before


@pytest.mark.integration
def test_resend_of_an_unknown_replay_says_there_is_nothing(moto_settings):
    with pytest.raises(ReplayError, match="replay 'nope' has no checkpoint.*nothing to resend"):
        resend_dead_letters(moto_settings, ReplayOptions(resend_dead_letters="nope"))


@pytest.mark.integration
def test_the_command_ends_in_one_line_naming_what_is_left(tmp_path, moto_settings, capsys):
    from txviz_pipeline.ingest.replay.command import EXIT_DEAD_LETTERS, EXIT_OK, run_replay

    create_stream(moto_settings)
    lines = [json.dumps(record(i, START)).encode() + b"\n" for i in range(600)]
    lines[7] = json.dumps(record(7, START, job="x" * MAX_RECORD_BYTES)).encode() + b"\n"
    dataset = write_dataset(tmp_path / "ds", 600, lines=lines)
    options = ReplayOptions(processes=1, replay_id="dl", max_attempts=4, backoff_base_s=0.001)
    replay(dataset, moto_settings, options, client_factory=fakes.faulty_firehose)
    capsys.readouterr()
    resend = ReplayOptions(resend_dead_letters="dl")
    assert run_replay(moto_settings, None, resend) == EXIT_DEAD_LETTERS
    dead = sum(fakes.is_dead(i) for i in range(600) if i != 7)
    assert capsys.readouterr().err == (
        f"txviz replay: replay dl: {dead} dead letters resent and accepted, 0 still failing, "
        "1 permanent skipped; 1 left in s3://txviz-transactions/errors/replay-failed/dl/\n"
    )
    # Without the permanent one, nothing is left.
    s3 = aws.client("s3", moto_settings)
    for key in list(iter_keys(s3, moto_settings.bucket, dead_letter_prefix("dl"))):
        s3.delete_object(Bucket=moto_settings.bucket, Key=key)
    assert run_replay(moto_settings, None, resend) == EXIT_OK
    assert capsys.readouterr().out.endswith("0 permanent skipped; no dead letters left\n")
