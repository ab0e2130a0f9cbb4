"""What `txviz validate` reports: counts, fraud rate, time range, categories and rejects."""

from __future__ import annotations

import csv

from txviz_pipeline.ingest.csvsource.validate import format_report, validate_csv
from txviz_pipeline.schema import CATEGORIES
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
