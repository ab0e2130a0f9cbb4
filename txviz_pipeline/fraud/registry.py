"""Where fraud models live: versions and the current pointer in S3, the bundled default in lambda/.

``models/fraud/versions/<version>.json`` holds each exported model (lambda/treemodel.py's
document); ``models/fraud/current.json`` names the one the processor scores with. Publishing
writes the pointer last, so the processor never sees a pointer to a missing model. Until a
model is published, the processor scores with the model bundled in its zip
(lambda/fraud_model.json), trained by ``txviz train-model``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from txviz_pipeline.fraud.processor_modules import LAMBDA_DIR
from txviz_pipeline.settings import MODEL_CURRENT_KEY, MODEL_VERSIONS_PREFIX

BUNDLED_MODEL = LAMBDA_DIR / "fraud_model.json"


def version_key(version: str) -> str:
    return f"{MODEL_VERSIONS_PREFIX}{version}.json"


def bundled_document() -> dict[str, Any]:
    """The model the processor ships with."""
    return json.loads(BUNDLED_MODEL.read_text(encoding="utf-8"))


def put_version(s3, bucket: str, document: dict[str, Any]) -> str:
    """Store a model document under its version; returns the key."""
    key = version_key(document["version"])
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return key


def get_version(s3, bucket: str, version: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=bucket, Key=version_key(version))["Body"].read()
    return json.loads(body)


def current_pointer(s3, bucket: str) -> dict[str, Any] | None:
    """The published pointer ({version, key, published_at}), or None before any publish."""
    try:
        body = s3.get_object(Bucket=bucket, Key=MODEL_CURRENT_KEY)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise
    return json.loads(body)


def current_document(s3, bucket: str) -> tuple[dict[str, Any], str]:
    """The model the processor scores with now, and where it comes from (an S3 key or the
    bundled file)."""
    pointer = current_pointer(s3, bucket)
    if pointer is None:
        return bundled_document(), str(BUNDLED_MODEL.relative_to(LAMBDA_DIR.parent))
    body = s3.get_object(Bucket=bucket, Key=pointer["key"])["Body"].read()
    return json.loads(body), pointer["key"]


def publish(s3, bucket: str, version: str, now: datetime | None = None) -> dict[str, Any]:
    """Point the processor at a stored version; returns the pointer written."""
    key = version_key(version)
    s3.head_object(Bucket=bucket, Key=key)  # never point at a model that is not there
    pointer = {
        "version": version,
        "key": key,
        "published_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    s3.put_object(
        Bucket=bucket,
        Key=MODEL_CURRENT_KEY,
        Body=json.dumps(pointer).encode("utf-8"),
        ContentType="application/json",
    )
    return pointer
