"""How ``txviz replay`` ends: one line per outcome, and its exit status."""

from __future__ import annotations

from pathlib import Path

from txviz_pipeline.ingest.replay import api
from txviz_pipeline.ingest.replay.command import EXIT_DEAD_LETTERS, EXIT_OK, run_replay
from txviz_pipeline.ingest.replay.options import ReplayOptions
from txviz_pipeline.settings import REPO_ROOT, Settings


def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    with (REPO_ROOT / "data" / "sample.csv").open() as f:
        path.write_text("".join(next(f) for _ in range(11)))
    return path


def result(dead: int, local: tuple[str, ...] = ()) -> api.ReplayResult:
    return api.ReplayResult(
        replay_id="r-1",
        rows=10,
        bytes=5_000,
        batches=1,
        sent=10 - dead,
        retried=0,
        failed=dead,
        permanent=1 if dead else 0,
        duration_s=1.0,
        startup_s=0.5,
        records_per_s=10.0,
        mib_per_s=0.01,
        resumed_from_row=0,
        dead_letter_key="errors/replay-failed/r-1/" if dead else None,
        dead_letter_local=local,
        manifest_key="replays/r-1/manifest.json",
        checkpoint="r-1.json",
        complete=not dead,
        dead_lettered=dead,
        started_at="2026-01-01T00:00:00+00:00",
    )


def test_dead_letters_left_end_in_one_line_naming_how_to_resend(tmp_path, monkeypatch, capsys):
    settings = Settings(home=tmp_path / "home", endpoint_url="http://127.0.0.1:1")
    local = (str(tmp_path / "x.ndjson"),)
    monkeypatch.setattr(api, "replay", lambda *a, **k: result(3, local))
    status = run_replay(settings, small_csv(tmp_path), ReplayOptions(replay_id="r-1"))
    assert status == EXIT_DEAD_LETTERS
    assert capsys.readouterr().err == (
        "txviz replay: replay r-1 ended with 3 rows in dead letters (1 permanent: Firehose "
        "can never accept them) in s3://txviz-transactions/errors/replay-failed/r-1/ and 1 "
        f"local files under {settings.dead_letter_dir}; resend them with "
        "txviz replay --resend-dead-letters r-1\n"
    )


def test_a_complete_replay_exits_zero_and_says_nothing_on_stderr(tmp_path, monkeypatch, capsys):
    settings = Settings(home=tmp_path / "home", endpoint_url="http://127.0.0.1:1")
    monkeypatch.setattr(api, "replay", lambda *a, **k: result(0))
    assert run_replay(settings, small_csv(tmp_path), ReplayOptions(replay_id="r-1")) == EXIT_OK
    assert capsys.readouterr().err == ""


def test_parts_end_in_one_line_each_and_the_worst_status(tmp_path, monkeypatch, capsys):
    from txviz_pipeline.ingest.replay import fanout
    from txviz_pipeline.ingest.replay.command import EXIT_STOPPED
    from txviz_pipeline.ingest.replay.errors import ReplayError

    settings = Settings(home=tmp_path / "home", endpoint_url="http://127.0.0.1:1")
    asked = {}

    def parts(dataset, settings, options, base):
        asked.update(parts=options.parts, base=base)
        return {1: result(0), 2: ReplayError("Firehose unreachable")}

    monkeypatch.setattr(fanout, "replay_parts", parts)
    status = run_replay(settings, small_csv(tmp_path), ReplayOptions(replay_id="r", parts=2))
    assert status == EXIT_STOPPED and asked == {"parts": 2, "base": "r"}
    out, err = capsys.readouterr()
    assert "part 1 (r.part-1-of-2, rows 0..) to " in out
    assert err == (
        "txviz replay: part 2 (r.part-2-of-2) stopped: Firehose unreachable; resume it with "
        "the same CSV and --replay-id r --parts 2 --part 2\n"
    )
