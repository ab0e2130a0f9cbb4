"""The processor in a process of its own: same outcomes and errors as in-process, and a processor
process that dies fails only the delivery it was running."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from txviz_pipeline import settings
from txviz_pipeline.stack import lambda_runtime as runtime
from txviz_pipeline.stack.processor_process import ProcessorProcess

ARN = "arn:aws:lambda:us-east-1:123456789012:function:txviz-processor"
FAKE_PROCESSOR = Path(__file__).with_name("fake_processor.py")
CRASHING_PROCESSOR = """
import base64
import os


def handler(event, context):
    data = [base64.b64decode(r["data"]) for r in event["records"]]
    if b"EXIT" in data:
        os._exit(3)
    return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]}
                        for r in event["records"]]}
"""


def event(*payloads: bytes) -> dict:
    return runtime.build_event("arn:stream", "us-east-1", [{"Data": p} for p in payloads], 1000)


@pytest.fixture
def processor(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProcessorProcess]:
    monkeypatch.setenv(settings.PROCESSOR_PATH_ENV, str(FAKE_PROCESSOR))
    monkeypatch.setenv(settings.CARD_TOKEN_ENV, "k" * 32)
    proc = ProcessorProcess()
    try:
        yield proc
    finally:
        proc.close()


def test_outcomes_are_those_of_the_processor_run_in_process(processor: ProcessorProcess):
    ev = event(b"fine\n", b"bad one\n", b"fine\n", b"to quar\n", b"nokey\n")
    remote = processor.invoke(ARN, ev)
    local = runtime.invoke(ARN, ev)
    assert remote == local
    assert [o.result for o in remote] == ["Ok", "ProcessingFailed", "Dropped", "Ok", "Ok"]
    assert remote[0].data == b"FINE\n" and remote[0].partition_keys == {"zone": "landing"}
    assert remote[1].error_code == runtime.ERR_STATUS and "bad record" in remote[1].error_message


@pytest.mark.parametrize(
    ("marker", "code", "message"),
    [
        (b"RAISE", runtime.ERR_FUNCTION, "RuntimeError: processor blew up on purpose"),
        (b"WRONGID", runtime.ERR_MISSING_ID, "missing from the response"),
    ],
)
def test_failed_invocations_raise_as_in_process(
    processor: ProcessorProcess, marker: bytes, code: str, message: str
):
    with pytest.raises(runtime.InvocationError) as failed:
        processor.invoke(ARN, event(b"fine\n", marker))
    assert failed.value.code == code and message in failed.value.message
    # The process is still there for the next delivery.
    assert [o.result for o in processor.invoke(ARN, event(b"next\n"))] == ["Ok"]


def test_a_dead_processor_process_fails_its_delivery_and_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    handler = tmp_path / "handler.py"
    handler.write_text(CRASHING_PROCESSOR)
    monkeypatch.setenv(settings.PROCESSOR_PATH_ENV, str(handler))
    proc = ProcessorProcess()
    try:
        proc.start()
        first_pid = proc._proc.pid if proc._proc else None
        with pytest.raises(runtime.InvocationError) as failed:
            proc.invoke(ARN, event(b"a", b"EXIT"))
        assert failed.value.code == runtime.ERR_FUNCTION
        assert "exited (status 3)" in failed.value.message
        assert [o.data for o in proc.invoke(ARN, event(b"b"))] == [b"b"]
        assert proc._proc is not None and proc._proc.pid != first_pid
    finally:
        proc.close()
    assert proc._proc is None


def test_close_stops_the_process(processor: ProcessorProcess):
    processor.start()
    assert processor._proc is not None
    pid = processor._proc.pid
    processor.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
