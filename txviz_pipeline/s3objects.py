"""Listing the objects under an S3 prefix (the one ListObjectsV2 loop txviz has), and reading
a list of them a few at a time.

pyarrow's S3FileSystem writes zero-byte ``dir/`` markers; they are not data, so every listing
here skips keys ending in ``/``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, NamedTuple


class S3Object(NamedTuple):
    key: str
    size: int
    last_modified: datetime
    etag: str = ""  # changes whenever the object is written again


def iter_objects(s3: Any, bucket: str, prefix: str) -> Iterator[S3Object]:
    """Every object under ``prefix`` in key order, directory markers skipped."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                yield S3Object(obj["Key"], obj["Size"], obj["LastModified"], obj.get("ETag", ""))


def iter_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """The keys of ``iter_objects``."""
    return (obj.key for obj in iter_objects(s3, bucket, prefix))


def read_objects(
    s3: Any, bucket: str, keys: Iterable[str], *, threads: int = 8
) -> Iterator[tuple[str, bytes]]:
    """Each key of ``keys`` with its object's body, in order, fetched on ``threads`` threads.

    Objects are GET one round trip each, so fetching a few at once hides the latency; boto3
    clients are thread-safe. At most ``2 * threads`` bodies are fetched ahead of the consumer,
    so memory stays bounded whatever the number of keys, and a consumer that stops early (or a
    GET that fails) waits for those only.
    """

    def fetch(key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    ahead: deque[tuple[str, Future[bytes]]] = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3get") as pool:
        for key in keys:
            if len(ahead) == 2 * threads:
                done, body = ahead.popleft()
                yield done, body.result()
            ahead.append((key, pool.submit(fetch, key)))
        while ahead:
            done, body = ahead.popleft()
            yield done, body.result()
