"""Every validation rule at its boundary: the limit itself and one unit either side."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from records import process_records
from response import Result
from validate import MAX_RECORD_BYTES

from .builders import BASE_RECORD, TEST_KEY, b64, decode, line, record

# No milliseconds, so "one day ahead" is a whole second on the event clock.
NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def run(data: str) -> Result:
    (res,) = process_records([{"recordId": "r", "data": data}], TEST_KEY.encode(), now=NOW)
    return res


def check(rec: dict[str, Any] | bytes) -> str | None:
    """None when the record lands Ok, else its reason."""
    res = run(b64(rec if isinstance(rec, bytes) else line(rec)))
    assert res.result == "Ok", res
    assert (res.zone == "landing") == (res.reason is None), res
    return res.reason


def ok(**changes: Any) -> dict[str, Any]:
    """The landing record of BASE_RECORD with ``changes``; fails the test unless it is Ok."""
    res = run(b64(line(record(**changes))))
    assert res.zone == "landing", res.reason
    return decode(res.data)


def fails(reason: str, **changes: Any) -> None:
    got = check(record(**changes))
    assert got is not None and got.startswith(reason), got


# One case per rule side: the value at the limit passes, one unit past it fails.
BOUNDARIES = [
    # amt in [0, 50,000], to the cent
    ({"amt": 0.0}, None),
    ({"amt": -0.01}, "bad_value: amt is negative"),
    ({"amt": 49999.99}, None),
    ({"amt": 50000.0}, None),
    ({"amt": 50000.01}, "bad_value: amt is over 50,000"),
    # latitudes in [-90, 90], longitudes in [-180, 180]
    ({"lat": 90.0, "merch_lat": -90.0}, None),
    ({"lat": 90.000001}, "bad_value: lat is outside [-90, 90]"),
    ({"lat": -90.000001}, "bad_value: lat is outside [-90, 90]"),
    ({"merch_lat": 90.000001}, "bad_value: merch_lat is outside [-90, 90]"),
    ({"long": 180.0, "merch_long": -180.0}, None),
    ({"long": 180.000001}, "bad_value: long is outside [-180, 180]"),
    ({"merch_long": -180.000001}, "bad_value: merch_long is outside [-180, 180]"),
    # integers in [0, 2^63 - 1]
    ({"row_id": 0, "city_pop": 0, "unix_time": 0}, None),
    ({"row_id": 2**63 - 1, "city_pop": 2**63 - 1, "unix_time": 2**63 - 1}, None),
    ({"row_id": -1}, "bad_value: row_id is out of range"),
    ({"row_id": 2**63}, "bad_value: row_id is out of range"),
    ({"city_pop": -1}, "bad_value: city_pop is out of range"),
    ({"city_pop": 2**63}, "bad_value: city_pop is out of range"),
    ({"unix_time": -1}, "bad_value: unix_time is out of range"),
    ({"unix_time": 2**63}, "bad_value: unix_time is out of range"),
    # cc_num: 11 to 19 digits, as a string or a positive JSON integer
    ({"cc_num": "1" * 11}, None),
    ({"cc_num": "1" * 10}, "bad_value: cc_num must be 11-19 digits (got 10 chars)"),
    ({"cc_num": "1" * 19}, None),
    ({"cc_num": "1" * 20}, "bad_value: cc_num must be 11-19 digits (got 20 chars)"),
    ({"cc_num": 10**10}, None),
    ({"cc_num": 10**10 - 1}, "bad_value: cc_num must be 11-19 digits (got 10 chars)"),
    ({"cc_num": 0}, "bad_value: cc_num must be 11-19 digits (got 0 chars)"),
    ({"cc_num": 1}, "bad_value: cc_num must be 11-19 digits (got 1 chars)"),
    ({"cc_num": 1.5}, "bad_type: cc_num is a float"),
    ({"cc_num": True}, "bad_type: cc_num is a boolean, expected a string of digits"),
    # zip: 3 to 5 digits, as a string or an integer
    ({"zip": "100"}, None),
    ({"zip": "10"}, "bad_value: zip is not a 3-5 digit US zip code"),
    ({"zip": "123456"}, "bad_value: zip is not a 3-5 digit US zip code"),
    ({"zip": 100}, None),
    ({"zip": 99}, "bad_value: zip is not a 3-5 digit US zip code"),
    ({"zip": 99999}, None),
    ({"zip": 100000}, "bad_value: zip is not a 3-5 digit US zip code"),
    ({"zip": 28654.0}, "bad_value: zip is not a 3-5 digit US zip code"),
    ({"zip": None}, "bad_value: zip is not a 3-5 digit US zip code"),
    # trans_num: exactly 32 hex characters
    ({"trans_num": "f" * 31}, "bad_value: trans_num is not 32 hex characters"),
    ({"trans_num": "f" * 33}, "bad_value: trans_num is not 32 hex characters"),
    # state: two capital letters
    ({"state": "N"}, "bad_value: state is not two capital letters"),
    ({"state": "NCA"}, "bad_value: state is not two capital letters"),
    ({"state": "nc"}, "bad_value: state is not two capital letters"),
    # gender M or F; is_fraud 0 or 1 (an integer, not a boolean)
    ({"gender": "M"}, None),
    ({"gender": "m"}, "bad_value: gender must be 'M' or 'F'"),
    ({"is_fraud": 1}, None),
    ({"is_fraud": -1}, "bad_value: is_fraud must be 0 or 1"),
    ({"is_fraud": 2}, "bad_value: is_fraud must be 0 or 1"),
    ({"is_fraud": False}, "bad_value: is_fraud must be 0 or 1"),
    ({"is_fraud": 0.0}, "bad_value: is_fraud must be 0 or 1"),
    # text: at most 200 characters; merchant not blank
    ({"city": "c" * 200, "job": "j" * 200, "merchant": "m" * 200}, None),
    ({"city": "c" * 201}, "bad_value: city is 201 characters (max 200)"),
    ({"job": "j" * 201}, "bad_value: job is 201 characters (max 200)"),
    ({"merchant": "m" * 201}, "bad_value: merchant is 201 characters (max 200)"),
    ({"category": "misc_net" + "x" * 193}, "bad_value: category is 201 characters (max 200)"),
    ({"merchant": "m"}, None),
    ({"merchant": ""}, "bad_value: merchant is empty"),
    ({"city": "", "job": ""}, None),
    ({"gender": 1}, "bad_type: gender is a number, expected a string"),
    ({"street": None}, "bad_type: street is a null, expected a string"),
    ({"last": ["Banks"]}, "bad_type: last is a array, expected a string"),
    # numbers: JSON numbers, finite; an integer beyond float's range is refused
    ({"amt": 5}, None),
    ({"lat": 10**400}, "bad_value: lat is out of range"),
    ({"merch_long": None}, "bad_type: merch_long is a null, expected a number"),
    # replay_id: 1 to 128 characters of [A-Za-z0-9._-], starting alphanumeric
    ({"replay_id": "r" * 128}, None),
    ({"replay_id": "r" * 129}, "bad_value: replay_id"),
    ({"replay_id": "r"}, None),
    ({"replay_id": "_r"}, "bad_value: replay_id is not a replay name"),
    ({"replay_id": None}, None),
]


@pytest.mark.parametrize(("changes", "reason"), BOUNDARIES, ids=[str(c) for c, _ in BOUNDARIES])
def test_field_rule_boundary(changes: dict[str, Any], reason: str | None):
    got = check(record(**changes))
    if reason is None:
        assert got is None
    else:
        assert got is not None and got.startswith(reason), got


def test_event_time_may_be_at_most_one_day_ahead_of_the_clock():
    assert ok(trans_date_trans_time="2024-06-02 12:00:00")["event_time"] == "2024-06-02T12:00:00Z"
    fails(
        "bad_value: trans_date_trans_time is more than a day in the future",
        trans_date_trans_time="2024-06-02 12:00:01",
    )


def test_event_time_starts_in_1970():
    ok(trans_date_trans_time="1970-01-01 00:00:00", dob="1950-01-01")
    fails(
        "bad_value: trans_date_trans_time is before 1970",
        trans_date_trans_time="1969-12-31 23:59:59",
        dob="1950-01-01",
    )


def test_age_is_0_to_120_at_the_event():
    event = {"trans_date_trans_time": "2019-06-15 10:00:00"}
    assert ok(dob="2019-06-15", **event)["age"] == 0
    fails("bad_value: dob is after the transaction", dob="2019-06-16", **event)
    assert ok(dob="1899-06-15", **event)["age"] == 120
    assert ok(dob="1898-06-16", **event)["age"] == 120  # 121st birthday is tomorrow
    fails("bad_value: dob gives an age over 120", dob="1898-06-15", **event)


@pytest.mark.parametrize(
    ("dob", "age", "band"),
    [
        ("1994-06-16", 24, "<25"),
        ("1994-06-15", 25, "25-34"),
        ("1984-06-16", 34, "25-34"),
        ("1984-06-15", 35, "35-44"),
        ("1974-06-16", 44, "35-44"),
        ("1974-06-15", 45, "45-54"),
        ("1964-06-16", 54, "45-54"),
        ("1964-06-15", 55, "55-64"),
        ("1954-06-16", 64, "55-64"),
        ("1954-06-15", 65, "65+"),
    ],
)
def test_age_band_edges(dob: str, age: int, band: str):
    out = ok(dob=dob, trans_date_trans_time="2019-06-15 10:00:00")
    assert (out["age"], out["age_band"]) == (age, band)


def padded_line(size: int) -> bytes:
    """BASE_RECORD's line padded with JSON whitespace to exactly ``size`` bytes."""
    body = json.dumps(BASE_RECORD).encode()
    return body + b" " * (size - len(body) - 1) + b"\n"


