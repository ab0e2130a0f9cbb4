"""What `txviz validate` reports: counts, fraud rate, time range, categories and rejects."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from txviz_pipeline.ingest.csvsource.validate import format_report, validate_csv
from txviz_pipeline.schema import CATEGORIES
from txviz_pipeline_tests.ingest.csvsource.test_rules_agree import BASE_ROW, NOW, write_csv
from txviz_pipeline_tests.ingest.sources import MALFORMED, SAMPLE


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


def test_format_report_summarises_for_the_cli():
    text = format_report(validate_csv(MALFORMED))
    assert "PROBLEMS" in text
    assert "malformed rows  9" in text
    assert "line 5: bad_value: amt is not a number" in text
    assert "line 14: bad_value: amt is not between 0 and 50,000" in text
    assert "fraud rows      1" in text
    ok = format_report(validate_csv(SAMPLE))
    assert ok.splitlines()[0].endswith(": OK")
    assert "gas_transport" in ok and "2019-01-01" in ok


def test_row_limit_counts_data_lines_good_or_bad():
    report = validate_csv(MALFORMED, rows=5)  # lines 2..6
    assert report.rows == 5
    assert report.valid_rows == 3
    assert [r.line for r in report.malformed] == [5, 6]
    assert validate_csv(SAMPLE, rows=1234).rows == 1234
    assert validate_csv(SAMPLE, rows=0).rows == 0


# One row per processor rule, broken at the CSV level: the exact reason validate prints.
RULES = [
    ("trans_date_trans_time", "1969-12-31 23:59:59", "trans_date_trans_time is before 1970"),
    (
        "trans_date_trans_time",
        "2099-01-01 00:00:00",
        "trans_date_trans_time is more than a day in the future",
    ),
    ("dob", "2019-01-02", "dob is after the transaction"),
    ("dob", "1898-01-01", "dob gives an age over 120"),
    ("amt", "-0.01", "amt is not between 0 and 50,000"),
    ("amt", "50000.01", "amt is not between 0 and 50,000"),
    ("gender", "X", "gender is not 'M' or 'F'"),
    ("state", "nc", "state is not two capital letters"),
    ("trans_num", "0" * 31, "trans_num is not 32 hex characters"),
    ("cc_num", "123456789", "cc_num is not 11-19 digits"),
    ("cc_num", "1234567890", "cc_num is not 11-19 digits"),
    ("zip", "ABCDE", "zip is not 3-5 digits"),
    ("zip", "123456", "zip is not 3-5 digits"),
    ("merchant", "   ", "merchant is empty"),
    ("merchant", "m" * 201, "merchant is over 200 characters"),
    ("city", "c" * 201, "city is over 200 characters"),
    ("job", "j" * 201, "job is over 200 characters"),
    ("street", "s" * 17_000, "record is over 16,384 bytes as sent"),
]


@pytest.mark.parametrize(("field", "text", "reason"), RULES, ids=[r[2] for r in RULES])
def test_each_processor_rule_is_a_reject_with_its_reason(tmp_path: Path, field, text, reason):
    row = {**BASE_ROW, field: text}
    path = write_csv(tmp_path / "one.csv", [BASE_ROW, row, BASE_ROW])
    report = validate_csv(path, now=NOW)
    assert (report.rows, report.valid_rows) == (3, 2)
    (reject,) = report.malformed
    code = "too_large" if field == "street" else "bad_value"
    assert (reject.line, reject.reason) == (3, f"{code}: {reason}")
    assert report.problems == {(field if code == "bad_value" else "(record)"): 1}
    if text.strip():
        assert text not in reject.reason and text not in format_report(report)
