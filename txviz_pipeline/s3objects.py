"""Listing the objects under an S3 prefix: the one ListObjectsV2 loop txviz has.

pyarrow's S3FileSystem writes zero-byte ``dir/`` markers; they are not data, so every listing
here skips keys ending in ``/``.
"""

from __future__ import annotations

from collections.abc import Iterator
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
