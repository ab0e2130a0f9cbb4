"""Expected failures of the ``txviz`` command: one short line on stderr and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from txviz_pipeline.cli import MAX_ERROR_CHARS, main
from txviz_pipeline.schema import SOURCE_COLUMNS
from txviz_pipeline.settings import REPO_ROOT
from txviz_pipeline_tests.ingest.csvsource.test_rules_agree import BASE_ROW, write_csv

SAMPLE = REPO_ROOT / "data" / "sample.csv"


@pytest.fixture(autouse=True)
def no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty TXVIZ_HOME in embedded mode: no stack is running."""
    monkeypatch.setenv("TXVIZ_HOME", str(tmp_path / "home"))
    for name in ("TXVIZ_MODE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_FIREHOSE"):
        monkeypatch.delenv(name, raising=False)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("txviz: error: ") and err.endswith("\n")
    assert err.count("\n") == 1 and len(err) <= len("txviz: error: \n") + MAX_ERROR_CHARS
    return err


def header_only(tmp_path: Path) -> Path:
    path = tmp_path / "empty.csv"
    path.write_text("," + ",".join(SOURCE_COLUMNS[1:]) + "\n")
    return path


def test_replay_without_a_stack_says_how_to_start_one(capsys):
    assert main(["replay", str(SAMPLE)]) == 2
    assert "txviz stack up" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--speed", "inf"], "--speed"),
        (["--speed", "nan"], "--speed"),
        (["--speed", "1e15"], "--speed"),
        (["--processes", "65"], "--processes"),
        (["--max-records-per-s", "inf"], "--max-records-per-s"),
    ],
)
def test_bad_replay_options_are_one_line_naming_the_flag(capsys, flags, named):
    assert main(["replay", str(SAMPLE), *flags]) == 2
    assert named in one_error_line(capsys)


def test_bad_options_leave_the_previous_dataset_alone(tmp_path, capsys):
    dataset = tmp_path / "home" / "ndjson" / "sample"
    dataset.mkdir(parents=True)
    (dataset / "manifest.json").write_text("{}")
    assert main(["replay", str(SAMPLE), "--speed", "nan"]) == 2
    one_error_line(capsys)
    assert (dataset / "manifest.json").read_text() == "{}"


def test_generate_into_a_folder_is_one_line_and_leaves_no_temp_file(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["generate", "--rows", "5", "-o", str(folder)]) == 2
    assert "folder" in one_error_line(capsys)
    assert list(folder.iterdir()) == [] and sorted(tmp_path.iterdir()) == [tmp_path / "out"]


@pytest.mark.parametrize("command", ["validate", "replay"])
def test_a_header_only_csv_has_no_rows(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("TXVIZ_MODE", "aws")  # replay reaches the file check without a stack
    assert main([command, str(header_only(tmp_path))]) == 2
    assert "no rows" in one_error_line(capsys)


@pytest.mark.parametrize(
    "line", ["x" * 5_000_000, ",".join(["y" * 10] * 300_000)], ids=["one-field", "many-fields"]
)
def test_a_5_mb_line_gives_a_short_message(tmp_path, capsys, line):
    path = tmp_path / "big.csv"
    path.write_text(line + "\n")
    assert main(["validate", str(path)]) == 2
    assert "y" * 41 not in one_error_line(capsys)


KEY = "q2pUeXFJ8cNnQ0bW3vTzR7yLkA1sHdGfE5uIoP9aZxCmVjBn"


def test_validate_on_the_card_token_key_shows_none_of_it(tmp_path, capsys):
    key_file = tmp_path / "card-token.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    assert main(["validate", str(key_file)]) == 2
    err = one_error_line(capsys).replace(str(key_file), "")
    assert "not a Sparkov CSV" in err
    for start in range(0, len(KEY) - 4):
        assert KEY[start : start + 4] not in err


def test_validate_messages_hold_none_of_a_bad_rows_values(tmp_path, capsys):
    card, dob, street = "4652-1234-1234-9876", "2020-05-05", "561 Perry Cove"
    rows = [
        {**BASE_ROW, "cc_num": card},  # not a card number to the conversion
        {**BASE_ROW, "dob": dob},  # after the transaction
        {**BASE_ROW, "street": street + " " + "x" * 17_000},  # too large to send
        {**BASE_ROW, "cc_num": "123456789"},  # too short for the processor
        {**BASE_ROW, "merchant": BASE_ROW["cc_num"], "cc_num": "fraud_Kutch"},  # shifted
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    text = path.read_text()
    path.write_text(text + text.splitlines()[1] + ",2703186189652095,Banks\n")  # 25 fields
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "malformed rows  6" in printed
    for value in (card, "9876", dob, "Perry Cove", "123456789", "2703186189652095", "Banks"):
        assert value not in printed
