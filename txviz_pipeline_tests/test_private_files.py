"""Everything txviz writes under its home is its owner's alone: files 0600, folders 0700, even
when the process umask would let others read (the CLI also sets a private umask)."""

import os
import stat
from pathlib import Path

import pytest

from txviz_pipeline import aws
from txviz_pipeline.cli import main
from txviz_pipeline.ingest.convert import convert_csv_to_ndjson
from txviz_pipeline.ingest.replay.checkpoint import Checkpoint, LocalCheckpointStore
from txviz_pipeline.ingest.replay.deadletters import DeadLetter, DeadLetterWriter, dead_letter_lines
from txviz_pipeline.private_files import PRIVATE_UMASK
from txviz_pipeline.serving.spice import publish_spice
from txviz_pipeline.settings import REPO_ROOT, Settings
from txviz_pipeline.stack import control


@pytest.fixture
def loose_umask():
    """A umask that lets group and others read what is created; the old one is restored."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def small_csv(tmp_path: Path, rows: int = 5) -> Path:
    path = tmp_path / "small.csv"
    with (REPO_ROOT / "data" / "sample.csv").open() as f:
        path.write_text("".join(next(f) for _ in range(rows + 1)))
    return path


def no_s3(*args, **kwargs):
    raise ConnectionError("no S3 here")


def test_every_file_txviz_writes_in_its_home_is_private(tmp_path, loose_umask, monkeypatch):
    # Locally kept state (the embedded stack): dead letters fall back to local files.
    settings = Settings(home=tmp_path / "home", state_store="local")
    convert_csv_to_ndjson(small_csv(tmp_path), settings.ndjson_dir / "small")
    checkpoint = Checkpoint(replay_id="r1", dataset="small", dataset_rows=5)
    LocalCheckpointStore(settings.checkpoint_dir).save(checkpoint)
    monkeypatch.setattr(aws, "client", no_s3)
    letter = DeadLetter(line=b'{"row_id": 1}\n', code="X", reason="test", attempts=1)
    assert DeadLetterWriter(settings, "r1").write(0, 1, dead_letter_lines([letter], "r1"))
    publish_spice(settings.spice_path, [], files=0)
    control.card_token_key(settings)

    written = list(settings.home.rglob("*"))
    files = [p for p in written if p.is_file()]
    names = {p.name for p in files}
    assert {"part-00000.ndjson", "rejects.ndjson", "transactions.duckdb", "card-token.key"} <= names
    assert any(
        p.parent == settings.dead_letter_dir / "errors" / "replay-failed" / "r1" for p in files
    )
    assert any(p.parent == settings.checkpoint_dir for p in files)
    for path in [settings.home, *written]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {mode:o}"


def test_a_rewritten_part_is_tightened(tmp_path, loose_umask):
    out = tmp_path / "home" / "ndjson" / "small"
    out.mkdir(parents=True)
    (out / "rejects.ndjson").write_text("")
    (out / "rejects.ndjson").chmod(0o644)
    convert_csv_to_ndjson(small_csv(tmp_path), out)
    assert stat.S_IMODE((out / "rejects.ndjson").stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700


def test_the_cli_runs_with_a_private_umask(tmp_path, loose_umask, monkeypatch):
    monkeypatch.setenv("TXVIZ_HOME", str(tmp_path / "home"))
    assert main(["validate", str(small_csv(tmp_path))]) == 0
    assert os.umask(0o022) == PRIVATE_UMASK
