"""Which fraud model the processor scores with: the published one in S3, else the bundled one.

At its first invocation a container loads the model bundled in the zip (``fraud_model.json``,
trained by ``txviz train-model``; ``TXVIZ_MODEL_FILE`` names another file) and, when
``TXVIZ_MODEL_BUCKET`` is set, the model that ``models/fraud/current.json`` there names. After
that it reads the pointer again at most once a minute and switches when it names another
version, so a published model reaches long-lived containers (and the embedded stack's
processor) within a minute. A failed read keeps
the model it has and is logged: scoring never stops because S3 did not answer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from treemodel import TreeModel

logger = logging.getLogger("txviz.processor")

BUNDLED_MODEL = Path(__file__).with_name("fraud_model.json")
MODEL_BUCKET_ENV = "TXVIZ_MODEL_BUCKET"
# A model document on local disk used in place of the bundled one (benchmarks, local trials).
MODEL_FILE_ENV = "TXVIZ_MODEL_FILE"
# Seconds between reads of the pointer (default REFRESH_SECONDS).
REFRESH_ENV = "TXVIZ_MODEL_REFRESH_SECONDS"
# The pointer the fraud_model pipeline publishes (txviz_pipeline.settings.MODEL_CURRENT_KEY).
CURRENT_KEY = "models/fraud/current.json"
REFRESH_SECONDS = 60.0


class ModelSource:
    """The current model, re-checked in S3 at most every ``refresh_seconds``."""

    def __init__(
        self,
        bucket: str | None,
        read: Callable[[str, str], bytes] | None = None,
        bundled: Path = BUNDLED_MODEL,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.bucket = bucket
        self._read = read or _s3_reader()
        self._bundled = bundled
        self._refresh = refresh_seconds
        self._clock = clock
        self._model: TreeModel | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()

    def model(self) -> TreeModel:
        with self._lock:
            if self._model is None:
                self._model = TreeModel(json.loads(_read_file(self._bundled)))
            if self.bucket and self._clock() >= self._next_check:
                self._check_s3()
                self._next_check = self._clock() + self._refresh
            return self._model

    def _check_s3(self) -> None:
        try:
            pointer = json.loads(self._read(self.bucket, CURRENT_KEY))
        except FileNotFoundError:
            return  # nothing published yet: the bundled model stays
        except Exception as exc:  # noqa: BLE001 - keep scoring with the model we have
            _log_failure(self.bucket, CURRENT_KEY, exc)
            return
        version = pointer.get("version") if isinstance(pointer, dict) else None
        if not isinstance(version, str) or version == self._model.version:
            return
        try:
            model = TreeModel(json.loads(self._read(self.bucket, str(pointer["key"]))))
        except Exception as exc:  # noqa: BLE001
            _log_failure(self.bucket, str(pointer.get("key")), exc)
            return
        logger.info(
            json.dumps(
                {"event": "model_loaded", "version": model.version, "previous": self._model.version}
            )
        )
        self._model = model


def _read_file(path: Path) -> bytes:
    """A file next to this module, also when the modules are imported from the zip itself."""
    try:
        return __loader__.get_data(str(path))  # zipimport reads from inside the archive
    except OSError:
        return path.read_bytes()


def _log_failure(bucket: str | None, key: str, exc: Exception) -> None:
    logger.warning(
        json.dumps(
            {
                "event": "model_read_failed",
                "location": f"s3://{bucket}/{key}",
                "error": f"{type(exc).__name__}: {str(exc)[:200]}",
            }
        )
    )


def _s3_reader() -> Callable[[str, str], bytes]:
    """Reads an object's bytes with boto3 (imported on first use); FileNotFoundError if absent."""
    client: list[Any] = []

    def read(bucket: str, key: str) -> bytes:
        import boto3  # noqa: PLC0415 - only when a bucket is configured
        from botocore.exceptions import ClientError  # noqa: PLC0415

        if not client:
            client.append(boto3.client("s3"))
        try:
            return client[0].get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(key) from None
            raise

    return read


def from_env() -> ModelSource:
    """From TXVIZ_MODEL_BUCKET (published models), TXVIZ_MODEL_FILE (the fallback model) and
    TXVIZ_MODEL_REFRESH_SECONDS."""
    local = os.environ.get(MODEL_FILE_ENV)
    return ModelSource(
        os.environ.get(MODEL_BUCKET_ENV) or None,
        bundled=Path(local) if local else BUNDLED_MODEL,
        refresh_seconds=float(os.environ.get(REFRESH_ENV) or REFRESH_SECONDS),
    )
