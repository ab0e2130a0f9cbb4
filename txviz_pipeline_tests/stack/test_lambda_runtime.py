"""The Lambda runtime: AWS's event, the response contract, loading and invoking processors."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from txviz_pipeline import settings
from txviz_pipeline.stack import lambda_runtime as runtime

ARN = "arn:aws:lambda:us-east-1:123456789012:function:txviz-processor"


def event(*payloads: bytes) -> dict:
    return runtime.build_event("arn:stream", "us-east-1", [{"Data": p} for p in payloads], 1000)


def ok(rec: dict, data: bytes = b"x") -> dict:
    return {"recordId": rec["recordId"], "result": "Ok", "data": base64.b64encode(data).decode()}


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
    outcomes = runtime.check_response(ev, response)
    assert [(o.result, o.data) for o in outcomes] == [
        ("Ok", b"A"),
        ("ProcessingFailed", b""),
        ("Dropped", b""),
    ]


def test_ok_records_carry_their_partition_keys():
    ev = event(b"a", b"b")
    a, b = ev["records"]
    routed = {**ok(a, b"A"), "metadata": {"partitionKeys": {"zone": "quarantine"}}}
    outcomes = runtime.check_response(ev, {"records": [routed, ok(b, b"B")]})
    # A record without keys is still Ok here; the hook fails its partitioning if the prefix
    # needs a key.
    assert [o.partition_keys for o in outcomes] == [{"zone": "quarantine"}, {}]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda recs: recs[:1], runtime.ERR_MISSING_ID),
        (lambda recs: recs + recs[:1], runtime.ERR_DUPLICATED_ID),
        (lambda recs: [*recs, {**recs[0], "recordId": "stranger"}], runtime.ERR_INVALID),
        (lambda recs: [{**recs[0], "result": "Fine"}, recs[1]], runtime.ERR_INVALID),
        (lambda recs: [{**recs[0], "data": "%%%"}, recs[1]], runtime.ERR_INVALID),
        (lambda recs: [{**recs[0], "data": b"bytes"}, recs[1]], runtime.ERR_BAD_JSON),
        (lambda recs: [{"result": "Ok"}, recs[1]], runtime.ERR_BAD_JSON),
        (lambda recs: [{**recs[0], "metadata": "zone"}, recs[1]], runtime.ERR_INVALID),
        (
            lambda recs: [{**recs[0], "metadata": {"partitionKeys": {"zone": 1}}}, recs[1]],
            runtime.ERR_INVALID,
        ),
    ],
)
def test_contract_violations_fail_the_whole_invocation(mutate, code):
    ev = event(b"a", b"b")
    with pytest.raises(runtime.InvocationError) as err:
        runtime.check_response(ev, {"records": mutate([ok(r) for r in ev["records"]])})
    assert err.value.code == code


@pytest.mark.parametrize("response", [None, [], {"records": "x"}, {"recs": []}])
def test_response_without_records_list_is_rejected(response):
    with pytest.raises(runtime.InvocationError) as err:
        runtime.check_response(event(b"a"), response)
    assert err.value.code == runtime.ERR_BAD_JSON


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
    monkeypatch.setenv(runtime.settings.PROCESSOR_PATH_ENV, str(path))
    [outcome] = runtime.invoke(ARN, event(b"a"))
    assert outcome.result == "ProcessingFailed"
    assert outcome.error_code == runtime.ERR_STATUS
    assert outcome.error_message == runtime.GENERIC_FAILED_REASON


def test_processor_is_reloaded_when_its_file_changes(tmp_path: Path, monkeypatch):
    path = tmp_path / "changing.py"
    monkeypatch.setenv(runtime.settings.PROCESSOR_PATH_ENV, str(path))
    body = "def handler(event, context):\n    raise ValueError({!r})\n"
    path.write_text(body.format("first"))
    with pytest.raises(runtime.InvocationError, match="first"):
        runtime.invoke(ARN, event(b"a"))
    path.write_text(body.format("second, longer"))
    with pytest.raises(runtime.InvocationError, match="second"):
        runtime.invoke(ARN, event(b"a"))


def test_missing_or_broken_processor_is_a_function_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(runtime.settings.PROCESSOR_PATH_ENV, str(tmp_path / "absent.py"))
    with pytest.raises(runtime.InvocationError) as err:
        runtime.invoke(ARN, event(b"a"))
    assert err.value.code == runtime.ERR_FUNCTION and "absent.py" in err.value.message
    (tmp_path / "nohandler.py").write_text("x = 1\n")
    monkeypatch.setenv(runtime.settings.PROCESSOR_PATH_ENV, str(tmp_path / "nohandler.py"))
    with pytest.raises(runtime.InvocationError, match="no handler"):
        runtime.invoke(ARN, event(b"a"))


def test_repo_processor_loads_with_its_modules_and_leaves_sys_modules_alone(monkeypatch):
    monkeypatch.delenv(runtime.settings.PROCESSOR_PATH_ENV, raising=False)
    monkeypatch.setenv("TXVIZ_CARD_TOKEN_KEY", "test-card-token-key-0123456789")
    assert runtime.processor_path() == settings.REPO_ROOT / "lambda" / "handler.py"
    before = dict(sys.modules)
    [outcome] = runtime.invoke(ARN, event(b"Hello World"))
    assert (outcome.result, outcome.partition_keys) == ("Ok", {"zone": "quarantine"})
    assert json.loads(outcome.data)["reason"].startswith("invalid_json:")
    # Only the handler itself stays registered (under its own name); its siblings do not.
    added = set(sys.modules) - set(before)
    assert all(name.startswith("txviz_processor_") for name in added), added
    assert all(sys.modules[name] is module for name, module in before.items())


def write_processor(folder: Path, reason: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "rules.py").write_text(f"REASON = {reason!r}\n")
    (folder / "handler.py").write_text(
        "from rules import REASON\ndef handler(event, context):\n    raise ValueError(REASON)\n"
    )
    return folder / "handler.py"


def test_sibling_modules_come_from_the_handlers_folder_and_reload(tmp_path: Path, monkeypatch):
    first = write_processor(tmp_path / "a", "rules of a")
    second = write_processor(tmp_path / "b", "rules of b")
    monkeypatch.setenv(runtime.settings.PROCESSOR_PATH_ENV, str(first))
    with pytest.raises(runtime.InvocationError, match="rules of a"):
        runtime.invoke(ARN, event(b"x"))
    monkeypatch.setenv(runtime.settings.PROCESSOR_PATH_ENV, str(second))
    with pytest.raises(runtime.InvocationError, match="rules of b"):
        runtime.invoke(ARN, event(b"x"))
    # Editing only a sibling module reloads the processor.
    (tmp_path / "a" / "rules.py").write_text("REASON = 'edited rules of a'\n")
    monkeypatch.setenv(runtime.settings.PROCESSOR_PATH_ENV, str(first))
    with pytest.raises(runtime.InvocationError, match="edited rules of a"):
        runtime.invoke(ARN, event(b"x"))
    assert "rules" not in sys.modules
