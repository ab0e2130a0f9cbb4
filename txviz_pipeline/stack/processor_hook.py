"""Firehose data transformation for the embedded stack: runs the processor Lambda inside moto.

moto 5.2.5 stores a delivery stream's ProcessingConfiguration but never invokes the processor, and
it cannot run Lambda code without Docker. Every PutRecord/PutRecordBatch to an S3 destination ends
in ``FirehoseBackend.put_s3_records``; :func:`install` wraps that one method so that, when the
destination has an enabled Lambda processor, the delivery behaves like AWS's:

* the processor's ``handler`` gets AWS's transformation event (base64 records with recordId and
  approximateArrivalTimestamp) and its response is checked against AWS's contract, both in
  :mod:`txviz_pipeline.stack.lambda_runtime`; the stack server runs the processor in a process
  of its own (:mod:`txviz_pipeline.stack.processor_process`, given to :func:`install`);
* ``Ok`` records' decoded data is concatenated into one object per rendered Prefix: with dynamic
  partitioning enabled, ``!{partitionKeyFromLambda:KEY}`` takes each record's
  ``metadata.partitionKeys`` (txviz's processor routes by ``zone``: ``landing/`` or
  ``quarantine/``); a record without a key its prefix needs fails partitioning and is written
  under the ErrorOutputPrefix with ``partitioning-failed``, its processed data as rawData;
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
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import utcnow
from moto.firehose.models import FirehoseBackend
from moto.s3.models import s3_backends

from txviz_pipeline import settings
from txviz_pipeline.stack.lambda_runtime import (
    ERR_STATUS,
    GENERIC_FAILED_REASON,
    InvocationError,
    Outcome,
    build_event,
    invoke,
)

log = logging.getLogger(__name__)

PROCESSING_FAILED = "processing-failed"
PARTITIONING_FAILED = "partitioning-failed"
# The embedded stack's error code for a record whose partition key is missing.
ERR_PARTITION_KEY = "DynamicPartitioning.PartitionKeyMissing"


# --- statistics ----------------------------------------------------------------------------------


@dataclass
class StreamStats:
    deliveries: int = 0
    records_in: int = 0
    ok: int = 0
    processing_failed: int = 0
    dropped: int = 0
    # Ok records with no partition key for the prefix (written under the error prefix).
    partitioning_failed: int = 0
    # Deliveries whose handler raised or broke the response contract (all records failed).
    invocation_failures: int = 0


@dataclass
class ProcessorStats:
    """Per-stream counters since start; records_in = ok + processing_failed + dropped.

    ``partitioning_failed`` counts the Ok records that then failed partitioning.
    """

    streams: dict[str, StreamStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(
        self,
        stream: str,
        outcomes: list[Outcome],
        invocation_failed: bool,
        partitioning_failed: int = 0,
    ) -> None:
        with self._lock:
            s = self.streams.setdefault(stream, StreamStats())
            s.deliveries += 1
            s.records_in += len(outcomes)
            s.ok += sum(o.result == "Ok" for o in outcomes)
            s.processing_failed += sum(o.result == "ProcessingFailed" for o in outcomes)
            s.dropped += sum(o.result == "Dropped" for o in outcomes)
            s.partitioning_failed += partitioning_failed
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


class PartitioningError(ValueError):
    """A record has no value for a ``!{partitionKeyFromLambda:KEY}`` of the prefix."""


def render_prefix(
    template: str,
    *,
    when: datetime,
    error_output_type: str | None = None,
    partition_keys: dict[str, str] | None = None,
) -> str:
    """Evaluate Firehose's prefix expressions; without a timestamp expression append YYYY/MM/dd/HH/.

    Supports ``!{timestamp:<java pattern>}``, ``!{firehose:error-output-type}``,
    ``!{firehose:random-string}`` and, with ``partition_keys`` (dynamic partitioning),
    ``!{partitionKeyFromLambda:KEY}``; a key the record lacks raises PartitioningError, any
    other expression ValueError, as on AWS.
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
        if namespace == "partitionKeyFromLambda" and partition_keys is not None:
            value = partition_keys.get(arg)
            if not value:
                raise PartitioningError(f"the processor returned no partition key {arg!r}")
            return value
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


