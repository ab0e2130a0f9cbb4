"""Reading and rejecting: every line that is no good row becomes a Reject with its line number
and reason, and the read goes on."""

from __future__ import annotations

import re
from pathlib import Path

from txviz_pipeline.ingest.csvsource.chunks import iter_checked_chunks
from txviz_pipeline.ingest.csvsource.validate import validate_csv
from txviz_pipeline_tests.ingest.sources import MALFORMED, SAMPLE, write

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