def test_record_size_limit_is_16_kib():
    assert check(padded_line(MAX_RECORD_BYTES)) is None
    reason = check(padded_line(MAX_RECORD_BYTES + 1))
    assert (
        reason == f"too_large: record is {MAX_RECORD_BYTES + 1} bytes; a transaction is under 16384"
    )


def test_oversized_base64_is_refused_before_decoding():
    # The longest base64 that can still hold 16 KiB is decoded (and refused by its size); one
    # character more is refused unread.
    longest = base64.b64encode(b"x" * (MAX_RECORD_BYTES + 5)).decode()
    assert len(longest) == (MAX_RECORD_BYTES + 2) // 3 * 4 + 4
    assert run(longest).reason == "too_large: record is 16389 bytes; a transaction is under 16384"
    res = run(longest + "A")
    assert res.reason == "too_large: record is ~16389 bytes; a transaction is under 16384 bytes"
    # Its quarantine line holds the reason and size, nothing of the record.
    assert json.loads(base64.b64decode(res.data)) == {
        "reason": res.reason,
        "size_bytes": len(longest + "A") * 3 // 4,
        "quarantined_at": "2024-06-01T12:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\n", "empty_record: record is empty"),
        (b" \n", "empty_record: record is empty"),
        (b"{}\n", "missing_fields: row_id"),
        (b"{}\n\n", "missing_fields: row_id"),
        (b"\n{}", "missing_fields: row_id"),
        (b"7", "not_object: record is a JSON number, expected an object"),
        (b"[]", "not_object: record is a JSON array, expected an object"),
        (b"\xff{}", "not_utf8: record is not UTF-8 (byte 0)"),
    ],
)
def test_line_framing(payload: bytes, reason: str):
    got = check(payload)
    assert got is not None and got.startswith(reason), got