def dynamic_partitioning(destination: dict[str, Any]) -> bool:
    return bool((destination.get("DynamicPartitioningConfiguration") or {}).get("Enabled"))


def partition_ok_records(
    outcomes: list[Outcome], template: str, when: datetime, dynamic: bool
) -> tuple[dict[str, list[Outcome]], list[Outcome]]:
    """Ok records grouped by rendered prefix (in order), and those that failed partitioning."""
    by_prefix: dict[str, list[Outcome]] = {}
    failed: list[Outcome] = []
    # A delivery's records share one arrival time, so records with the same keys share a
    # prefix: render it once per distinct keys (rendering per record was 7 % of the server's
    # CPU). A random string is drawn per record, so such a template is rendered every time.
    cache: dict[tuple[tuple[str, str], ...], str | PartitioningError] = {}
    cacheable = "random-string" not in template
    for o in outcomes:
        if o.result != "Ok":
            continue
        keys = tuple(o.partition_keys.items()) if dynamic else ()
        prefix = cache.get(keys) if cacheable else None
        if prefix is None:
            try:
                prefix = render_prefix(
                    template, when=when, partition_keys=o.partition_keys if dynamic else None
                )
            except PartitioningError as exc:
                prefix = exc
            if cacheable:
                cache[keys] = prefix
        if isinstance(prefix, PartitioningError):
            o.error_code, o.error_message = ERR_PARTITION_KEY, str(prefix)
            failed.append(o)
            continue
        by_prefix.setdefault(prefix, []).append(o)
    return by_prefix, failed


def deliver(
    backend: FirehoseBackend,
    stream: str,
    version: str,
    destination: dict[str, Any],
    records: list[dict[str, bytes]],
    arn: str,
) -> list[dict[str, str]]:
    """One processed delivery: Ok data to its prefix(es), failures to the error prefix."""
    # Keys from the arrival time, not from when the processor finished.
    arrival = utcnow().replace(tzinfo=UTC)
    arrival_ms = int(arrival.timestamp() * 1000)
    event = build_event(
        backend.delivery_streams[stream].delivery_stream_arn,
        backend.region_name,
        records,
        arrival_ms,
    )

    invocation_failed = False
    try:
        outcomes = _invoke(arn, event)
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
    by_prefix, unpartitioned = partition_ok_records(
        outcomes, destination.get("Prefix", ""), arrival, dynamic_partitioning(destination)
    )
    for prefix, ok in by_prefix.items():
        body = b"".join(o.data for o in ok)
        s3.put_object(bucket, prefix + object_name(stream, version, arrival), body)
    failed = [
        error_record(raw["Data"], o, arrival_ms, ending_ms, arn)
        for raw, o in zip(records, outcomes, strict=True)
        if o.result == "ProcessingFailed"
    ]
    errors_template = destination.get("ErrorOutputPrefix") or "!{firehose:error-output-type}/"
    for error_type, lines in (
        (PROCESSING_FAILED, failed),
        # Partitioning runs after the processor: the record it could not place is written as the
        # processor returned it (for txviz's processor, a landing or quarantine line).
        (
            PARTITIONING_FAILED,
            [error_record(o.data, o, arrival_ms, ending_ms, arn) for o in unpartitioned],
        ),
    ):
        if lines:
            prefix = render_prefix(errors_template, when=arrival, error_output_type=error_type)
            body = "\n".join(json.dumps(f, separators=(",", ":")) for f in lines) + "\n"
            s3.put_object(bucket, prefix + object_name(stream, version, arrival), body.encode())
    STATS.add(stream, outcomes, invocation_failed, len(unpartitioned))
    return [{"RecordId": o.record_id} for o in outcomes]


_installed = False
# What runs the processor on a delivery's event: in this process unless install() is given one.
_invoke: Callable[[str, dict[str, Any]], list[Outcome]] = invoke


def install(invoker: Callable[[str, dict[str, Any]], list[Outcome]] | None = None) -> None:
    """Wrap FirehoseBackend.put_s3_records (idempotent); ``invoker`` runs the processor (default:
    :func:`lambda_runtime.invoke` in this process)."""
    global _installed, _invoke
    if invoker is not None:
        _invoke = invoker
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
