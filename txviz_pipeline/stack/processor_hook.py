"""Firehose data transformation for the embedded stack: runs the processor Lambda inside moto.

moto 5.2.5 stores a delivery stream's ProcessingConfiguration but never invokes the processor, and
it cannot run Lambda code without Docker. Every PutRecord/PutRecordBatch to an S3 destination ends
in ``FirehoseBackend.put_s3_records``; :func:`install` wraps that one method so that, when the
destination has an enabled Lambda processor, the delivery behaves like AWS's:

* the processor's ``handler`` gets AWS's transformation event (base64 records with recordId and
  approximateArrivalTimestamp) and its response is checked against AWS's contract;
* ``Ok`` records' decoded data is concatenated into one object under the destination's Prefix;
* ``ProcessingFailed`` records become AWS error records (JSON lines with rawData) in one object
  under the ErrorOutputPrefix, with ``!{firehose:error-output-type}`` = ``processing-failed``;
* ``Dropped`` records are written nowhere;
* a handler exception or a broken response fails every record of the delivery into the error
  prefix, so nothing is lost.

Destinations without an enabled processor keep moto's behaviour. The wrap leans on a moto internal,
which is why moto is pinned exactly and ``txviz_pipeline_tests/stack`` exercises it over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import itertools
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.core.utils import utcnow
from moto.firehose.models import FirehoseBackend
from moto.s3.models import s3_backends

from txviz_pipeline import settings

log = logging.getLogger(__name__)

PROCESSOR_PATH_ENV = "TXVIZ_PROCESSOR_PATH"
RESULTS = ("Ok", "Dropped", "ProcessingFailed")
PROCESSING_FAILED = "processing-failed"
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
    override = os.environ.get(PROCESSOR_PATH_ENV)
    return Path(override) if override else settings.REPO_ROOT / "lambda" / "handler.py"


# --- statistics ----------------------------------------------------------------------------------


@dataclass
class StreamStats:
    deliveries: int = 0
    records_in: int = 0
    ok: int = 0
    processing_failed: int = 0
    dropped: int = 0
    # Deliveries whose handler raised or broke the response contract (all records failed).
    invocation_failures: int = 0


@dataclass
class ProcessorStats:
    """Per-stream counters since start; records_in = ok + processing_failed + dropped."""

    streams: dict[str, StreamStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stream: str, outcomes: list[Outcome], invocation_failed: bool) -> None:
        with self._lock:
            s = self.streams.setdefault(stream, StreamStats())
            s.deliveries += 1
            s.records_in += len(outcomes)
            s.ok += sum(o.result == "Ok" for o in outcomes)
            s.processing_failed += sum(o.result == "ProcessingFailed" for o in outcomes)
            s.dropped += sum(o.result == "Dropped" for o in outcomes)
            s.invocation_failures += int(invocation_failed)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: asdict(s) for name, s in self.streams.items()}


STATS = ProcessorStats()


# --- prefixes ------------------------------------------------------------------------------------

_EXPRESSION = re.compile(r"!\{([^}:]+):([^}]*)\}")
_JAVA_DATE_TOKENS = {
    "yyyy": "%Y",
    "yy": "%y",
    "MM": "%m",
    "dd": "%d",
    "HH": "%H",
    "mm": "%M",
    "ss": "%S",
}
_JAVA_DATE_TOKEN = re.compile("|".join(sorted(_JAVA_DATE_TOKENS, key=len, reverse=True)))


def _java_date(pattern: str, when: datetime) -> str:
    """Format ``when`` with a Java DateTimeFormatter pattern, as Firehose's !{timestamp:...}."""
    out, pos = [], 0
    for m in _JAVA_DATE_TOKEN.finditer(pattern):
        out.append(pattern[pos : m.start()])
        out.append(when.strftime(_JAVA_DATE_TOKENS[m.group(0)]))
        pos = m.end()
    out.append(pattern[pos:])
    return "".join(out)


def render_prefix(template: str, *, when: datetime, error_output_type: str | None = None) -> str:
    """Evaluate Firehose's prefix expressions; without a timestamp expression append YYYY/MM/dd/HH/.

    Supports ``!{timestamp:<java pattern>}``, ``!{firehose:error-output-type}`` and
    ``!{firehose:random-string}``; any other expression is an error, as on AWS.
    """
    has_timestamp = False

    def substitute(m: re.Match[str]) -> str:
        nonlocal has_timestamp
        namespace, arg = m.group(1), m.group(2)
        if namespace == "timestamp":
            has_timestamp = True
            return _java_date(arg, when)
        if namespace == "firehose" and arg == "error-output-type":
            if error_output_type is None:
                raise ValueError("!{firehose:error-output-type} is only valid in an error prefix")
            return error_output_type
        if namespace == "firehose" and arg == "random-string":
            return uuid.uuid4().hex[:11]
        raise ValueError(f"unsupported Firehose prefix expression {m.group(0)!r}")

    rendered = _EXPRESSION.sub(substitute, template)
    if not has_timestamp:
        if rendered and not rendered.endswith("/"):
            rendered += "/"
        rendered += when.strftime(settings.PARTITION_FMT) + "/"
    return rendered


def object_name(stream: str, version: str, when: datetime) -> str:
    """Firehose's object name: <stream>-<version>-YYYY-MM-DD-HH-MM-SS-<random>."""
    return f"{stream}-{version}-{when:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"


