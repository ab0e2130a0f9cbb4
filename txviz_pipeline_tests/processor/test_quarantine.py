"""Refused records: each becomes its redacted quarantine line, routed by the zone key."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from .builders import (
    BASE_RECORD,
    CARDHOLDER,
    KEY,
    decode,
    line,
    one,
    record,
    run,
)


def test_duplicate_of_a_refused_record_is_dropped_like_any_duplicate():
    bad = line(record(amt=-1))
    res = run(bad, bad)
    assert [(r.result, r.zone) for r in res] == [("Ok", "quarantine"), ("Dropped", None)]
    assert "negative" in res[0].reason and res[1].reason.startswith("duplicate:")


def test_refused_record_becomes_its_quarantine_line():
    res = one(
        {**record(amt=-1, row_id=7, merchant="fraud_Kub 4652 1234 1234 1234"), "replay_id": "r1"}
    )
    assert (res.result, res.partition_keys) == ("Ok", {"zone": "quarantine"})
    assert res.reason == "bad_value: amt is negative"
    assert base64.b64decode(res.data).endswith(b"}\n")
    assert decode(res.data) == {
        "reason": "bad_value: amt is negative",
        "row_id": 7,
        "trans_num": "0b242abb623afc578575680df30655b9",
        "replay_id": "r1",
        "card_last4": "2095",
        "card_token": hmac.new(KEY, b"2703186189652095", hashlib.sha256).hexdigest()[:32],
        "trans_date_trans_time": "2019-01-01 00:00:18",
        "merchant": "fraud_Kub [redacted]",
        "category": "misc_net",
        "amt": "[redacted]",  # the refused value itself is never kept
        "gender": "F",
        **CARDHOLDER,
        "unix_time": 1325376018,
        "merch_lat": 36.011293,
        "merch_long": -82.048315,
        "is_fraud": 0,
        "quarantined_at": "2024-06-01T12:00:00.123Z",
    }


def test_quarantine_line_keeps_no_personal_data_unknown_field_or_card_out_of_place():
    hostile = {
        **BASE_RECORD,
        "cc_num": "2703186189",  # too short: no last four, no token
        "merchant": {"card": "2703186189652095"},
        "city": "Jennifer 2703-1861-8965-2095",
        "amt": 2703186189652095,
        "cvv": "123",
    }
    res = one(hostile)
    assert res.zone == "quarantine"
    kept = decode(res.data)
    raw = base64.b64decode(res.data).decode()
    for secret in ("2703186189", "Banks", "561 Perry Cove", "1988-03-09", '"cvv"', '"123"'):
        assert secret not in raw, secret
    assert "card_last4" not in kept and "card_token" not in kept
    assert (kept["merchant"], kept["amt"]) == ("[redacted]", "[redacted]")
    assert kept["city"] == "Jennifer [redacted]"  # names out of place cannot be told from text
    assert kept["reason"] == "unexpected_fields: cvv"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("state", "561 Perry Cove"),
        ("zip", "561 Perry Cove"),
        ("category", "Jennifer Banks"),
        ("trans_date_trans_time", "1988-03-09"),
        ("gender", "1988-03-09"),
        ("row_id", "561 Perry Cove"),
        ("merchant", 4652),
    ],
)
def test_the_refused_fields_value_is_never_kept(field: str, value):
    # A value in the wrong shape is often another field shifted into this one.
    res = one(record(**{field: value}))
    assert res.zone == "quarantine" and res.reason.split(": ")[1].startswith(field)
    kept = decode(res.data)
    assert kept[field] == "[redacted]"
    assert str(value) not in base64.b64decode(res.data).decode()


def test_record_that_never_parses_keeps_its_reason_size_and_the_rows_identity():
    # A record of the replay that did not parse still names its row (row_id is the replay's
    # first key, replay_id its last), so reconciliation can count it.
    broken = (
        b'{"row_id": 12, "trans_num": "'
        + b"a" * 32
        + b'", "cc_num": "2703186189652095", "replay_id": "r1"'
    )
    kept = decode(one(broken).data)
    assert kept == {
        "reason": kept["reason"],
        "size_bytes": len(broken),
        "row_id": 12,
        "trans_num": "a" * 32,
        "replay_id": "r1",
        "quarantined_at": "2024-06-01T12:00:00.123Z",
    }
    assert kept["reason"].startswith("invalid_json:")


def test_future_transaction_fails():
    res = one(record(trans_date_trans_time="2024-06-03 12:00:00"))
    assert res.zone == "quarantine" and "future" in res.reason
    assert one(record(trans_date_trans_time="2024-06-02 11:00:00")).zone == "landing"


def test_reasons_never_echo_personal_values():
    for rec in (record(cc_num="12345678"), record(dob="1988-13-09"), record(first=123)):
        res = one(rec)
        assert res.zone == "quarantine"
        assert "12345678" not in res.reason and "1988-13-09" not in res.reason
