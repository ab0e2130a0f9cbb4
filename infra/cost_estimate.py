"""What txviz costs on AWS, from AWS's published list prices (us-east-1) and measured record sizes.

Run ``python infra/cost_estimate.py`` to print the README's cost tables. Every price names its
pricing page; every size or rate is either measured on this project (the comment says with what)
or an assumption stated beside it. Prices change: check the pages before budgeting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 1024**3
MIB = 1024**2
DAYS_PER_MONTH = 30

# --- Published prices, us-east-1 -----------------------------------------------------------
# https://aws.amazon.com/firehose/pricing/ : Direct PUT ingestion per GB, each record rounded up
# to the next 5 KB (first 500 TB a month); dynamic partitioning per GB processed and per 1,000
# objects delivered.
FIREHOSE_PER_GB = 0.029
FIREHOSE_RECORD_ROUNDING = 5 * 1024
PARTITIONING_PER_GB = 0.020
PARTITIONING_PER_1000_OBJECTS = 0.005
# https://aws.amazon.com/lambda/pricing/ : arm64 per GB-second, per million requests.
LAMBDA_ARM_PER_GB_S = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
# https://aws.amazon.com/dynamodb/pricing/on-demand/ : per million write / read request units.
# A transactional write costs 2 WRU per KB; a strongly consistent read 1 RRU per 4 KB.
DYNAMODB_PER_MILLION_WRU = 0.625
DYNAMODB_PER_MILLION_RRU = 0.125
# https://aws.amazon.com/s3/pricing/ : S3 Standard storage per GB-month, PUT and GET per 1,000.
S3_PER_GB_MONTH = 0.023
S3_PUT_PER_1000 = 0.005
S3_GET_PER_1000 = 0.0004
# https://aws.amazon.com/athena/pricing/ : per TB scanned (10 MB minimum per query).
ATHENA_PER_TB = 5.0
# https://aws.amazon.com/quicksight/pricing/ : Enterprise seats per month, each author bringing
# 10 GB of SPICE; SPICE beyond that per GB-month.
QUICKSIGHT_AUTHOR = 24.0
QUICKSIGHT_READER = 3.0
SPICE_INCLUDED_GB_PER_AUTHOR = 10
SPICE_PER_GB_MONTH = 0.38

# --- Measured on txviz ---------------------------------------------------------------------
# Generated Sparkov rows (txviz generate, 100k): NDJSON sent to Firehose, the processor's landing
# record (masked card, token, score, reasons), curated Parquet (zstd) per row.
INPUT_RECORD_BYTES = 512
LANDING_RECORD_BYTES = 680
PARQUET_BYTES_PER_ROW = 74
# bench/bench_processor.py: about 9,400 records/s on one core with the model and card histories.
# Lambda gives 512 MB about 512/1769 of a vCPU.
PROCESSOR_CORE_SECONDS_PER_RECORD = 1 / 9_400
LAMBDA_MEMORY_GB = 0.5
LAMBDA_VCPU_SHARE = 512 / 1769
# A card's history item is 554 bytes on average (793 at the 99th percentile): under 1 KB, so one
# transactional write is 2 WRU and one strongly consistent read 1 RRU. About one card per record
# in a batch (cards rarely repeat within a minute), so one read and one write per transaction.
WRU_PER_TRANSACTION = 2
RRU_PER_TRANSACTION = 1
# infra/template.yaml defaults: the processor gets 1 MB batches; Firehose buffers 64 MiB or 60 s
# per partition before it writes an object.
PROCESSOR_BATCH_BYTES = 1 * MIB
DELIVERY_BUFFER_BYTES = 64 * MIB
DELIVERY_INTERVAL_S = 60
# Each invocation makes ~40 DynamoDB calls (100 keys each way per 2,000 records), ~15 ms each.
DYNAMODB_SECONDS_PER_INVOCATION = 0.6

# --- Assumptions ---------------------------------------------------------------------------
LANDING_RETENTION_DAYS = 7  # the template's LandingRetentionDays default
HISTORY_DAYS = 30  # history kept in curated, read by each SPICE refresh, held in SPICE
SPICE_BYTES_PER_ROW = 300  # SPICE logical size: ~30 columns, numbers 8 B, text its length
SPICE_REFRESHES_PER_DAY = 24  # TXVIZ_SPICE_DAILY_INGESTION_BUDGET
AUTHORS, READERS = 1, 10
# Direct PUT quota of one stream in us-east-1 (bytes bind first for these records).
STREAM_BYTES_PER_S = 5 * MIB
PEAK_TO_AVERAGE = 2.0
SPICE_MAX_ROWS = 1_000_000_000  # rows per SPICE dataset, Enterprise


@dataclass(frozen=True)
class Line:
    service: str
    monthly: float
    note: str


def monthly_lines(per_day: int) -> list[Line]:
    """The month's bill, service by service, for ``per_day`` transactions a day."""
    month = per_day * DAYS_PER_MONTH
    in_bytes = month * INPUT_RECORD_BYTES
    landing_bytes = month * LANDING_RECORD_BYTES
    streams = streams_needed(per_day)
    billed = (
        month
        * math.ceil(INPUT_RECORD_BYTES / FIREHOSE_RECORD_ROUNDING)
        * (FIREHOSE_RECORD_ROUNDING)
    )
    objects_per_day = max(
        streams * 86_400 / DELIVERY_INTERVAL_S,
        per_day * LANDING_RECORD_BYTES / DELIVERY_BUFFER_BYTES,
    )
    objects = objects_per_day * DAYS_PER_MONTH
    invocations = max(streams * 86_400 / 60 * DAYS_PER_MONTH, in_bytes / PROCESSOR_BATCH_BYTES)
    lambda_s = month * PROCESSOR_CORE_SECONDS_PER_RECORD / LAMBDA_VCPU_SHARE
    lambda_s += invocations * DYNAMODB_SECONDS_PER_INVOCATION
    curated_gb = per_day * HISTORY_DAYS * PARQUET_BYTES_PER_ROW / GIB
    landing_gb = per_day * LANDING_RETENTION_DAYS * LANDING_RECORD_BYTES / GIB
    spice_rows = min(per_day * HISTORY_DAYS, SPICE_MAX_ROWS)
    spice_gb = spice_rows * SPICE_BYTES_PER_ROW / GIB
    scanned_tb = curated_gb * SPICE_REFRESHES_PER_DAY * DAYS_PER_MONTH / 1024
    return [
        Line(
            "Firehose ingestion",
            billed / GIB * FIREHOSE_PER_GB,
            "each ~0.5 KB record billed as 5 KB",
        ),
        Line(
            "Firehose dynamic partitioning",
            landing_bytes / GIB * PARTITIONING_PER_GB
            + objects / 1000 * PARTITIONING_PER_1000_OBJECTS,
            f"{objects_per_day:,.0f} objects a day",
        ),
        Line(
            "Lambda processor (arm64, 512 MB)",
            lambda_s * LAMBDA_MEMORY_GB * LAMBDA_ARM_PER_GB_S
            + invocations / 1e6 * LAMBDA_PER_MILLION_REQUESTS,
            f"{invocations / DAYS_PER_MONTH:,.0f} invocations a day",
        ),
        Line(
            "DynamoDB card histories (on demand)",
            month * WRU_PER_TRANSACTION / 1e6 * DYNAMODB_PER_MILLION_WRU
            + month * RRU_PER_TRANSACTION / 1e6 * DYNAMODB_PER_MILLION_RRU,
            "one transactional write (2 WRU) and one read per transaction",
        ),
        Line(
            "S3 (landing, curated, requests)",
            (landing_gb + curated_gb) * S3_PER_GB_MONTH
            + objects * 2 / 1000 * S3_PUT_PER_1000
            + objects / 1000 * S3_GET_PER_1000,
            f"{landing_gb:,.0f} GB landing ({LANDING_RETENTION_DAYS} d), "
            f"{curated_gb:,.0f} GB curated ({HISTORY_DAYS} d)",
        ),
        Line(
            "Glue Data Catalog",
            0.0,
            "one table, partition projection: within the free million objects and requests",
        ),
        Line(
            "Athena (SPICE refreshes)",
            scanned_tb * ATHENA_PER_TB,
            f"{SPICE_REFRESHES_PER_DAY} full refreshes a day over {HISTORY_DAYS} d of Parquet",
        ),
        Line(
            "QuickSight SPICE capacity",
            max(0.0, spice_gb - SPICE_INCLUDED_GB_PER_AUTHOR * AUTHORS) * SPICE_PER_GB_MONTH,
            f"{spice_rows / 1e6:,.0f}M rows, {spice_gb:,.0f} GB",
        ),
    ]