def test_field_set_must_be_exact():
    extra = {**BASE_RECORD, "zz": 1, "aa": 2}
    assert check(extra) == "unexpected_fields: aa, zz"
    missing = {k: v for k, v in BASE_RECORD.items() if k not in ("amt", "dob")}
    assert check(missing) == "missing_fields: amt, dob"
    many = {**BASE_RECORD, **{f"x{i:02d}": i for i in range(12)}}
    assert check(many) == "unexpected_fields: " + ", ".join(f"x{i:02d}" for i in range(10)) + (
        ", 2 other field name(s)"
    )
    # A field name that could be data (a card number as a key, a name with spaces) is counted,
    # never shown.
    odd = {**BASE_RECORD, "4652123412341234": 1, "Ann Lee": 2, "cvv": 3}
    assert check(odd) == "unexpected_fields: cvv, 2 other field name(s)"


@pytest.mark.parametrize(
    "changes",
    [
        {"category": "4652123412341234"},
        {"state": "1988-03-09"},
        {"trans_num": "4652 1234 1234 1234"},
        {"trans_date_trans_time": "561 Perry Cove"},
        {"zip": "4652123412341234"},
        {"gender": "Jennifer Banks"},
        {"replay_id": "4652-1234-1234-1234!"},
        {"amt": -4652123412341234},
        {"lat": 4652123412341234.0},
        {"row_id": -4652123412341234},
        {"is_fraud": 4652123412341234},
    ],
    ids=lambda c: next(iter(c)),
)
def test_reasons_never_echo_the_value(changes: dict[str, Any]):
    # A shifted or hostile record can carry a card number, street or birth date in any field.
    value = next(iter(changes.values()))
    reason = check(record(**changes))
    assert reason is not None and reason.startswith("bad_"), reason
    assert str(value).lstrip("-") not in reason
    assert "4652" not in reason and "1988" not in reason and "Perry" not in reason


def test_reasons_name_the_rule_in_full():
    impossible = check(record(trans_date_trans_time="2019-02-30 00:00:18"))
    assert impossible == ("bad_value: trans_date_trans_time is not a real date and time")
    # Only the trailing newline is framing; the reason describes the line without it.
    assert check(b'{"a\n') == (
        "invalid_json: record is not one JSON value "
        "(Unterminated string starting at: line 1 column 2 (char 1))"
    )
    # A number literal past float's range parses as infinity.
    huge = line(BASE_RECORD).replace(b'"amt": 4.97', b'"amt": 1e999')
    assert check(huge) == "bad_value: amt is not finite"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "bad_data: record 'data' is not a base64 string"),
        (7, "bad_data: record 'data' is not a base64 string"),
        # Characters outside the alphabet are refused, not skipped.
        (b64(line(BASE_RECORD))[:8] + "\n" + b64(line(BASE_RECORD))[8:], "not_base64:"),
        (b64(line(BASE_RECORD)) + "*", "not_base64:"),
        ("eyJhI", "not_base64: record data is not valid base64 ("),
    ],
)
def test_data_must_be_strict_base64(data: Any, reason: str):
    got = run(data).reason
    assert got is not None and got.startswith(reason), got
