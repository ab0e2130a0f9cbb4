"""The replay's options, defined once: ranges, and the same fields in the launchpad and the CLI."""

from __future__ import annotations

import argparse

import pytest

from txviz_pipeline.cli import build_parser
from txviz_pipeline.definitions import defs as load_defs
from txviz_pipeline.defs.ingest.assets import ReplayConfig
from txviz_pipeline.ingest.replay.options import (
    ReplayOptions,
    add_cli_flags,
    options_from_cli,
)
from txviz_pipeline.settings import Settings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("replay_id", "../etc", "replay id"),
        ("max_batch_records", 501, "max_batch_records"),
        ("max_batch_records", 0, "max_batch_records"),
        ("checkpoint_store", "redis", "checkpoint_store"),
        ("rows", -1, "rows"),
        ("processes", 0, "processes"),
        ("speed", -1, "speed"),
        ("max_attempts", 0, "max_attempts"),
        ("max_bytes_per_s", -5, "max_bytes_per_s"),
        ("checkpoint_every_s", 0, "checkpoint_every_s"),
        ("processes", 65, "processes"),
        ("speed", float("inf"), "speed"),
        ("speed", float("nan"), "speed"),
        ("speed", 1e15, "speed"),
        ("max_records_per_s", float("inf"), "max_records_per_s"),
        ("max_lead_s", float("nan"), "max_lead_s"),
        ("backoff_cap_s", 1e300, "backoff_cap_s"),
    ],
)
def test_options_out_of_range_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        ReplayOptions(**{field: value})


def test_range_edges_are_accepted():
    options = ReplayOptions(rows=0, processes=1, speed=0, max_attempts=1, max_batch_records=500)
    assert options.speed is None  # 0 means as fast as possible
    assert ReplayOptions(max_batch_records=1).max_batch_records == 1
    assert ReplayOptions(processes=64, speed=1e9).processes == 64


@pytest.mark.parametrize(
    ("field", "value"), [("processes", 65), ("speed", float("nan")), ("speed", 1e15)]
)
def test_the_launchpad_refuses_what_the_options_refuse(field, value):
    with pytest.raises(ValueError, match=field):
        ReplayConfig(**{field: value})


def parse(*argv: str) -> ReplayOptions:
    parser = argparse.ArgumentParser()
    add_cli_flags(parser)
    return options_from_cli(parser.parse_args(argv), "default-name")


def test_cli_flags_are_the_options_fields():
    assert parse() == ReplayOptions(replay_id="default-name")
    options = parse(
        "--rows", "10", "--speed", "3600", "--no-resume", "--checkpoint-store", "s3",
        "--max-bytes-per-s", "0", "--replay-id", "mine", "--max-batch-records", "100",
    )  # fmt: skip
    assert options == ReplayOptions(
        rows=10,
        speed=3600.0,
        resume=False,
        checkpoint_store="s3",
        max_bytes_per_s=0,
        replay_id="mine",
        max_batch_records=100,
    )
    with pytest.raises(ValueError, match="max_batch_records"):
        parse("--max-batch-records", "900")


def test_txviz_replay_has_a_described_flag_per_option():
    replay_parser = build_parser(Settings())._subparsers._group_actions[0].choices["replay"]
    flags = {a.dest: a for a in replay_parser._actions if a.option_strings}
    for name, info in ReplayOptions.model_fields.items():
        assert name in flags, name
        assert info.description in flags[name].help.replace("%%", "%")
    args = build_parser(Settings()).parse_args(
        ["replay", "x.csv", "--processes", "3", "--no-resume"]
    )
    options = options_from_cli(args, "x")
    assert (options.processes, options.resume, options.replay_id) == (3, False, "x")


def test_the_launchpad_shows_every_option_described_and_pre_filled():
    job = load_defs().get_repository_def().get_job("replay_transactions_job")
    ops = job.run_config_schema.config_type.fields["ops"].config_type.fields
    fields = ops["firehose_replay"].config_type.fields["config"].config_type.fields
    assert set(fields) == set(ReplayOptions.model_fields)
    for name, info in ReplayOptions.model_fields.items():
        assert fields[name].description == info.description, name
        assert not fields[name].is_required, name
        if info.default is not None:
            assert fields[name].default_value == info.default, name


def test_the_launchpad_config_maps_to_the_options_in_one_step():
    config = ReplayConfig(rows=5, speed=0, checkpoint_store="s3")
    options = config.named("run-1")
    assert type(options) is ReplayOptions
    assert options == ReplayOptions(rows=5, checkpoint_store="s3", replay_id="run-1")
    assert ReplayConfig(replay_id="given").named("run-1").replay_id == "given"
    with pytest.raises(ValueError, match="processes"):
        ReplayConfig(processes=0)


def test_resend_is_a_flag_and_takes_no_csv():
    import argparse

    from txviz_pipeline.ingest.replay.command import options_of
    from txviz_pipeline.ingest.replay.options import add_cli_flags

    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?")
    add_cli_flags(parser)
    options = options_of(parser.parse_args(["--resend-dead-letters", "r-1"]))
    assert options.resend_dead_letters == "r-1"
    with pytest.raises(ValueError, match="give no CSV"):
        options_of(parser.parse_args(["x.csv", "--resend-dead-letters", "r-1"]))
    with pytest.raises(ValueError, match="give a CSV to replay, or --resend-dead-letters"):
        options_of(parser.parse_args([]))
    with pytest.raises(ValueError, match="invalid replay id"):
        options_of(parser.parse_args(["--resend-dead-letters", "../x"]))
