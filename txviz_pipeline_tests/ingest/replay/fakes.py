"""Firehose clients with scripted faults, for replays in worker processes (moto never fails a
record). Module-level factories, so worker processes can unpickle them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from txviz_pipeline import aws
from txviz_pipeline.ingest.replay.plan import row_id_of
from txviz_pipeline.settings import Settings

# Which rows fail, by row_id: retried once then accepted / never accepted.
FLAKY_EVERY, FLAKY_AT = 7, 3
DEAD_EVERY, DEAD_AT = 97, 5


def is_flaky(row_id: int) -> bool:
    return row_id % FLAKY_EVERY == FLAKY_AT and not is_dead(row_id)


def is_dead(row_id: int) -> bool:
    return row_id % DEAD_EVERY == DEAD_AT


def _client_error(code: str, status: int, operation: str = "PutRecordBatch") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class FaultyFirehose:
    """Forwards accepted records to a real (moto) client and fails the scripted ones.

    The first call of each process raises ThrottlingException and the second
    ServiceUnavailable (whole-call errors); after that flaky rows fail their first attempt
    with a per-record ServiceUnavailableException and dead rows fail every attempt with
    InternalFailure.
    """

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0
        self.attempts: Counter[int] = Counter()

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict]) -> dict:  # noqa: N803
        self.calls += 1
        if self.calls == 1:
            raise _client_error("ThrottlingException", 400)
        if self.calls == 2:
            raise _client_error("ServiceUnavailable", 503)
        answers: list[dict | None] = []
        accepted = []
        for entry in Records:
            row_id = row_id_of(entry["Data"])
            assert row_id is not None
            self.attempts[row_id] += 1
            if is_dead(row_id):
                answers.append({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"})
            elif is_flaky(row_id) and self.attempts[row_id] == 1:
                answers.append(
                    {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "injected"}
                )
            else:
                answers.append(None)
                accepted.append(entry)
        if accepted:
            self.real.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=accepted)
        failed = sum(a is not None for a in answers)
        return {
            "FailedPutCount": failed,
            "Encrypted": False,
            "RequestResponses": [a or {"RecordId": "ok"} for a in answers],
        }


def faulty_firehose(settings: Settings) -> FaultyFirehose:
    return FaultyFirehose(aws.client("firehose", settings, max_attempts=1))


class MissingStream:
    def put_record_batch(self, **_: Any) -> dict:
        raise _client_error("ResourceNotFoundException", 400)


def missing_stream(settings: Settings) -> MissingStream:
    return MissingStream()
