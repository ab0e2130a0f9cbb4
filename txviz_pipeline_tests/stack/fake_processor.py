"""A tiny Firehose processor with lambda/handler.py's shape, for the embedded-stack tests.

Records containing "bad" fail with a reason, a repeat of an earlier payload in the same event is
Dropped, every other record comes back upper-cased and Ok, routed by the ``zone`` partition key:
``quarantine`` for records containing "quar", none at all for "nokey" (a partitioning failure),
``landing`` for the rest. Markers in a payload change the whole
invocation: "RAISE" makes it raise, "WRONGID" answers with a recordId that was not in the event.
"""

import base64
import os
from dataclasses import dataclass


@dataclass
class Result:
    record_id: str
    result: str
    data: str
    reason: str | None = None
    zone: str | None = None

    def to_firehose(self):
        out = {"recordId": self.record_id, "result": self.result, "data": self.data}
        if self.zone:
            out["metadata"] = {"partitionKeys": {"zone": self.zone}}
        return out


def card_token_key():
    # The stack passes the key to the server process; fail like the real processor without it.
    key = os.environ.get("TXVIZ_CARD_TOKEN_KEY", "")
    if len(key) < 16:
        raise RuntimeError("TXVIZ_CARD_TOKEN_KEY missing in the server process")
    return key.encode()


def process_records(records, key):
    payloads = [base64.b64decode(r["data"]) for r in records]
    if any(b"RAISE" in p for p in payloads):
        raise RuntimeError("processor blew up on purpose")
    seen = set()
    results = []
    for record, data in zip(records, payloads, strict=True):
        rid = record["recordId"]
        if b"bad" in data:
            results.append(Result(rid, "ProcessingFailed", record["data"], f"bad record: {data!r}"))
        elif data in seen:
            results.append(Result(rid, "Dropped", record["data"], "duplicate"))
        else:
            seen.add(data)
            zone = "quarantine" if b"quar" in data else None if b"nokey" in data else "landing"
            results.append(Result(rid, "Ok", base64.b64encode(data.upper()).decode(), None, zone))
    if any(b"WRONGID" in p for p in payloads):
        results[0].record_id = "not-an-input-id"
    return results


def handler(event, context):
    results = process_records(event["records"], card_token_key())
    return {"records": [r.to_firehose() for r in results]}
