"""The Firehose response: one Result per input record, in AWS's shape, within Lambda's 6 MB.

Every record comes back ``Ok`` with a partition key that routes it: ``{"zone": "landing"}``
for a transaction's landing line, ``{"zone": "quarantine"}`` for the redacted quarantine line
of a record the processor refused. A landing line can be longer than its input line, and a
quarantine line longer than a tiny input, so :func:`fit_response` shrinks the entries that do
not fit Lambda's 6 MB response to short quarantine lines (``response_limit``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

OK = "Ok"
DROPPED = "Dropped"
PROCESSING_FAILED = "ProcessingFailed"

# Firehose dynamic partitioning: the prefix is "!{partitionKeyFromLambda:zone}/...".
ZONE_KEY = "zone"
LANDING_ZONE = "landing"
QUARANTINE_ZONE = "quarantine"
LANDING_KEYS = {ZONE_KEY: LANDING_ZONE}
QUARANTINE_KEYS = {ZONE_KEY: QUARANTINE_ZONE}

# Lambda's synchronous payload limit ("6 MB") is 6,291,456 bytes each way; the budget leaves
# room for the {"records": [...]} envelope around the entries.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
RESPONSE_BUDGET_BYTES = LAMBDA_PAYLOAD_LIMIT - 64


@dataclass(frozen=True)
class Result:
    """The outcome for one input record; ``reason`` says why it did not land (None when it did).

    ``kept`` is the landing or quarantine record behind ``data`` (what a shorter quarantine
    line is made from when the response runs out of room); it never reaches Firehose.
    """

    record_id: str | None
    result: str
    data: str
    reason: str | None = None
    partition_keys: dict[str, str] = field(default_factory=dict)
    kept: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def zone(self) -> str | None:
        """``landing`` or ``quarantine`` for an Ok record, else None."""
        return self.partition_keys.get(ZONE_KEY) if self.result == OK else None

    def to_firehose(self) -> dict[str, Any]:
        """The response record in exactly AWS's shape (no extra keys)."""
        out: dict[str, Any] = {"recordId": self.record_id, "result": self.result, "data": self.data}
        if self.result == OK:
            out["metadata"] = {"partitionKeys": self.partition_keys}
        return out


# json.dumps of a response entry (the Lambda runtime's defaults) around its recordId and data;
# base64 data needs no escaping.
_FRAME = {
    result: len(json.dumps(Result("", result, "").to_firehose())) - len('""')
    for result in (DROPPED, PROCESSING_FAILED)
}
_FRAME[OK] = len(json.dumps(Result("", OK, "", None, {}).to_firehose())) - len('""')


def entry_size(res: Result) -> int:
    """Bytes this entry adds to the serialised response, with the ", " before the next one."""
    size = _FRAME[res.result] + len(json.dumps(res.record_id)) + len(res.data) + 2
    if res.result == OK and res.partition_keys:
        size += len(json.dumps(res.partition_keys)) - len("{}")
    return size


def fit_response(
    results: list[Result],
    originals: Sequence[str],
    twins: list[int | None],
    budget: int,
    shorten: Callable[[Result], Result],
) -> list[Result]:
    """Keep the response within ``budget``: entries that do not fit become short quarantine lines.

    ``shorten`` turns an Ok result into its short quarantine line (reason, row_id, trans_num,
    replay_id, card last four and token). When even the short lines of every record cannot fit
    (only a flood of tiny records can do that: a response entry carries more framing than an
    input entry), the rest fall back to ``ProcessingFailed`` with their input data
    (``originals``), which Firehose writes under the error prefix; a failed entry is never
    larger than its input entry, so that floor always fits. ``twins`` holds the index of the
    earlier record a Dropped one duplicates: a duplicate of a failed twin fails with it.
    """
    returned = [res.record_id is not None for res in results]
    full = [entry_size(r) if ok else 0 for r, ok in zip(results, returned, strict=True)]
    if sum(full) <= budget:
        return results
    short = [
        shorten(r) if ok and r.result == OK else r for r, ok in zip(results, returned, strict=True)
    ]
    failed = [
        Result(r.record_id, PROCESSING_FAILED, original, s.reason)
        for r, s, original in zip(results, short, originals, strict=True)
    ]
    short_sizes = [entry_size(r) if ok else 0 for r, ok in zip(short, returned, strict=True)]
    floor = short
    if sum(short_sizes) > budget:
        floor = failed
    floor_sizes = [entry_size(r) if ok else 0 for r, ok in zip(floor, returned, strict=True)]
    reserve = sum(floor_sizes)
    used = 0
    fitted: list[Result] = []
    for i, res in enumerate(results):
        reserve -= floor_sizes[i]
        twin = twins[i]
        if res.result == DROPPED and twin is not None and fitted[twin].result != OK:
            chosen = Result(res.record_id, PROCESSING_FAILED, originals[i], fitted[twin].reason)
        elif not returned[i]:
            chosen = res
        else:
            chosen = floor[i]
            for candidate in (res, short[i]):
                if used + entry_size(candidate) + reserve <= budget:
                    chosen = candidate
                    break
        if returned[i]:
            used += entry_size(chosen)
        fitted.append(chosen)
    return fitted
