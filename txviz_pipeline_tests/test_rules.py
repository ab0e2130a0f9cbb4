"""The package's copy of the processor's rules agrees with the Lambda's on any JSON record.

``txviz_pipeline.rules`` and ``lambda/validate.py`` are two copies of one rule set (the Lambda
is deployed alone, standard library only). These tests feed both the same records, valid,
broken by hand and generated, and require the same verdict and reason code and field.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import validate as lambda_validate
from hypothesis import given, settings
from hypothesis import strategies as st
from records import process_records

from txviz_pipeline import rules, schema
from txviz_pipeline.ingest.replay.send import tagged_records
from txviz_pipeline_tests.ingest.csvsource.test_rules_agree import code_and_field
from txviz_pipeline_tests.processor.builders import BASE_RECORD, TEST_KEY, record

NOW = datetime(2024, 6, 1, 12, 0, 0)
LONGEST_REPLAY_ID = "r" * 128


def both(line: bytes) -> tuple[Any, Any]:
    """(the Lambda's verdict, the package's) for one NDJSON line: None or (code, field).

    The Lambda gets the line as the replay sends it, with a replay id, unless it has one.
    """
    tag = line.endswith(b"}\n") and b'"replay_id"' not in line
    (sent,) = tagged_records(line, LONGEST_REPLAY_ID) if tag else (line,)
    entry = {"recordId": "r", "data": base64.b64encode(sent).decode("ascii")}
    (result,) = process_records([entry], TEST_KEY.encode(), now=NOW.replace(tzinfo=UTC))
    theirs = None if result.reason is None else code_and_field(result.reason)
    problem = rules.line_problem(line, NOW)
    ours = None if problem is None else (problem.code, problem.field)
    return theirs, ours


def test_the_constants_are_the_lambdas():
    assert rules.MAX_RECORD_BYTES == lambda_validate.MAX_RECORD_BYTES
    assert rules.MAX_AMOUNT == lambda_validate.MAX_AMOUNT
    assert rules.FUTURE_TOLERANCE == lambda_validate.FUTURE_TOLERANCE
    assert rules.MIN_EVENT_YEAR == lambda_validate.MIN_EVENT_YEAR
    assert rules.MAX_AGE_YEARS == lambda_validate.MAX_AGE_YEARS
    assert rules.MAX_TEXT_CHARS == lambda_validate.MAX_TEXT_CHARS
    assert rules.MAX_INT64 == lambda_validate.MAX_INT64
    assert schema.REPLAY_ID_PATTERN == lambda_validate.REPLAY_ID_PATTERN


CASES: list[dict[str, Any] | bytes] = [
    BASE_RECORD,
    record(amt=True),
    record(amt="4.97"),
    record(amt=10**400),
    record(cc_num=2703186189652095),
    record(cc_num=2.703186189652095e15),
    record(cc_num=None),
    record(zip=28654),
    record(zip=28654.0),
    record(is_fraud=True),
    record(is_fraud=1.0),
    record(row_id=-1),
    record(row_id=2**63),
    record(city_pop="3495"),
    record(first=None),
    record(street=7),
    record(merchant="\ud800"),
    record(city="\udfff"),
    record(first="\ud800"),
    record(replay_id="bad id"),
    record(replay_id="run-1"),
    record(trans_date_trans_time=None),
    record(dob=19880309),
    record(category=None),
    {k: v for k, v in BASE_RECORD.items() if k != "amt"},
    {**BASE_RECORD, "extra": 1},
    b"\n",
    b"[1, 2]\n",
    b"{\n",
    b'{"amt": NaN}\n',
    b"\xff\xfe\n",
    json.dumps(record(first="f" * 17_000)).encode() + b"\n",
]


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_records_broken_by_hand(case):
    line = case if isinstance(case, bytes) else json.dumps(case).encode() + b"\n"
    theirs, ours = both(line)
    assert ours == theirs


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["M", "F", "NC", "nc", "00501", "1988-03-09", "2099-01-01 00:00:00"]),
)


@settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from(schema.NDJSON_FIELDS[1:]), _JSON_VALUES, min_size=1, max_size=3
    )
)
def test_generated_records_agree(changes):
    theirs, ours = both(json.dumps(record(**changes)).encode() + b"\n")
    assert ours == theirs
