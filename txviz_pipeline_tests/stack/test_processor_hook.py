"""The processor hook's pure parts: prefixes, the response contract, loading processors."""

from __future__ import annotations

import base64
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from txviz_pipeline import settings
from txviz_pipeline.stack import processor_hook as hook

WHEN = datetime(2024, 3, 5, 7, 9, 11, tzinfo=UTC)
ARN = "arn:aws:lambda:us-east-1:123456789012:function:txviz-processor"


def event(*payloads: bytes) -> dict:
    return hook.build_event("arn:stream", "us-east-1", [{"Data": p} for p in payloads], 1000)


def ok(rec: dict, data: bytes = b"x") -> dict:
    return {"recordId": rec["recordId"], "result": "Ok", "data": base64.b64encode(data).decode()}


def test_error_prefix_template_renders_like_firehose():
    rendered = hook.render_prefix(
        settings.ERROR_PREFIX_TEMPLATE, when=WHEN, error_output_type="processing-failed"
    )
    assert rendered == "errors/processing-failed/2024/03/05/07/"
    assert rendered.startswith(settings.PROCESSING_FAILED_PREFIX)


def test_prefix_without_timestamp_gets_the_default_hour_appended():
    assert hook.render_prefix("landing", when=WHEN) == "landing/2024/03/05/07/"
    assert hook.render_prefix("", when=WHEN) == "2024/03/05/07/"
    assert (
        hook.render_prefix("e/!{firehose:error-output-type}/", when=WHEN, error_output_type="x")
        == "e/x/2024/03/05/07/"
    )


def test_timestamp_expression_takes_java_patterns():
    assert hook.render_prefix("a/!{timestamp:yyyy-MM-dd}/", when=WHEN) == "a/2024-03-05/"
    assert hook.render_prefix("!{timestamp:yy/HH:mm:ss}/", when=WHEN) == "24/07:09:11/"


def test_unknown_or_misplaced_expressions_are_errors():
    with pytest.raises(ValueError, match="unsupported"):
        hook.render_prefix("!{partitionKeyFromQuery:x}/", when=WHEN)
    with pytest.raises(ValueError, match="error prefix"):
        hook.render_prefix("!{firehose:error-output-type}/", when=WHEN)


def test_lambda_arn_only_for_an_enabled_lambda_processor():
    def dest(enabled: bool, kind: str = "Lambda") -> dict:
        params = [{"ParameterName": "LambdaArn", "ParameterValue": ARN}]
        processors = [{"Type": kind, "Parameters": params}]
        return {"ProcessingConfiguration": {"Enabled": enabled, "Processors": processors}}

    assert hook.lambda_arn(dest(True)) == ARN
    assert hook.lambda_arn(dest(False)) is None
    assert hook.lambda_arn(dest(True, "RecordDeAggregation")) is None
    assert hook.lambda_arn({"Prefix": "x/"}) is None


def test_event_has_aws_shape_and_unique_record_ids():
    ev = event(b"a", b"\xff\x00")
    assert set(ev) == {"invocationId", "deliveryStreamArn", "region", "records"}
    assert [base64.b64decode(r["data"]) for r in ev["records"]] == [b"a", b"\xff\x00"]
    assert all(r["approximateArrivalTimestamp"] == 1000 for r in ev["records"])
    assert len({r["recordId"] for r in ev["records"]}) == 2


def test_valid_response_gives_outcomes_in_input_order():
    ev = event(b"a", b"b", b"c")
    a, b, c = ev["records"]
    response = {
        "records": [
            {"recordId": c["recordId"], "result": "Dropped"},
            ok(a, b"A"),
            {"recordId": b["recordId"], "result": "ProcessingFailed", "data": b["data"]},
        ]
    }
    outcomes = hook.check_response(ev, response)
    assert [(o.result, o.data) for o in outcomes] == [
        ("Ok", b"A"),
        ("ProcessingFailed", b""),
        ("Dropped", b""),
    ]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda recs: recs[:1], hook.ERR_MISSING_ID),
        (lambda recs: recs + recs[:1], hook.ERR_DUPLICATED_ID),
        (lambda recs: [*recs, {**recs[0], "recordId": "stranger"}], hook.ERR_INVALID),
        (lambda recs: [{**recs[0], "result": "Fine"}, recs[1]], hook.ERR_INVALID),
        (lambda recs: [{**recs[0], "data": "%%%"}, recs[1]], hook.ERR_INVALID),
        (lambda recs: [{**recs[0], "data": b"bytes"}, recs[1]], hook.ERR_BAD_JSON),
        (lambda recs: [{"result": "Ok"}, recs[1]], hook.ERR_BAD_JSON),
    ],
)
def test_contract_violations_fail_the_whole_invocation(mutate, code):
    ev = event(b"a", b"b")
    with pytest.raises(hook.InvocationError) as err:
        hook.check_response(ev, {"records": mutate([ok(r) for r in ev["records"]])})
    assert err.value.code == code


