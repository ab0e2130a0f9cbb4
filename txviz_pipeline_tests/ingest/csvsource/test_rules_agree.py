"""One set of validity rules: ``txviz validate`` and the processor Lambda agree row for row.

Each CSV row goes two ways: through ``txviz validate``'s engine, and through the conversion
(what the replay sends, tagged with a replay id as the replay tags it) into the Lambda's
``records.process_records``. A row the conversion rejects never reaches the processor, so
validate must give the conversion's reason; every other row must be accepted by both or
refused by both with the same reason code and field.
"""

from __future__ import annotations

import base64
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from records import process_records

from txviz_pipeline import rules
from txviz_pipeline.ingest.convert import REJECTS_NAME, convert_csv_to_ndjson
from txviz_pipeline.ingest.csvsource.validate import validate_csv
from txviz_pipeline.ingest.replay.send import tagged_records
from txviz_pipeline.schema import NDJSON_FIELDS, REPLAY_ID_FIELD, SOURCE_COLUMNS
from txviz_pipeline_tests.processor.builders import BASE_RECORD, TEST_KEY

NOW = datetime(2024, 6, 1, 12, 0, 0)  # naive UTC, as validate takes it
LONGEST_REPLAY_ID = "r" * 128
FIELDS = frozenset(NDJSON_FIELDS) | {REPLAY_ID_FIELD}
BASE_ROW = {name: str(value) for name, value in BASE_RECORD.items()}

