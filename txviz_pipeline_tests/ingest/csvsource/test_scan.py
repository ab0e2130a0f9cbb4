"""The fast scan accepts only rows the row checks accept, with the same text and values."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txviz_pipeline.ingest.csvsource import scan
from txviz_pipeline.ingest.csvsource.blocks import LineBlock, line_blocks
from txviz_pipeline.ingest.csvsource.chunks import check_block
from txviz_pipeline.ingest.csvsource.rows import check_lines
from txviz_pipeline.ingest.csvsource.scan import scan_block
from txviz_pipeline.ingest.csvsource.values import COLUMN_KINDS
from txviz_pipeline.schema import NDJSON_FIELDS, SOURCE_COLUMNS
from txviz_pipeline_tests.ingest.sources import SAMPLE, write

# The fast path (scan_block) must accept only rows the parse-and-check path accepts, with the
# same text and values; anything else it leaves to that path. Each case puts one raw CSV
# value into one row of a clean block; True: the block must take the fast path, False: it
# must not, None: either (the result is the same).
FAST_PATH_CASES = [
    ("amt", "45.0", True),
    ("amt", "4.970", True),
    ("amt", "-0.5", True),
    ("amt", "1234567.89", True),
    ("amt", '"4.97"', True),
    ("amt", "45", False),
    ("amt", ".5", False),
    ("amt", "00.5", False),
    ("amt", "+3.1", False),
    ("amt", "5.", False),
    ("amt", "1.2.3", False),
    ("amt", "1e5", False),
    ("amt", "inf", False),
    ("amt", "nan", False),
    ("amt", "-", False),
    ("amt", "", False),
    ("amt", "12345678.9", False),
    ("amt", "0.12345678901234567", False),
    ("lat", "89.9999", True),
    ("lat", "-9.5", True),
    ("lat", "90.0", False),
    ("lat", "-90.0001", False),
    ("lat", "100.5", False),
    ("long", "179.99", True),
    ("long", "-99.9", True),
    ("long", "180.0", False),
    ("long", "-180.0001", False),
    ("long", "181.0", False),
    ("merch_long", "190.5", False),
    ("index", "0", None),
    ("index", "1234567890123456", True),
    ("index", "12345678901234567", False),
    ("index", "007", False),
    ("index", "-1", False),
    ("index", "1.0", False),
    ("city_pop", "", False),
    ("unix_time", "0x1F", False),
    ("cc_num", "12345678", True),
    ("cc_num", "0000000012345678", True),
    ("cc_num", "1234567890123456789", True),
    ("cc_num", "1234567", False),
    ("cc_num", "12345678901234567890", False),
    ("cc_num", "2.70319E+15", False),
    ("trans_date_trans_time", "2020-02-29 23:59:59", True),
    ("trans_date_trans_time", "2019-02-29 00:00:00", False),
    ("trans_date_trans_time", "2019-04-31 00:00:00", False),
    ("trans_date_trans_time", "2019-01-01 24:00:00", False),
    ("trans_date_trans_time", "2019-01-01 00:60:00", False),
    ("trans_date_trans_time", "2019-01-01 00:00:60", False),
    ("trans_date_trans_time", "0999-01-01 00:00:00", False),
    ("trans_date_trans_time", "2019-1-01 00:00:00", False),
    ("trans_date_trans_time", "2019-01-01T00:00:00", False),
    ("trans_date_trans_time", "2019-01-01 00:00:00 ", False),
    ("dob", "2000-02-29", True),
    ("dob", "1900-02-29", False),
    ("dob", "1988-13-09", False),
    ("dob", "1988-03-9", False),
    ("category", "health_fitness", True),
    ("category", "grocery_net", True),
    ("category", "misc_ne", False),
    ("category", "misc_nett", False),
    ("category", "MISC_NET", False),
    ("category", "shopping_po", False),
    ("category", "health_fitnesss", False),
    ("category", "", False),
    ("is_fraud", "1", True),
    ("is_fraud", "2", False),
    ("is_fraud", "01", False),
    ("is_fraud", "", False),
    ("merchant", '"fraud_A, B and C"', True),
    ("merchant", "fraud_Zoë", True),
    ("merchant", "", False),
    ("merchant", '""', False),
    ("merchant", 'fraud_"X"', False),
    ("merchant", '"fraud ""X"""', False),
    ("merchant", "fraud\\X", False),
    ("merchant", "fraud\tX", False),
    ("job", '"a, b"', True),
    ("job", '""', True),
    ("zip", "00501", True),
    ("trans_num", "", False),
]


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value


