"""What landed in one hourly partition, and the facts the landing checks judge.

Reads every delivered object (``landing/<hour>/``), every quarantine object (``quarantine/<hour>/``,
the redacted records the processor refused) and every processing-failed object
(``errors/processing-failed/<hour>/``, records of failed processor invocations) of the partition
once and reports counts; the Dagster checks turn the report into pass/fail with a severity.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from txviz_pipeline import s3objects
from txviz_pipeline.schema import landing_record_problem
from txviz_pipeline.settings import LANDING_PREFIX, PROCESSING_FAILED_PREFIX, QUARANTINE_PREFIX

MAX_EXAMPLES = 5
DEFAULT_MAX_BAD_RECORD_RATE = 0.05


@dataclass
class PartitionReport:
    partition: str
    objects: int = 0
    error_objects: int = 0
    lines: int = 0
    records: int = 0  # lines that parse and conform
    unparseable: int = 0
    nonconforming: int = 0
    duplicates: int = 0  # extra copies of a trans_num already seen in the partition
    quarantined: int = 0  # records the processor refused (quarantine/)
    processing_failed: int = 0  # records of failed processor invocations
    failure_reasons: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    newest_object_at: datetime | None = None
    trans_nums: set[str] = field(default_factory=set, repr=False)

    @property
    def bad_records(self) -> int:
        return self.unparseable + self.nonconforming + self.quarantined + self.processing_failed

    @property
    def bad_record_rate(self) -> float:
        total = self.records + self.bad_records
        return self.bad_records / total if total else 0.0

    def example(self, text: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)


def iter_objects(s3, bucket: str, prefix: str):
    """(key, last_modified, body bytes) of every object under ``prefix``, markers skipped."""
    for obj in s3objects.iter_objects(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=obj.key)["Body"].read()
        yield obj.key, obj.last_modified, body


def read_partition(s3, bucket: str, partition: str) -> PartitionReport:
    """Read and tally one hourly partition of the landing zone."""
    report = PartitionReport(partition=partition)
    for key, modified, body in iter_objects(s3, bucket, f"{LANDING_PREFIX}{partition}/"):
        report.objects += 1
        _track_newest(report, modified)
        for line_no, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            report.lines += 1
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                report.unparseable += 1
                report.example(f"{key}:{line_no}: does not parse: {exc}")
                continue
            problem = landing_record_problem(record)
            if problem:
                report.nonconforming += 1
                report.example(f"{key}:{line_no}: {problem}")
                continue
            report.records += 1
            if record["trans_num"] in report.trans_nums:
                report.duplicates += 1
            else:
                report.trans_nums.add(record["trans_num"])
    report.quarantined = _tally_refused(s3, bucket, report, QUARANTINE_PREFIX, "reason")
    report.processing_failed = _tally_refused(
        s3, bucket, report, PROCESSING_FAILED_PREFIX, "errorMessage"
    )
    return report


def _tally_refused(s3, bucket: str, report: PartitionReport, prefix: str, field: str) -> int:
    """Count the quarantine or error lines of the partition under ``prefix``, by reason code."""
    count = 0
    for _key, modified, body in iter_objects(s3, bucket, f"{prefix}{report.partition}/"):
        report.error_objects += 1
        _track_newest(report, modified)
        for line in body.splitlines():
            if line.strip():
                count += 1
                report.failure_reasons[_reason_code(line, field)] += 1
    return count


def _reason_code(line: bytes, field: str) -> str:
    """The code (text before the first colon) of a quarantine or error line's reason."""
    try:
        reason = str(orjson.loads(line).get(field, "no reason given"))
    except (orjson.JSONDecodeError, AttributeError):
        reason = "unreadable error record"
    return reason.split(":")[0][:80]


def _track_newest(report: PartitionReport, modified: datetime) -> None:
    if report.newest_object_at is None or modified > report.newest_object_at:
        report.newest_object_at = modified
