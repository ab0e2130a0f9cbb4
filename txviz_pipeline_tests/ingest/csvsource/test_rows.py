"""Reading and rejecting: every line that is no good row becomes a Reject with its line number
and reason, and the read goes on."""

from __future__ import annotations

import re
from pathlib import Path

from txviz_pipeline.ingest.csvsource.chunks import iter_checked_chunks
from txviz_pipeline.ingest.csvsource.validate import validate_csv
from txviz_pipeline_tests.ingest.sources import CONVERSION_REJECTS, MALFORMED, SAMPLE, write

# Line 14 converts, but its amount ($1,234,567.89) is more than the processor takes.
EXPECTED_REJECTS = {**CONVERSION_REJECTS, 14: "bad_value: amt is not between 0 and 50,000"}
GOOD_LINES = [2, 3, 4, 12]
CONVERTED_LINES = [2, 3, 4, 12, 14]


def test_validate_names_each_malformed_row_with_its_line_and_reason():
    report = validate_csv(MALFORMED)
    assert report.rows == 13
    assert report.valid_rows == len(GOOD_LINES)
    assert report.malformed_rows == len(EXPECTED_REJECTS)
    assert {r.line: r.reason for r in report.malformed} == EXPECTED_REJECTS
    assert report.problems["(field count)"] == 2
    assert report.problems["amt"] == 2
    assert not report.ok


def test_small_blocks_give_the_same_lines_and_reasons():
    whole = list(iter_checked_chunks(MALFORMED))
    tiny = list(iter_checked_chunks(MALFORMED, chunk_bytes=300, workers=2))
    assert len(tiny) > len(whole)

    def summary(chunks):
        rejects = [(r.line, r.reason) for c in chunks for r in c.rejects]
        lines = [int(n) for c in chunks for n in c.lines]
        return rejects, lines

    assert summary(tiny) == summary(whole)
    assert summary(whole) == (sorted(CONVERSION_REJECTS.items()), CONVERTED_LINES)


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
    assert bad[4].startswith("bad_csv: line has ")
    assert bad[6] == "not_utf8: line is not UTF-8"
    assert bad[8] == "bad_value: cc_num is not a card number (8-19 digits)"


def test_a_carriage_return_inside_a_line_is_rejected(tmp_path: Path):
    lines = SAMPLE.read_bytes().split(b"\n")
    lines[3] = lines[3][:5] + b"\r" + lines[3][5:]  # pyarrow would split the row in two
    report = validate_csv(write(tmp_path / "cr.csv", b"\n".join(lines)))
    assert (report.rows, report.valid_rows) == (5000, 4999)
    assert [(r.line, r.reason) for r in report.malformed] == [
        (4, "bad_csv: line holds a carriage return outside quotes")
    ]


def test_a_huge_line_is_rejected_without_stopping_the_read(tmp_path: Path):
    lines = SAMPLE.read_bytes().split(b"\n")
    lines[10] = b"x" * (10 << 20)  # a 10 MiB "line", e.g. a binary blob pasted into the file
    lines[20] = b"y" * (2 << 20)  # 2 MiB: fits in a read block, fails as a 1-field line
    path = write(tmp_path / "huge.csv", b"\n".join(lines))
    report = validate_csv(path)
    assert (report.rows, report.valid_rows) == (5000, 4998)
    first, second = report.malformed
    assert first.line == 11 and first.reason == "too_large: line is over 4,194,304 bytes"
    assert second.line == 21 and second.reason == "bad_csv: line has 1 fields, expected 23"
    assert first.fields is None and second.fields is None


# The fast path (scan_block) must accept only rows the parse-and-check path accepts, with the
# same text and values; anything else it leaves to that path. Each case puts one raw CSV
