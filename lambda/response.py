"""The Firehose response: one Result per input record, in AWS's shape, within Lambda's 6 MB.

A landing line can be longer than its input line, so a full 6 MB invocation of valid records
could otherwise overflow Lambda's 6 MB response; :func:`fit_response` turns the Ok records that
do not fit into ProcessingFailed (redelivered from the error prefix) instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

OK = "Ok"
DROPPED = "Dropped"
PROCESSING_FAILED = "ProcessingFailed"

# Lambda's synchronous payload limit ("6 MB") is 6,291,456 bytes each way; the budget leaves
# room for the {"records": [...]} envelope around the entries.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
RESPONSE_BUDGET_BYTES = LAMBDA_PAYLOAD_LIMIT - 64


@dataclass(frozen=True)
class Result:
    """The outcome for one input record; ``reason`` says why it is not Ok (None when Ok)."""

    record_id: str | None
    result: str
    data: str
    reason: str | None = None
    partition_keys: dict[str, str] = field(default_factory=dict)

    def to_firehose(self) -> dict[str, Any]:
        """The response record in exactly AWS's shape (no extra keys)."""
        out: dict[str, Any] = {"recordId": self.record_id, "result": self.result, "data": self.data}
        if self.result == OK:
            out["metadata"] = {"partitionKeys": self.partition_keys}
        return out


_SAMPLE_KEYS = {"event_year": "2019", "event_month": "01", "event_day": "01", "event_hour": "00"}
# json.dumps of a response entry (the Lambda runtime's defaults) around its recordId and data;
# base64 data needs no escaping and partition keys are fixed-width digits.
_ENTRY_FRAME = {
    result: len(json.dumps(Result("", result, "", None, _SAMPLE_KEYS).to_firehose())) - len('""')
    for result in (OK, DROPPED, PROCESSING_FAILED)
}


def entry_size(res: Result) -> int:
    """Bytes this entry adds to the serialised response, with the ", " before the next one."""
    return _ENTRY_FRAME[res.result] + len(json.dumps(res.record_id)) + len(res.data) + 2


def fit_response(
    results: list[Result], originals: list[str], twins: list[int | None], budget: int
) -> list[Result]:
    """Turn Ok records that would push the response past ``budget`` into ProcessingFailed.

    ``originals`` holds each record's input data, ``twins`` the index of the earlier record a
    Dropped one duplicates. A failed entry (original data, no metadata) is never larger than its
    input entry, so reserving every later record's failed size keeps the whole response within
    the input's own size. A Dropped record whose twin no longer fits fails with it.
    """
    failed_sizes = [
        0
        if res.record_id is None
        else entry_size(Result(res.record_id, PROCESSING_FAILED, original))
        for res, original in zip(results, originals, strict=True)
    ]
    if sum(entry_size(r) for r in results if r.record_id is not None) <= budget:
        return results
    reserve = sum(failed_sizes)
    used = 0
    fitted: list[Result] = []
    for i, res in enumerate(results):
        reserve -= failed_sizes[i]
        twin = twins[i]
        if res.result == OK and used + entry_size(res) + reserve > budget:
            res = Result(
                res.record_id,
                PROCESSING_FAILED,
                originals[i],
                f"response_limit: the batch's transformed records exceed {budget} bytes; "
                "this record was valid and can be delivered again",
            )
        elif res.result == DROPPED and twin is not None and fitted[twin].result != OK:
            res = Result(res.record_id, PROCESSING_FAILED, originals[i], fitted[twin].reason)
        if res.record_id is not None:
            used += entry_size(res)
        fitted.append(res)
    return fitted