def streams_needed(per_day: int) -> int:
    """Delivery streams for the day's peak under one stream's bytes quota."""
    peak = per_day / 86_400 * PEAK_TO_AVERAGE * INPUT_RECORD_BYTES
    return max(1, math.ceil(peak / STREAM_BYTES_PER_S))


def seats() -> float:
    return AUTHORS * QUICKSIGHT_AUTHOR + READERS * QUICKSIGHT_READER


def table() -> str:
    """The README's table: per million transactions, and a month at 10M and at 1B a day."""
    small, large = monthly_lines(10_000_000), monthly_lines(1_000_000_000)
    rows = [
        "| service | per 1M transactions | month at 10M/day | month at 1B/day | at 1B/day |",
        "|---|---:|---:|---:|---|",
    ]
    for a, b in zip(small, large, strict=True):
        per_million = a.monthly / (10 * DAYS_PER_MONTH)
        cells = (
            a.service,
            f"${per_million:,.3f}",
            f"${a.monthly:,.0f}",
            f"${b.monthly:,.0f}",
            b.note,
        )
        rows.append("| " + " | ".join(cells) + " |")
    total_small = sum(line.monthly for line in small)
    total_large = sum(line.monthly for line in large)
    rows.append(
        f"| **total, usage** | **${total_small / (10 * DAYS_PER_MONTH):,.2f}** | "
        f"**${total_small:,.0f}** | **${total_large:,.0f}** | |"
    )
    rows.append(
        f"| QuickSight seats ({AUTHORS} author, {READERS} readers) | fixed | ${seats():,.0f} | "
        f"${seats():,.0f} | per user, not per transaction |"
    )
    rows.append(
        f"| delivery streams needed (peak {PEAK_TO_AVERAGE:g}× average) | | "
        f"{streams_needed(10_000_000)} | {streams_needed(1_000_000_000)} | "
        f"5 MiB/s Direct PUT each |"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
