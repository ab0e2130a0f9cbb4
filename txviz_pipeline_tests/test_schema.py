from txviz_pipeline.schema import LANDING_FIELDS, check_header, landing_record_problem


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
