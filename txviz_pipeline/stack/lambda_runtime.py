"""A small Lambda runtime for the Firehose processor: load lambda/handler.py, invoke it, check it.

The embedded stack runs the processor in-process, as AWS's Lambda runtime would run it: the handler
file is imported by path with its sibling modules (and reloaded when any of them changes), gets
AWS's transformation event and a Lambda context, and its response is checked against AWS's
contract. A processor that raises, cannot load or breaks the contract fails the whole invocation
(:class:`InvocationError`); the caller decides where the records go.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import itertools
import json
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from txviz_pipeline import settings

log = logging.getLogger(__name__)

RESULTS = ("Ok", "Dropped", "ProcessingFailed")
# AWS's error codes for transformation failures (Firehose's "processing-failed" error records).
ERR_STATUS = "Lambda.ProcessingFailedStatus"
ERR_FUNCTION = "Lambda.FunctionError"
ERR_BAD_JSON = "Lambda.JsonProcessingException"
ERR_MISSING_ID = "Lambda.MissingRecordId"
ERR_DUPLICATED_ID = "Lambda.DuplicatedRecordId"
ERR_INVALID = "Lambda.InvalidResponse"
GENERIC_FAILED_REASON = "The Lambda function returned result ProcessingFailed for this record"
LAMBDA_TIMEOUT_MS = 60_000


def processor_path() -> Path:
    """The handler file to run: $TXVIZ_PROCESSOR_PATH, else the repo's lambda/handler.py."""
    return settings.Settings.from_env().processor_path


@dataclass
class Outcome:
    record_id: str
    result: str  # Ok | Dropped | ProcessingFailed
    data: bytes = b""
    error_code: str | None = None
    error_message: str | None = None
    # An Ok record's metadata.partitionKeys (Firehose dynamic partitioning).
    partition_keys: dict[str, str] = field(default_factory=dict)


class InvocationError(Exception):
    """The processor raised or broke the response contract: every record of the delivery fails."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class LambdaContext:
    """The subset of AWS's Lambda context object that handlers commonly read."""

    def __init__(self, arn: str, request_id: str):
        self.function_name = arn.rsplit(":", 1)[-1]
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = 128
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "embedded"
        self._deadline = time.monotonic() + LAMBDA_TIMEOUT_MS / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_load_lock = threading.Lock()
# Each load gets a module name of its own, so a reload never replaces another load's module.
_load_names = itertools.count()
_loaded: dict[Path, tuple[tuple[tuple[str, int, int], ...], ModuleType]] = {}


def _folder_stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, mtime and size of the handler file and every module beside it."""
    files = {path, *path.parent.glob("*.py")}
    return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files))


def load_processor(path: Path) -> ModuleType:
    """Import the handler file by path, with its sibling modules, as the Lambda runtime would.

    Reloaded when the file or any module beside it changes. The siblings (records, scoring, ...)
    are imported fresh from the handler's folder and then taken out of sys.modules again, so a
    reload sees edited siblings and the server process's own modules are left as they were.
    """
    path = path.resolve()
    with _load_lock:
        stamp = _folder_stamp(path)
        cached = _loaded.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        siblings = {p.stem for p in path.parent.glob("*.py")}
        saved = {name: sys.modules.pop(name) for name in siblings if name in sys.modules}
        spec = importlib.util.spec_from_file_location(f"txviz_processor_{next(_load_names)}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load a Python module from {path}")
        module = importlib.util.module_from_spec(spec)
        # dataclasses look the module up by name while it executes.
        sys.modules[spec.name] = module
        # The Lambda runtime puts the function's folder first on sys.path; siblings import.
        sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[spec.name]
            raise
        finally:
            sys.path.remove(str(path.parent))
            for name in siblings:
                sys.modules.pop(name, None)
            sys.modules.update(saved)
        if not callable(getattr(module, "handler", None)):
            raise ImportError(f"{path} has no handler(event, context)")
        _loaded[path] = (stamp, module)
        log.info("loaded Firehose processor %s", path)
        return module


def build_event(
    stream_arn: str, region: str, records: list[dict[str, bytes]], arrival_ms: int
) -> dict[str, Any]:
    """AWS's Firehose transformation event for ``records``."""
    invocation = uuid.uuid4()
    # One random part per delivery: a uuid4 per record was 3 % of the server's CPU, and the
    # index already tells a delivery's records apart.
    salt = invocation.hex[:12]
    return {
        "invocationId": str(invocation),
        "deliveryStreamArn": stream_arn,
        "region": region,
        "records": [
            {
                "recordId": f"{arrival_ms}{i:06d}{salt}",
                "approximateArrivalTimestamp": arrival_ms,
                "data": base64.b64encode(r["Data"]).decode("ascii"),
            }
            for i, r in enumerate(records)
        ],
    }


