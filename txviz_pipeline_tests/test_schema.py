import pytest

from txviz_pipeline.schema import (
    LANDING_FIELDS,
    SchemaError,
    check_header,
    landing_record_problem,
    looks_like_column_name,
)


def landing_record(**overrides) -> dict:
    samples = {"string": "x", "string?": None, "int64": 1, "float64": 1.5, "list<string>": []}
    record = {name: samples[kind] for name, kind in LANDING_FIELDS.items()}
    record.update(overrides)
    return record


def test_landing_record_problem_names_what_is_wrong():
    assert landing_record_problem(landing_record()) is None
    assert landing_record_problem(landing_record(replay_id="run-1")) is None
    missing = {k: v for k, v in landing_record().items() if k != "amount"}
    assert "missing ['amount']" in landing_record_problem(missing)
    assert "unexpected ['cc_num']" in landing_record_problem(landing_record(cc_num="4111"))
    assert "amount='12.00' is not float64" in landing_record_problem(landing_record(amount="12.00"))
    assert "is not int64" in landing_record_problem(landing_record(is_fraud=True))
    assert "is not int64" in landing_record_problem(landing_record(fraud_flagged=False))
    two = landing_record(fraud_flagged=2)
    assert landing_record_problem(two) == "fraud_flagged=2 is not 0 or 1"
    assert landing_record_problem(landing_record(is_fraud=-1)) == "is_fraud=-1 is not 0 or 1"
    assert "is not string" in landing_record_problem(landing_record(model_version=None))
    assert landing_record_problem(landing_record(fraud_flagged=0, model_version="m-1")) is None
    assert "is not string?" in landing_record_problem(landing_record(replay_id=7))
    assert "amount=nan" in landing_record_problem(landing_record(amount=float("nan")))
    assert "not a JSON object" in landing_record_problem([1, 2])


def test_header_check_accepts_pandas_unnamed_index_and_names_foreign_columns():
    sparkov = ["Unnamed: 0", *list(check_header([]).missing)[1:]]
    assert check_header(sparkov).ok
    ulb = ["Time", *[f"V{i}" for i in range(1, 29)], "Amount", "Class"]
    result = check_header(ulb)
    assert not result.ok
    assert "cc_num" in result.missing and "V1" in result.unexpected


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("amt", True),
        ("trans_date_trans_time", True),
        ("V28", True),
        ("Unnamed: 0", True),
        ("Amount ($)", True),
        ("CustomerAccountNumber", True),
        ("4652123412341234", False),  # a card number
        ("1988-03-09", False),  # a date of birth
        ("561 Perry Cove", False),  # a street
        ("q2pUeXFJ8cNnQ0bW3vTzR7", False),  # a key's start
        ("deadbeefcafe0123456789", False),  # hex
        ("a" * 25, False),  # too long
        ("", False),
    ],
)
def test_only_column_like_cells_are_shown(cell, shown):
    assert looks_like_column_name(cell) == shown
    message = str(SchemaError("f.csv", [], [cell] if cell else []))
    assert (repr(cell) in message) == shown


def test_a_header_error_counts_the_cells_it_hides_and_stays_short():
    cells = ["Time", "4652123412341234", *(f"V{i}" for i in range(1, 29)), "x" * 5_000]
    message = str(SchemaError("f.csv", ["cc_num", "amt"], cells))
    assert "unexpected columns: 'Time', 'V1', 'V2', 'V3', 'V4' and 24 more" in message
    assert "and 2 that are not column names (not shown)" in message
    assert "missing columns: 'cc_num', 'amt'" in message
    assert "4652" not in message and "xx" not in message and len(message) < 300
