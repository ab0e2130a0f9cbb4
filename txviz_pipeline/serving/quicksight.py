"""Refresh the QuickSight SPICE dataset on AWS: start an ingestion and wait for its outcome.

QuickSight has no waiter for ingestions, so this polls DescribeIngestion. The sleep and the clock
are parameters so callers (and tests) decide how time passes.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

RefreshMode = Literal["FULL_REFRESH", "INCREMENTAL_REFRESH"]
REFRESH_MODES: tuple[str, ...] = ("FULL_REFRESH", "INCREMENTAL_REFRESH")
TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
DEFAULT_TIMEOUT_S = 30 * 60.0


@dataclass(frozen=True)
class IngestionResult:
    """The outcome of one SPICE ingestion, as DescribeIngestion last reported it."""

    ingestion_id: str
    status: str
    rows_ingested: int | None
    rows_dropped: int | None
    # QuickSight's IngestionTimeInSeconds, or the time this call waited if it gave none.
    duration_s: float
    error: str | None


class QuickSightRefreshError(RuntimeError):
    """A SPICE refresh that did not complete; the message says why and what to do."""

    def __init__(
        self,
        message: str,
        *,
        ingestion_id: str | None = None,
        status: str | None = None,
        error_type: str | None = None,
    ):
        super().__init__(message)
        self.ingestion_id = ingestion_id
        self.status = status
        self.error_type = error_type


class RefreshLimitExceededError(QuickSightRefreshError):
    """QuickSight refused a new ingestion: the manual refresh cap or concurrency limit is hit."""


class RefreshTimeoutError(QuickSightRefreshError):
    """The ingestion did not reach a final status within the timeout (it may still finish)."""


def new_ingestion_id() -> str:
    return f"txviz-{uuid.uuid4().hex}"


def refresh_spice_dataset(
    client: Any,
    account_id: str,
    dataset_id: str,
    *,
    mode: RefreshMode = "FULL_REFRESH",
    poll_s: float = 5.0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    ingestion_id: str | None = None,
) -> IngestionResult:
    """Start a SPICE ingestion and poll it until COMPLETED; raise QuickSightRefreshError if not."""
    if mode not in REFRESH_MODES:
        raise ValueError(f"mode must be one of {', '.join(REFRESH_MODES)}, not {mode!r}")
    if poll_s <= 0 or timeout_s <= 0:
        raise ValueError("poll_s and timeout_s must be positive")
    ingestion_id = ingestion_id or new_ingestion_id()
    started = clock()
    _create_ingestion(client, account_id, dataset_id, ingestion_id, mode)

    while True:
        ingestion = client.describe_ingestion(
            AwsAccountId=account_id, DataSetId=dataset_id, IngestionId=ingestion_id
        )["Ingestion"]
        status = ingestion["IngestionStatus"]
        elapsed = clock() - started
        if status in TERMINAL_STATUSES:
            return _finish(dataset_id, ingestion_id, ingestion, elapsed)
        if elapsed >= timeout_s:
            raise RefreshTimeoutError(
                f"SPICE ingestion {ingestion_id} of dataset {dataset_id} is still {status} after "
                f"{elapsed:.0f} s (timeout {timeout_s:.0f} s); it keeps running in QuickSight, "
                "check it with describe-ingestion or cancel it with cancel-ingestion",
                ingestion_id=ingestion_id,
                status=status,
            )
        log.info("SPICE ingestion %s is %s after %.0f s", ingestion_id, status, elapsed)
        sleep(poll_s)


def _create_ingestion(
    client: Any, account_id: str, dataset_id: str, ingestion_id: str, mode: str
) -> None:
    try:
        client.create_ingestion(
            AwsAccountId=account_id,
            DataSetId=dataset_id,
            IngestionId=ingestion_id,
            IngestionType=mode,
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code == "ResourceExistsException":
            # A retried run that passes the same ingestion id resumes waiting on that ingestion.
            log.info("SPICE ingestion %s already exists; waiting on it", ingestion_id)
            return
        if code == "LimitExceededException":
            raise RefreshLimitExceededError(
                f"QuickSight refused a new {mode} of dataset {dataset_id}: the manual refresh "
                "cap (32 per 24 h on Enterprise, 8 on Standard) or the limit on concurrent "
                "ingestions is reached; ingestions started outside txviz count too, so lower "
                "TXVIZ_SPICE_DAILY_INGESTION_BUDGET to leave them room. Retry later. "
                f"QuickSight said: {message}",
                ingestion_id=ingestion_id,
                error_type=code,
            ) from exc
        raise QuickSightRefreshError(
            f"could not start a {mode} of dataset {dataset_id}: {code}: {message}",
            ingestion_id=ingestion_id,
            error_type=code,
        ) from exc
    log.info("started SPICE %s %s of dataset %s", mode, ingestion_id, dataset_id)


def _finish(
    dataset_id: str, ingestion_id: str, ingestion: dict[str, Any], elapsed: float
) -> IngestionResult:
    status = ingestion["IngestionStatus"]
    rows = ingestion.get("RowInfo") or {}
    error_info = ingestion.get("ErrorInfo") or {}
    error_type = error_info.get("Type")
    error = f"{error_type}: {error_info.get('Message', '')}" if error_info else None
    duration = ingestion.get("IngestionTimeInSeconds")
    result = IngestionResult(
        ingestion_id=ingestion_id,
        status=status,
        rows_ingested=rows.get("RowsIngested"),
        rows_dropped=rows.get("RowsDropped"),
        duration_s=float(duration) if duration is not None else elapsed,
        error=error,
    )
    if status == "FAILED":
        raise QuickSightRefreshError(
            f"SPICE ingestion {ingestion_id} of dataset {dataset_id} FAILED: "
            f"{error or 'QuickSight gave no ErrorInfo'}",
            ingestion_id=ingestion_id,
            status=status,
            error_type=error_type,
        )
    if status == "CANCELLED":
        raise QuickSightRefreshError(
            f"SPICE ingestion {ingestion_id} of dataset {dataset_id} was CANCELLED before it "
            "finished; the dataset still holds the previous data",
            ingestion_id=ingestion_id,
            status=status,
            error_type=error_type,
        )
    log.info(
        "SPICE ingestion %s COMPLETED: %s rows ingested, %s dropped",
        ingestion_id,
        result.rows_ingested,
        result.rows_dropped,
    )
    return result
