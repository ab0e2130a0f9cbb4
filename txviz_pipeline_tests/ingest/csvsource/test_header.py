"""The header is checked before any row is read, with the missing and unexpected columns named."""

from __future__ import annotations

from pathlib import Path

import pytest

from txviz_pipeline.ingest.csvsource.chunks import iter_checked_chunks
from txviz_pipeline.ingest.csvsource.header import (
    HeaderOrderError,
    SourceFileError,
    read_header,
    require_sparkov_header,
)
from txviz_pipeline.ingest.csvsource.validate import validate_csv
from txviz_pipeline.schema import SOURCE_COLUMNS, SchemaError
from txviz_pipeline_tests.ingest.sources import SAMPLE, ULB, write


def test_header_of_the_sample_is_sparkov():
    assert read_header(SAMPLE) == list(SOURCE_COLUMNS)
    assert require_sparkov_header(SAMPLE) == list(SOURCE_COLUMNS)


def test_ulb_creditcard_header_names_missing_and_unexpected_columns():
    with pytest.raises(SchemaError) as raised:
        require_sparkov_header(ULB)
    err = raised.value
    assert "V1" in err.unexpected and "Amount" in err.unexpected and "Class" in err.unexpected
    assert "Time" in err.unexpected
    assert "cc_num" in err.missing and "trans_date_trans_time" in err.missing
    message = str(err)
    assert "missing columns:" in message and "'cc_num'" in message
    assert "unexpected columns: 'Time', 'V1', 'V2', 'V3', 'V4' and 26 more" in message
    assert "'trans_date_trans_time', 'cc_num', 'merchant', 'category' and 18 more" in message


def test_the_ulb_file_fails_before_any_row_is_read():
    with pytest.raises(SchemaError):
        iter_checked_chunks(ULB)
    with pytest.raises(SchemaError):
        validate_csv(ULB)


def test_misordered_header_gets_a_clear_error(tmp_path: Path):
    columns = list(SOURCE_COLUMNS)
    columns[5], columns[4] = columns[4], columns[5]  # amt before category
    path = write(tmp_path / "swapped.csv", ",".join(columns) + "\n")
    with pytest.raises(HeaderOrderError) as raised:
        require_sparkov_header(path)
    assert isinstance(raised.value, SchemaError)
    assert "wrong order" in str(raised.value)
    assert "column 5 is 'amt' but should be 'category'" in str(raised.value)


def test_repeated_column_is_named(tmp_path: Path):
    path = write(tmp_path / "twice.csv", ",".join([*SOURCE_COLUMNS, "amt"]) + "\n")
    with pytest.raises(SchemaError, match="repeated columns: 'amt'"):
        require_sparkov_header(path)


def test_pandas_unnamed_index_header_is_accepted(tmp_path: Path):
    text = SAMPLE.read_text().replace(",trans_date", "Unnamed: 0,trans_date", 1)
    path = write(tmp_path / "unnamed.csv", text)
    require_sparkov_header(path)
    assert validate_csv(path).valid_rows == 5000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "is empty"),
        (b"\n\n", "is empty"),
        (b"\x1f\x8b\x08\x00\xff\xfe compressed", "not UTF-8"),
    ],
)
def test_unreadable_files_get_a_clear_error(tmp_path: Path, content, message):
    path = tmp_path / "source.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceFileError, match=message):
        require_sparkov_header(path)


def test_a_header_with_no_rows_is_refused(tmp_path: Path):
    path = write(tmp_path / "empty.csv", ",".join(SOURCE_COLUMNS) + "\n\n")
    with pytest.raises(SourceFileError, match="has the Sparkov header but no rows"):
        require_sparkov_header(path)


def test_header_messages_show_a_short_preview_of_the_file(tmp_path: Path):
    secret = "k" * 50
    many = write(tmp_path / "many.csv", ",".join([secret] * 1000) + "\n")
    with pytest.raises(SchemaError) as raised:
        require_sparkov_header(many)
    message = str(raised.value)
    assert "kk" not in message
    assert "unexpected columns: 1,000 that are not column names (not shown)" in message
    huge = write(tmp_path / "huge.csv", "x" * 5_000_000 + "\n")
    with pytest.raises(SourceFileError, match="not a Sparkov CSV: .* longer than") as raised:
        require_sparkov_header(huge)
    assert len(str(raised.value)) < 200


KEY = "q2pUeXFJ8cNnQ0bW3vTzR7yLkA1sHdGfE5uIoP9aZxCmVjBn"  # the shape of a card-token key file


@pytest.mark.parametrize("line", [KEY, f"{KEY}\t{KEY}", f"  {KEY}  ", '"' + KEY + '"'])
def test_a_file_whose_first_line_is_not_csv_shows_none_of_it(tmp_path: Path, line: str):
    path = write(tmp_path / "card-token.key", line + "\n")
    with pytest.raises(SourceFileError) as raised:
        require_sparkov_header(path)
    message = str(raised.value).replace(str(path), "")
    assert message.startswith("not a Sparkov CSV: : its first line has no commas")
    assert KEY[:4] not in message and KEY[-4:] not in message


@pytest.mark.parametrize(
    ("cells", "shown", "hidden"),
    [
        (["Time", "V1", "Amount ($)", "Unnamed: 7"], ["Time", "V1", "Amount ($)", "Unnamed: 7"], 0),
        ([KEY[:20], "4652123412341234", "1988-03-09", "x" * 30, "a,b"], [], 5),
        (["customer_id", KEY[:24]], ["customer_id"], 1),
    ],
)
def test_only_cells_that_look_like_column_names_are_named(tmp_path, cells, shown, hidden):
    path = write(tmp_path / "other.csv", ",".join(f'"{c}"' for c in cells) + "\n1\n")
    with pytest.raises(SchemaError) as raised:
        require_sparkov_header(path)
    message = str(raised.value)
    for cell in cells:
        assert (repr(cell) in message) == (cell in shown)
    if hidden:
        assert f"{hidden} that {'is' if hidden == 1 else 'are'} not column names" in message
    for secret in (KEY[:8], "4652", "1988"):
        assert secret not in message
