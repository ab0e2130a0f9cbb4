"""What landed in one hourly partition, and the facts the landing checks judge.

Reads the delivered objects (``landing/<hour>/``) that compaction has not merged yet, every
quarantine object (``quarantine/<hour>/``, the redacted records the processor refused) and every
processing-failed object (``errors/processing-failed/<hour>/``, records of failed processor
invocations) of the partition, and reports counts; the Dagster checks turn the report into
pass/fail with a severity.

A landing run checks an hour and then compacts it, so the objects compaction has merged were
checked by an earlier run: reading only the rest keeps each run's work and memory to its new
objects, however full the hour. Repeats are found against the hour's trans_num digests that
compaction keeps (8 bytes a row), not against the strings. The hour's totals add compaction's
running counts to this run's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import orjson

from txviz_pipeline import s3objects
from txviz_pipeline.compaction.hourstate import Counts, HourState, contains, digests
from txviz_pipeline.schema import landing_record_problem
from txviz_pipeline.settings import LANDING_PREFIX, PROCESSING_FAILED_PREFIX, QUARANTINE_PREFIX

MAX_EXAMPLES = 5
DEFAULT_MAX_BAD_RECORD_RATE = 0.05


@dataclass
class PartitionReport:
    """This run's new landing objects, the hour's error objects, and the hour's totals."""

    partition: str
    objects: int = 0  # landing objects read by this run (not merged by compaction yet)
    objects_compacted: int = 0  # landing objects compaction had merged, so not read again
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
    # What compaction counted in the objects it merged: lines, rows, bad lines, duplicates.
    compacted: Counts = Counts()

    @property
    def hour_records(self) -> int:
        """Records of the hour that parse and conform, repeats included."""
        return self.records + self.compacted.rows + self.compacted.duplicates_removed

    @property
    def bad_records(self) -> int:
        """The hour's records refused by the processor, failed, or unreadable in landing."""
        unreadable = self.unparseable + self.nonconforming + self.compacted.bad_lines
        return unreadable + self.quarantined + self.processing_failed

    @property
    def bad_record_rate(self) -> float:
        total = self.hour_records + self.bad_records
        return self.bad_records / total if total else 0.0

    def example(self, text: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)


def iter_objects(s3, bucket: str, prefix: str):
    """(key, last_modified, body bytes) of every object under ``prefix``, markers skipped."""
    for obj in s3objects.iter_objects(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=obj.key)["Body"].read()
        yield obj.key, obj.last_modified, body


def read_partition(
    s3,
    bucket: str,
    partition: str,
    compacted: HourState | None = None,
    compacted_trans_nums: np.ndarray | None = None,
) -> PartitionReport:
    """Tally one hourly partition of the landing zone: the landing objects ``compacted`` (the
    hour's compaction manifest) has not merged, against its sorted ``compacted_trans_nums``."""
    compacted = compacted or HourState(partition)
    report = PartitionReport(partition=partition, compacted=compacted.counts)
    new_trans_nums: list[str] = []
    for obj in s3objects.iter_objects(s3, bucket, f"{LANDING_PREFIX}{partition}/"):
        _track_newest(report, obj.last_modified)
        if compacted.merged(obj.key):
            report.objects_compacted += 1
            continue
        report.objects += 1
        key = obj.key
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
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
            new_trans_nums.append(record["trans_num"])
    report.duplicates = _repeats(digests(new_trans_nums), compacted_trans_nums)
    report.quarantined = _tally_refused(s3, bucket, report, QUARANTINE_PREFIX, "reason")
    report.processing_failed = _tally_refused(
        s3, bucket, report, PROCESSING_FAILED_PREFIX, "errorMessage"
    )
    return report


def _repeats(new: np.ndarray, earlier: np.ndarray | None) -> int:
    """Copies among ``new`` digests of one already in ``earlier`` (sorted) or earlier in ``new``."""
    if earlier is not None and len(earlier):
        seen = contains(earlier, new)
        again, new = int(seen.sum()), new[~seen]
    else:
        again = 0
    return again + len(new) - len(np.unique(new))


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