def with_value(column: str, raw: str, *, row: int = 20, rows: int = 60) -> bytes:
    """The sample's first rows, with the raw CSV text ``raw`` as ``column`` of one row."""
    lines = SAMPLE.read_text().splitlines()[: rows + 1]
    fields = next(csv.reader([lines[row + 1]]))
    fields[SOURCE_COLUMNS.index("" if column == "index" else column)] = None
    lines[row + 1] = ",".join(raw if f is None else csv_field(f) for f in fields)
    return ("\n".join(lines) + "\n").encode()


def assert_paths_agree(block: LineBlock) -> None:
    fast, slow = check_block(block), check_lines(block)
    assert fast.text.equals(slow.text) and fast.rows.equals(slow.rows)
    assert list(fast.lines) == list(slow.lines)
    assert [(r.line, r.reason, r.column, r.fields) for r in fast.rejects] == [
        (r.line, r.reason, r.column, r.fields) for r in slow.rejects
    ]


@pytest.mark.parametrize(("column", "raw", "fast"), FAST_PATH_CASES)
def test_the_fast_path_agrees_with_the_checks(tmp_path: Path, column: str, raw: str, fast):
    path = write(tmp_path / "case.csv", with_value(column, raw))
    (block,) = line_blocks(path)
    if fast is not None:
        assert (scan_block(block) is not None) == fast
    assert_paths_agree(block)


def test_the_fast_path_takes_clean_files_whole(tmp_path: Path):
    crlf = write(tmp_path / "crlf.csv", SAMPLE.read_text().replace("\n", "\r\n"))
    lines = SAMPLE.read_text().splitlines()
    for path in (SAMPLE, crlf):
        blocks = list(line_blocks(path))
        spans = [scan_block(block) for block in blocks]
        assert all(s is not None for s in spans) and sum(s.rows for s in spans) == 5000
        for block in blocks:
            assert_paths_agree(block)
        assert min(s.first_event_time for s in spans) == lines[1].split(",")[1]
        assert max(s.last_event_time for s in spans) == lines[-1].split(",")[1]


@settings(max_examples=150, deadline=None)
@given(
    column=st.sampled_from([c or "index" for c in SOURCE_COLUMNS]),
    raw=st.text(alphabet='0123456789.-+e "\\,:_aZé\t\r\n', max_size=24),
)
def test_the_fast_path_agrees_on_any_value(tmp_path_factory, column: str, raw: str):
    path = tmp_path_factory.mktemp("fuzz") / "case.csv"
    path.write_bytes(with_value(column, raw, rows=30))
    for block in line_blocks(path):
        assert_paths_agree(block)


def test_the_words_read_per_row_are_the_columns_the_scan_expects():
    kinds = [COLUMN_KINDS[NDJSON_FIELDS[i]] for i in scan._CHECKED]
    assert kinds[:4] == ["timestamp", "date", "category", "flag"]
    assert kinds[scan._INTEGERS] == ["card", "int", "int", "int"]
    assert kinds[scan._DECIMALS] == ["number", "lat", "lat", "long", "long"]


@pytest.mark.parametrize("row", [0, scan.ROWS_PER_CHECK - 1, scan.ROWS_PER_CHECK, 4_999])
def test_a_bad_value_in_any_slice_of_rows_leaves_the_block_to_the_checks(tmp_path: Path, row):
    path = write(tmp_path / "late.csv", with_value("amt", "abc", row=row, rows=5_000))
    (block,) = line_blocks(path, chunk_bytes=16 << 20)  # one block of every row
    assert block.lines == 5_000 > 2 * scan.ROWS_PER_CHECK
    assert scan_block(block) is None
    (reject,) = check_block(block).rejects
    assert reject.line == row + 2