# Every rule broken once (and the values at its limits, which pass): field -> CSV text.
EACH_RULE = [
    ("trans_date_trans_time", "2099-01-01 00:00:00"),
    ("trans_date_trans_time", "2024-06-02 12:00:00"),  # exactly a day ahead: passes
    ("trans_date_trans_time", "2024-06-02 12:00:01"),
    ("trans_date_trans_time", "1969-12-31 23:59:59"),
    ("trans_date_trans_time", "2019-02-30 10:00:00"),
    ("trans_date_trans_time", "2019-01-01 00:00:60"),
    ("dob", "2019-01-02"),  # after the transaction (2019-01-01 00:00:18)
    ("dob", "2019-01-01"),  # born that day: age 0
    ("dob", "1898-01-02"),  # age 120
    ("dob", "1898-01-01"),  # age 121
    ("dob", "1988-02-30"),
    ("category", "crypto"),
    ("amt", "-0.01"),
    ("amt", "0"),
    ("amt", "50000.00"),
    ("amt", "50000.01"),
    ("amt", "1e5"),
    ("amt", "nan"),
    ("is_fraud", "2"),
    ("gender", "X"),
    ("gender", "m"),
    ("gender", ""),
    ("state", "nc"),
    ("state", "N"),
    ("state", "NCA"),
    ("state", ""),
    ("trans_num", "0" * 31),
    ("trans_num", "0" * 33),
    ("trans_num", "g" * 32),
    ("trans_num", "ABCDEF" + "0" * 26),
    ("cc_num", "123456789"),
    ("cc_num", "1234567890"),
    ("cc_num", "12345678901"),
    ("cc_num", "1" * 19),
    ("cc_num", "1" * 20),
    ("cc_num", "4652-1234-1234-1234"),
    ("zip", "ABCDE"),
    ("zip", "12"),
    ("zip", "123"),
    ("zip", "123456"),
    ("zip", "00501"),
    ("lat", "90.0001"),
    ("merch_long", "-180"),
    ("merchant", "   "),
    ("merchant", "\u00a0"),
    ("merchant", "x" * 200),
    ("merchant", "x" * 201),
    ("merchant", "é" * 200),  # 200 characters, 400 bytes
    ("merchant", ""),
    ("city", ""),
    ("city", "y" * 201),
    ("job", "z" * 201),
    ("job", "東京" * 100),
    ("first", "f" * 20_000),
    ("street", "\x01" * 2_700),  # 2,700 bytes in the CSV, 16,200 as JSON escapes
    ("street", "\x01" * 2_000),
    ("last", 'O"Brien, \\ Jr.'),
    ("city_pop", "-1"),
    ("city_pop", "99999999999999999"),
    ("unix_time", "0x1F"),
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """A Sparkov CSV of ``rows`` (NDJSON names), row_id = position, so line = row_id + 2."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(SOURCE_COLUMNS)
        for i, row in enumerate(rows):
            out.writerow([str(i), *(row[name] for name in NDJSON_FIELDS[1:])])
    return path


def code_and_field(reason: str) -> tuple[str, str | None]:
    """A reason's code and the field it names first (None for the whole record)."""
    code, _, detail = reason.partition(": ")
    word = detail.split(" ", 1)[0].removesuffix(",")
    return code, word if word in FIELDS else None


def processor_verdicts(lines: list[bytes]) -> list[tuple[str, str | None] | None]:
    """What the Lambda says of each converted line, as the replay sends it."""
    verdicts = []
    for data in lines:
        (tagged,) = tagged_records(data, LONGEST_REPLAY_ID)
        entry = {"recordId": "r", "data": base64.b64encode(tagged).decode("ascii")}
        (result,) = process_records([entry], TEST_KEY.encode(), now=NOW.replace(tzinfo=UTC))
        verdicts.append(None if result.reason is None else code_and_field(result.reason))
    return verdicts


def assert_agree(folder: Path, rows: list[dict[str, str]]) -> dict[int, str]:
    """Run ``rows`` both ways; return validate's reasons by line."""
    path = write_csv(folder / "rows.csv", rows)
    report = validate_csv(path, now=NOW)
    said = {r.line: r.reason for r in report.malformed}
    assert report.rows == len(rows) and report.malformed_rows == len(said)

    out = folder / "ndjson"
    convert_csv_to_ndjson(path, out)
    # Split at "\n" only: text may hold other line separators ("\x85", "\u2028").
    rejects = (out / REJECTS_NAME).read_text().split("\n")[:-1]
    rejected = {r["line"]: r["reason"] for r in map(json.loads, rejects)}
    converted = [
        line + b"\n"
        for part in sorted(out.glob("part-*.ndjson"))
        for line in part.read_bytes().split(b"\n")[:-1]
    ]
    lines = [json.loads(line)["row_id"] + 2 for line in converted]
    verdicts = dict(zip(lines, processor_verdicts(converted), strict=True))
    assert sorted([*rejected, *verdicts]) == list(range(2, len(rows) + 2))

    for line in range(2, len(rows) + 2):
        if line in rejected:
            assert said.get(line) == rejected[line], line
        else:
            got = said.get(line)
            assert (got and code_and_field(got)) == verdicts[line], (line, got)
            if got:
                assert code_and_field(got)[0] not in ("internal_error",)
    return said


def test_every_rule_broken_once(tmp_path: Path):
    rows = [BASE_ROW] + [{**BASE_ROW, field: text} for field, text in EACH_RULE]
    first_day = {"trans_date_trans_time": "1970-01-01 00:00:00", "dob": "1960-01-01"}
    said = assert_agree(tmp_path, [*rows, {**BASE_ROW, **first_day}])
    assert 2 not in said and len(rows) + 2 not in said  # the base row and 1970 are valid
    refused = {EACH_RULE[line - 3] for line in said}
    passing = set(EACH_RULE) - refused
    assert passing == {
        ("trans_date_trans_time", "2024-06-02 12:00:00"),
        ("dob", "2019-01-01"),
        ("dob", "1898-01-02"),
        ("amt", "0"),
        ("amt", "50000.00"),
        ("trans_num", "ABCDEF" + "0" * 26),
        ("cc_num", "12345678901"),
        ("cc_num", "1" * 19),
        ("zip", "123"),
        ("zip", "00501"),
        ("merch_long", "-180"),
        ("merchant", "x" * 200),
        ("merchant", "é" * 200),
        ("city", ""),
        ("job", "東京" * 100),
        ("street", "\x01" * 2_000),
        ("last", 'O"Brien, \\ Jr.'),
        ("city_pop", "99999999999999999"),
    }


def test_reasons_name_the_field_never_the_value(tmp_path: Path):
    said = assert_agree(tmp_path, [{**BASE_ROW, field: text} for field, text in EACH_RULE])
    for line, reason in said.items():
        field, text = EACH_RULE[line - 2]
        code, named = code_and_field(reason)
        assert named in (field, None), reason
        if len(text) >= 2:
            assert text not in reason, reason


# Values near each rule's edges, and any short text, for every field.
_NEAR = {
    "trans_date_trans_time": st.sampled_from(
        ["2019-01-01 00:00:18", "2024-06-02 12:00:00", "2024-06-02 12:00:01", "1969-12-31 23:59:59"]
    ),
    "dob": st.dates().map(str),
    "amt": st.one_of(
        st.floats(-100, 60_000, allow_nan=False).map(lambda x: f"{x:.2f}"),
        st.sampled_from(["1e4", ".5", "007", "+3", "45", "5e4", "50000.001"]),
    ),
    "cc_num": st.text("0123456789", min_size=7, max_size=21),
    "zip": st.text("0123456789A", min_size=0, max_size=7),
    "state": st.text("ANcz", min_size=0, max_size=3),
    "gender": st.sampled_from(["M", "F", "X", "f", ""]),
    "trans_num": st.text("0123456789abcdefABCDEFg", min_size=30, max_size=34),
    "merchant": st.text(' \u00a0\u2003ab,"\\\x01é', max_size=6),
    "lat": st.floats(-95, 95, allow_nan=False).map(repr),
    "merch_long": st.floats(-185, 185, allow_nan=False).map(repr),
    "city_pop": st.integers(-5, 10**19).map(str),
    "is_fraud": st.sampled_from(["0", "1", "2"]),
    "category": st.sampled_from(["misc_net", "travel", "MISC_NET"]),
}
_ANY_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12
)


@st.composite
def rows(draw: st.DrawFn) -> dict[str, str]:
    row = dict(BASE_ROW)
    for name in draw(st.sets(st.sampled_from(NDJSON_FIELDS[1:]), max_size=3)):
        row[name] = draw(_NEAR.get(name, _ANY_TEXT) | _ANY_TEXT)
    return row


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(rows(), min_size=1, max_size=25))
def test_generated_rows_agree(tmp_path_factory: pytest.TempPathFactory, batch):
    assert_agree(tmp_path_factory.mktemp("agree"), batch)


def test_the_size_limit_counts_the_longest_replay_id():
    assert len(tagged_records(b"{}\n", LONGEST_REPLAY_ID)[0]) - 3 == rules.MAX_REPLAY_TAG_BYTES
