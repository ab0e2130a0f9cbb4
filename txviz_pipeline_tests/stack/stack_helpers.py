"""Small helpers for tests that talk to an embedded stack over HTTP."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.stack.control import STATS_PATH, StackInfo


def objects(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` with its body."""
    return {
        key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in iter_keys(s3, bucket, prefix)
    }


def empty_bucket(s3: Any, bucket: str) -> None:
    for key in objects(s3, bucket, ""):
        s3.delete_object(Bucket=bucket, Key=key)


def processor_stats(stack: StackInfo) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(f"{stack.endpoint_url}{STATS_PATH}", timeout=10) as resp:
        return json.loads(resp.read())


def error_lines(body: bytes) -> list[dict[str, Any]]:
    """The error records of one error object: JSON lines, each ending in a newline."""
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.decode().splitlines()]
