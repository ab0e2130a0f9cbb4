"""Reading a Sparkov CSV: header checks first, then every row checked with a reason."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txviz_pipeline.ingest.csvsource import (
    HeaderOrderError,
    LineBlock,
    SourceFileError,
    check_block,
    check_lines,
    format_report,
    iter_checked_chunks,
    line_blocks,
    read_header,
    require_sparkov_header,
    scan_block,
    validate_csv,
)
from txviz_pipeline.schema import CATEGORIES, SOURCE_COLUMNS, SchemaError
from txviz_pipeline.settings import REPO_ROOT

DATA = Path(__file__).parent / "data"
SAMPLE = REPO_ROOT / "data" / "sample.csv"
MALFORMED = DATA / "malformed.csv"
ULB = DATA / "ulb_creditcard_head.csv"

# line -> what its reason must say (malformed.csv; the header is line 1)
EXPECTED_REJECTS = {
    5: "amt: not a number: 'abc'",
    6: "expected 23 fields, found 3",
    7: "category: not one of the 14 Sparkov categories: 'crypto'",
    8: "trans_date_trans_time: not a 'YYYY-MM-DD HH:MM:SS' timestamp: '2019-02-30 10:00:00'",
    9: "empty line",
    10: "expected 23 fields, found 24",
    11: "cc_num: not a card number of 8 to 19 digits: '2.70319E+15'",
    13: "is_fraud: not 0 or 1: 'yes'",
}
GOOD_LINES = [2, 3, 4, 12, 14]


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


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
    assert "missing columns:" in message and "'cc_num'" in message and "'amt'" in message
    assert "unexpected columns:" in message and "'V28'" in message and "'Class'" in message


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


def test_validate_the_sample():
    report = validate_csv(SAMPLE)
    lines = SAMPLE.read_text().splitlines()
    assert report.ok
    assert (report.rows, report.valid_rows, report.malformed_rows) == (5000, 5000, 0)
    assert report.fraud_rows == sum(line.endswith(",1") for line in lines[1:])
    assert 0.004 < report.fraud_rate < 0.008
    assert set(report.categories) == set(CATEGORIES)
    assert sum(report.categories.values()) == 5000
    assert report.cards == len({row[2] for row in csv.reader(lines[1:])})
    assert report.first_event_time == lines[1].split(",")[1]
    assert report.last_event_time == lines[-1].split(",")[1]


def test_validate_names_each_malformed_row_with_its_line_and_reason():
    report = validate_csv(MALFORMED)
    assert report.rows == 13
    assert report.valid_rows == len(GOOD_LINES)
    assert report.malformed_rows == len(EXPECTED_REJECTS)
    assert {r.line: r.reason for r in report.malformed} == EXPECTED_REJECTS
    raw = {r.line: r.raw for r in report.malformed}
    lines = MALFORMED.read_text().split("\n")
    assert all(raw[n] == lines[n - 1] for n in EXPECTED_REJECTS)
    assert report.problems["(field count)"] == 2
    assert report.problems["amt"] == 1
    assert not report.ok


def test_format_report_summarises_for_the_cli():
    text = format_report(validate_csv(MALFORMED))
    assert "PROBLEMS" in text
    assert "malformed rows  8" in text
    assert "line 5: amt: not a number: 'abc'" in text
    assert "fraud rows      1" in text
    ok = format_report(validate_csv(SAMPLE))
    assert ok.splitlines()[0].endswith(": OK")
    assert "gas_transport" in ok and "2019-01-01" in ok


def test_small_blocks_give_the_same_lines_and_reasons():
    whole = list(iter_checked_chunks(MALFORMED))
    tiny = list(iter_checked_chunks(MALFORMED, chunk_bytes=300, workers=2))
    assert len(tiny) > len(whole)

    def summary(chunks):
        rejects = [(r.line, r.reason) for c in chunks for r in c.rejects]
        lines = [int(n) for c in chunks for n in c.lines]
        return rejects, lines

    assert summary(tiny) == summary(whole)
    assert summary(whole)[1] == GOOD_LINES


def test_row_limit_counts_data_lines_good_or_bad():
    report = validate_csv(MALFORMED, rows=5)  # lines 2..6
    assert report.rows == 5
    assert report.valid_rows == 3
    assert [r.line for r in report.malformed] == [5, 6]
    assert validate_csv(SAMPLE, rows=1234).rows == 1234
    assert validate_csv(SAMPLE, rows=0).rows == 0


def test_crlf_files_and_a_missing_final_newline(tmp_path: Path):
    text = SAMPLE.read_text()
    crlf = write(tmp_path / "crlf.csv", text.replace("\n", "\r\n"))
    assert validate_csv(crlf).valid_rows == 5000
    no_newline = write(tmp_path / "nonl.csv", text.rstrip("\n"))
    report = validate_csv(no_newline)
    assert (report.rows, report.valid_rows) == (5000, 5000)


def test_broken_quotes_and_bytes_are_rejected_row_by_row(tmp_path: Path):
    lines = SAMPLE.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b",F,", b',"F,', 1).replace(b",M,", b',"M,', 1)  # open quote
    lines[5] = re.sub(
        rb",([FM]),", lambda m: b"," + m[1] + b"\xff,", lines[5], count=1
    )  # not UTF-8
    lines[7] = lines[7][:30] + b'"' + lines[7][30:]  # stray quote inside a field
    path = write(tmp_path / "broken.csv", b"\n".join(lines))
    report = validate_csv(path)
    assert report.rows == 5000
    assert report.valid_rows + report.malformed_rows == 5000
    bad = {r.line: r.reason for r in report.malformed}
    assert set(bad) == {4, 6, 8}
    assert bad[4].startswith("expected 23 fields, found ")
    assert bad[6] == "not UTF-8 text"
    assert bad[8].startswith("cc_num: not a card number")


def test_a_carriage_return_inside_a_line_is_rejected(tmp_path: Path):
    lines = SAMPLE.read_bytes().split(b"\n")
    lines[3] = lines[3][:5] + b"\r" + lines[3][5:]  # pyarrow would split the row in two
    report = validate_csv(write(tmp_path / "cr.csv", b"\n".join(lines)))
    assert (report.rows, report.valid_rows) == (5000, 4999)
    assert [(r.line, r.reason) for r in report.malformed] == [
        (4, "carriage return inside the line")
    ]


def test_a_huge_line_is_rejected_without_stopping_the_read(tmp_path: Path):
    lines = SAMPLE.read_bytes().split(b"\n")
    lines[10] = b"x" * (10 << 20)  # a 10 MiB "line", e.g. a binary blob pasted into the file
    lines[20] = b"y" * (2 << 20)  # 2 MiB: fits in a read block, fails as a 1-field line
    path = write(tmp_path / "huge.csv", b"\n".join(lines))
    report = validate_csv(path)
    assert (report.rows, report.valid_rows) == (5000, 4998)
    first, second = report.malformed
    assert first.line == 11 and first.reason.startswith("line longer than")
    assert second.line == 21 and second.reason == "expected 23 fields, found 1"
    assert len(first.raw) <= 200 and len(second.raw) <= 10_000


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
    assert [(r.line, r.reason, r.raw) for r in fast.rejects] == [
        (r.line, r.reason, r.raw) for r in slow.rejects
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