@pytest.mark.parametrize("response", [None, [], {"records": "x"}, {"recs": []}])
def test_response_without_records_list_is_rejected(response):
    with pytest.raises(hook.InvocationError) as err:
        hook.check_response(event(b"a"), response)
    assert err.value.code == hook.ERR_BAD_JSON


def test_handler_only_processor_gets_the_generic_reason(tmp_path: Path, monkeypatch):
    path = tmp_path / "only_handler.py"
    path.write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "@dataclass\n"
        "class Unused:\n"
        "    x: int\n"
        "def handler(event, context):\n"
        "    assert context.function_name == 'txviz-processor'\n"
        "    return {'records': [{'recordId': r['recordId'], 'result': 'ProcessingFailed',\n"
        "                         'data': r['data']} for r in event['records']]}\n"
    )
    monkeypatch.setenv(hook.PROCESSOR_PATH_ENV, str(path))
    [outcome] = hook.invoke(ARN, event(b"a"))
    assert outcome.result == "ProcessingFailed"
    assert outcome.error_code == hook.ERR_STATUS
    assert outcome.error_message == hook.GENERIC_FAILED_REASON


def test_processor_is_reloaded_when_its_file_changes(tmp_path: Path, monkeypatch):
    path = tmp_path / "changing.py"
    monkeypatch.setenv(hook.PROCESSOR_PATH_ENV, str(path))
    body = "def handler(event, context):\n    raise ValueError({!r})\n"
    path.write_text(body.format("first"))
    with pytest.raises(hook.InvocationError, match="first"):
        hook.invoke(ARN, event(b"a"))
    path.write_text(body.format("second, longer"))
    with pytest.raises(hook.InvocationError, match="second"):
        hook.invoke(ARN, event(b"a"))


def test_missing_or_broken_processor_is_a_function_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(hook.PROCESSOR_PATH_ENV, str(tmp_path / "absent.py"))
    with pytest.raises(hook.InvocationError) as err:
        hook.invoke(ARN, event(b"a"))
    assert err.value.code == hook.ERR_FUNCTION and "absent.py" in err.value.message
    (tmp_path / "nohandler.py").write_text("x = 1\n")
    monkeypatch.setenv(hook.PROCESSOR_PATH_ENV, str(tmp_path / "nohandler.py"))
    with pytest.raises(hook.InvocationError, match="no handler"):
        hook.invoke(ARN, event(b"a"))


def test_error_record_has_aws_fields():
    outcome = hook.Outcome("id", "ProcessingFailed", error_code="C", error_message="why")
    rec = hook.error_record(b"raw\n", outcome, 1, 2, ARN)
    assert rec == {
        "attemptsMade": 1,
        "arrivalTimestamp": 1,
        "errorCode": "C",
        "errorMessage": "why",
        "attemptEndingTimestamp": 2,
        "rawData": base64.b64encode(b"raw\n").decode(),
        "lambdaArn": ARN,
    }


def test_repo_processor_loads_with_its_modules_and_leaves_sys_modules_alone(monkeypatch):
    monkeypatch.delenv(hook.PROCESSOR_PATH_ENV, raising=False)
    monkeypatch.setenv("TXVIZ_CARD_TOKEN_KEY", "test-card-token-key-0123456789")
    assert hook.processor_path() == settings.REPO_ROOT / "lambda" / "handler.py"
    before = dict(sys.modules)
    [outcome] = hook.invoke(ARN, event(b"Hello World"))
    assert outcome.result == "ProcessingFailed"
    assert outcome.error_message.startswith("invalid_json:")
    # Only the handler itself stays registered (under its own name); its siblings do not.
    added = set(sys.modules) - set(before)
    assert all(name.startswith("txviz_processor_") for name in added), added
    assert all(sys.modules[name] is module for name, module in before.items())


def write_processor(folder: Path, reason: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "rules.py").write_text(f"REASON = {reason!r}\n")
    (folder / "handler.py").write_text(
        "from rules import REASON\n"
        "def handler(event, context):\n"
        "    raise ValueError(REASON)\n"
    )
    return folder / "handler.py"


def test_sibling_modules_come_from_the_handlers_folder_and_reload(tmp_path: Path, monkeypatch):
    first = write_processor(tmp_path / "a", "rules of a")
    second = write_processor(tmp_path / "b", "rules of b")
    monkeypatch.setenv(hook.PROCESSOR_PATH_ENV, str(first))
    with pytest.raises(hook.InvocationError, match="rules of a"):
        hook.invoke(ARN, event(b"x"))
    monkeypatch.setenv(hook.PROCESSOR_PATH_ENV, str(second))
    with pytest.raises(hook.InvocationError, match="rules of b"):
        hook.invoke(ARN, event(b"x"))
    # Editing only a sibling module reloads the processor.
    (tmp_path / "a" / "rules.py").write_text("REASON = 'edited rules of a'\n")
    monkeypatch.setenv(hook.PROCESSOR_PATH_ENV, str(first))
    with pytest.raises(hook.InvocationError, match="edited rules of a"):
        hook.invoke(ARN, event(b"x"))
    assert "rules" not in sys.modules