def check_response(event: dict[str, Any], response: Any) -> list[Outcome]:
    """Validate a handler response against AWS's contract; outcomes in input order."""
    try:
        # AWS serialises the response; something json can't carry never reaches Firehose.
        response = json.loads(json.dumps(response))
    except (TypeError, ValueError) as exc:
        raise InvocationError(ERR_BAD_JSON, f"response is not JSON: {exc}") from exc
    if not isinstance(response, dict) or not isinstance(response.get("records"), list):
        raise InvocationError(ERR_BAD_JSON, "response has no 'records' list")
    expected = [r["recordId"] for r in event["records"]]
    by_id: dict[str, dict[str, Any]] = {}
    for rec in response["records"]:
        if not isinstance(rec, dict) or not isinstance(rec.get("recordId"), str):
            raise InvocationError(ERR_BAD_JSON, f"response record without a recordId: {rec!r:.200}")
        rid = rec["recordId"]
        if rid in by_id:
            raise InvocationError(ERR_DUPLICATED_ID, f"recordId {rid} returned more than once")
        by_id[rid] = rec
    missing = [rid for rid in expected if rid not in by_id]
    if missing:
        raise InvocationError(
            ERR_MISSING_ID, f"{len(missing)} input recordId(s) missing from the response"
        )
    unknown = set(by_id) - set(expected)
    if unknown:
        raise InvocationError(
            ERR_INVALID, f"{len(unknown)} recordId(s) in the response were not in the event"
        )
    outcomes = []
    for rid in expected:
        rec = by_id[rid]
        result = rec.get("result")
        if result not in RESULTS:
            raise InvocationError(ERR_INVALID, f"record {rid}: result {result!r} not in {RESULTS}")
        data = b""
        keys: dict[str, str] = {}
        if result == "Ok":
            try:
                data = base64.b64decode(rec.get("data") or "", validate=True)
            except (binascii.Error, TypeError, ValueError) as exc:
                raise InvocationError(ERR_INVALID, f"record {rid}: data is not base64") from exc
            keys = _partition_keys(rid, rec.get("metadata"))
        outcomes.append(Outcome(rid, result, data, partition_keys=keys))
    return outcomes


def _partition_keys(rid: str, metadata: Any) -> dict[str, str]:
    """An Ok record's ``metadata.partitionKeys``: absent, or an object of string values.

    Which keys a record needs depends on the destination's prefix: a missing one fails that
    record's partitioning (the hook routes it to the error prefix), not the invocation.
    """
    if metadata is None:
        return {}
    keys = metadata.get("partitionKeys") if isinstance(metadata, dict) else None
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
    ):
        raise InvocationError(
            ERR_INVALID, f"record {rid}: metadata.partitionKeys is not an object of strings"
        )
    return keys


def _call(module: ModuleType, arn: str, event: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """The processor's response and its per-record reasons (recordId -> reason) if it has them.

    lambda/handler.py's ``handler`` is a thin shell over ``process_records(records, key)``,
    whose results carry a reason per record; calling it directly yields the same response as
    the handler plus the reasons. Processors without it run through ``handler`` alone.
    """
    process_records = getattr(module, "process_records", None)
    card_token_key = getattr(module, "card_token_key", None)
    if callable(process_records) and callable(card_token_key):
        results = process_records(event["records"], card_token_key())
        response = {"records": [r.to_firehose() for r in results if r.record_id is not None]}
        reasons = {r.record_id: r.reason for r in results if r.record_id and r.reason}
        return response, reasons
    return module.handler(event, LambdaContext(arn, event["invocationId"])), {}


def run(arn: str, event: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """Load the processor and run it on ``event``: its unchecked response and its reasons.

    Raises InvocationError if it cannot load or raises.
    """
    path = processor_path()
    try:
        module = load_processor(path)
    except Exception as exc:  # noqa: BLE001 - an unloadable function fails the delivery
        raise InvocationError(ERR_FUNCTION, f"cannot load {path}: {exc!r}") from exc
    try:
        return _call(module, arn, event)
    except Exception as exc:  # noqa: BLE001 - AWS reports any handler error as FunctionError
        raise InvocationError(ERR_FUNCTION, f"{type(exc).__name__}: {exc}") from exc


def outcomes_of(event: dict[str, Any], response: Any, reasons: dict[str, str]) -> list[Outcome]:
    """The checked outcomes of a response from :func:`run`; InvocationError if it breaks AWS's
    contract."""
    outcomes = check_response(event, response)
    for o in outcomes:
        if o.result == "ProcessingFailed":
            o.error_code = ERR_STATUS
            o.error_message = reasons.get(o.record_id, GENERIC_FAILED_REASON)
    return outcomes


def invoke(arn: str, event: dict[str, Any]) -> list[Outcome]:
    """Run the processor on ``event`` in this process; raise InvocationError if it fails as a
    whole."""
    return outcomes_of(event, *run(arn, event))