def lambda_arn(destination: dict[str, Any]) -> str | None:
    """The LambdaArn of an enabled Lambda processor on ``destination``, else None."""
    config = destination.get("ProcessingConfiguration") or {}
    if not config.get("Enabled"):
        return None
    for processor in config.get("Processors") or []:
        if processor.get("Type") != "Lambda":
            continue
        for param in processor.get("Parameters") or []:
            if param.get("ParameterName") == "LambdaArn":
                return param.get("ParameterValue")
    return None


# --- invoking the processor ----------------------------------------------------------------------


@dataclass
class Outcome:
    record_id: str
    result: str  # Ok | Dropped | ProcessingFailed
    data: bytes = b""
    error_code: str | None = None
    error_message: str | None = None


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
    return {
        "invocationId": str(uuid.uuid4()),
        "deliveryStreamArn": stream_arn,
        "region": region,
        "records": [
            {
                "recordId": f"{arrival_ms}{i:06d}{uuid.uuid4().hex[:12]}",
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
        if result == "Ok":
            try:
                data = base64.b64decode(rec.get("data") or "", validate=True)
            except (binascii.Error, TypeError, ValueError) as exc:
                raise InvocationError(ERR_INVALID, f"record {rid}: data is not base64") from exc
        outcomes.append(Outcome(rid, result, data))
    return outcomes


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


def invoke(arn: str, event: dict[str, Any]) -> list[Outcome]:
    """Run the processor on ``event``; raise InvocationError if it fails as a whole."""
    path = processor_path()
    try:
        module = load_processor(path)
    except Exception as exc:  # noqa: BLE001 - an unloadable function fails the delivery
        raise InvocationError(ERR_FUNCTION, f"cannot load {path}: {exc!r}") from exc
    try:
        response, reasons = _call(module, arn, event)
    except Exception as exc:  # noqa: BLE001 - AWS reports any handler error as FunctionError
        raise InvocationError(ERR_FUNCTION, f"{type(exc).__name__}: {exc}") from exc
    outcomes = check_response(event, response)
    for o in outcomes:
        if o.result == "ProcessingFailed":
            o.error_code = ERR_STATUS
            o.error_message = reasons.get(o.record_id, GENERIC_FAILED_REASON)
    return outcomes


# --- delivery ------------------------------------------------------------------------------------


def error_record(
    raw: bytes, outcome: Outcome, arrival_ms: int, ending_ms: int, arn: str
) -> dict[str, Any]:
    """AWS's processing-failed error record for one input record."""
    return {
        "attemptsMade": 1,
        "arrivalTimestamp": arrival_ms,
        "errorCode": outcome.error_code or ERR_STATUS,
        "errorMessage": outcome.error_message or GENERIC_FAILED_REASON,
        "attemptEndingTimestamp": ending_ms,
        "rawData": base64.b64encode(raw).decode("ascii"),
        "lambdaArn": arn,
    }


def deliver(
    backend: FirehoseBackend,
    stream: str,
    version: str,
    destination: dict[str, Any],
    records: list[dict[str, bytes]],
    arn: str,
) -> list[dict[str, str]]:
    """One processed delivery: Ok data to the prefix, failures to the error prefix."""
    arrival = utcnow().replace(tzinfo=UTC)
    arrival_ms = int(arrival.timestamp() * 1000)
    # Key from the arrival time (moto's own key format), not from when the processor finished.
    landing_key = backend._format_s3_object_path(stream, version, destination.get("Prefix", ""))
    event = build_event(
        backend.delivery_streams[stream].delivery_stream_arn,
        backend.region_name,
        records,
        arrival_ms,
    )

    invocation_failed = False
    try:
        outcomes = invoke(arn, event)
    except InvocationError as exc:
        log.warning("processor failed for %d record(s) of %s: %s", len(records), stream, exc)
        invocation_failed = True
        outcomes = [
            Outcome(r["recordId"], "ProcessingFailed", error_code=exc.code, error_message=str(exc))
            for r in event["records"]
        ]
    ending_ms = int(time.time() * 1000)

    s3 = s3_backends[backend.account_id][backend.partition]
    bucket = destination["BucketARN"].split(":")[-1]
    ok_data = b"".join(o.data for o in outcomes if o.result == "Ok")
    if any(o.result == "Ok" for o in outcomes):
        s3.put_object(bucket, landing_key, ok_data)
    failed = [
        error_record(raw["Data"], o, arrival_ms, ending_ms, arn)
        for raw, o in zip(records, outcomes, strict=True)
        if o.result == "ProcessingFailed"
    ]
    if failed:
        template = destination.get("ErrorOutputPrefix") or "!{firehose:error-output-type}/"
        prefix = render_prefix(template, when=arrival, error_output_type=PROCESSING_FAILED)
        body = "\n".join(json.dumps(f, separators=(",", ":")) for f in failed) + "\n"
        s3.put_object(bucket, prefix + object_name(stream, version, arrival), body.encode())
    STATS.add(stream, outcomes, invocation_failed)
    return [{"RecordId": o.record_id} for o in outcomes]


_installed = False


def install() -> None:
    """Wrap FirehoseBackend.put_s3_records (idempotent)."""
    global _installed
    if _installed:
        return
    original = FirehoseBackend.put_s3_records

    def put_s3_records(
        self: FirehoseBackend,
        delivery_stream_name: str,
        version_id: str,
        s3_destination: dict[str, Any],
        records: list[dict[str, bytes]],
    ) -> list[dict[str, str]]:
        arn = lambda_arn(s3_destination)
        if arn is None:
            return original(self, delivery_stream_name, version_id, s3_destination, records)
        return deliver(self, delivery_stream_name, version_id, s3_destination, records, arn)

    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign]
    _installed = True
