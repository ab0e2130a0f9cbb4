"""The launchpad's source_csv is confined to the data folders: a path outside them (directly,
through ``..`` or through a symlink) fails before the file is read, without echoing it."""

import os
from pathlib import Path

import dagster as dg
import pytest

from txviz_pipeline.defs.ingest.assets import transactions_ndjson
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.ingest import convert
from txviz_pipeline.settings import REPO_ROOT

FAKE_KEY = "f00dfacecafe" * 6


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TXVIZ_HOME", str(home))
    monkeypatch.delenv("TXVIZ_DATA_DIRS", raising=False)
    # No endpoint is set, which means AWS: keep the dataset local, as the embedded stack does.
    monkeypatch.setenv("TXVIZ_STATE_STORE", "local")
    return home


@pytest.fixture
def key_file(tmp_path) -> Path:
    outside = tmp_path / "secret"
    outside.mkdir()
    path = outside / "card-token.key"
    path.write_text(FAKE_KEY + "\n")
    return path


@pytest.fixture
def converted(monkeypatch) -> list[Path]:
    """The sources the conversion was asked to read."""
    calls: list[Path] = []
    real = convert.convert_csv_to_ndjson

    def recording(source, out_dir, *args, **kwargs):
        calls.append(Path(source))
        return real(source, out_dir, *args, **kwargs)

    monkeypatch.setattr(convert, "convert_csv_to_ndjson", recording)
    return calls


def materialize(source: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [transactions_ndjson],
        resources={"aws": AwsResource()},
        run_config={"ops": {"transactions_ndjson": {"config": {"source_csv": source}}}},
        raise_on_error=False,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    (event,) = result.get_step_failure_events()
    return event.step_failure_data.error.message


def traversal_to(path: Path) -> str:
    """A relative path that starts in data/ and climbs out of it to ``path``."""
    return os.path.join("data", "..", os.path.relpath(path, REPO_ROOT))


def symlink_in(home: Path, target: Path) -> str:
    link = home / "looks-inside.csv"
    link.symlink_to(target)
    return str(link)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda home, key: str(key), id="absolute"),
        pytest.param(lambda home, key: traversal_to(key), id="dotdot"),
        pytest.param(lambda home, key: symlink_in(home, key), id="symlink"),
        pytest.param(lambda home, key: "data/../../../../../../../../etc/passwd", id="etc-passwd"),
    ],
)
def test_a_path_outside_the_data_folders_fails_unread(source, home, key_file, converted):
    result = materialize(source(home, key_file))
    assert not result.success
    message = failure_message(result)
    assert "must lie in a data folder" in message
    assert str(REPO_ROOT / "data") in message and str(home) in message
    assert "\n" not in message.strip()
    assert converted == []
    for event in result.all_events:
        assert FAKE_KEY not in str(event)


def test_a_csv_in_the_home_converts(home, converted):
    source = home / "small.csv"
    with (REPO_ROOT / "data" / "sample.csv").open() as f:
        source.write_text("".join(next(f) for _ in range(4)))
    result = materialize(str(source))
    assert result.success
    assert converted == [source.resolve()]
    assert result.output_for_node("transactions_ndjson")["rows"] == 3


def test_configured_data_dirs_replace_the_defaults(tmp_path, home, key_file, monkeypatch):
    monkeypatch.setenv(
        "TXVIZ_DATA_DIRS", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    )
    message = failure_message(materialize(str(key_file)))
    assert str(tmp_path / "a") in message and str(tmp_path / "b") in message
    assert str(home) not in message
