"""The one place that names txviz's resources and reads its environment.

infra/, the embedded stack, the Lambda's configuration, the Dagster resources and the tests all
take bucket, stream, prefix and region names from here (``test_settings_agree_with_infra`` keeps
infra/ honest). Nothing here touches the network, and the environment is read only when
``Settings.from_env()`` is called, never at import time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent

# Resource names (identical in infra/template.yaml and on the embedded stack).
BUCKET = "txviz-transactions"
DELIVERY_STREAM = "txviz-transactions"
PROCESSOR_FUNCTION = "txviz-processor"
LANDING_PREFIX = "landing/"
# Redacted quarantine lines of the records the processor refused (lambda/quarantine.py).
QUARANTINE_PREFIX = "quarantine/"
# Firehose dynamic partitioning: the processor routes each record by its "zone" partition key
# (landing or quarantine); the arrival hour follows, as Firehose's default prefix would add it.
DELIVERY_PREFIX_TEMPLATE = "!{partitionKeyFromLambda:zone}/!{timestamp:yyyy/MM/dd/HH}/"
# AWS substitutes !{firehose:error-output-type} (processing-failed, ...) and the arrival hour.
ERROR_PREFIX_TEMPLATE = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
# Records of failed processor invocations (the handler raised or timed out): written raw.
PROCESSING_FAILED_PREFIX = "errors/processing-failed/"
CURATED_PREFIX = "curated/transactions/"
# Per arrival hour, what compaction has already merged into curated/ (manifest and trans_num
# digests). Outside CURATED_PREFIX, so Glue, Athena and the SPICE never read it as data.
COMPACTION_STATE_PREFIX = "curated/_compaction/"
REPLAY_PREFIX = "replays/"
# On AWS, the NDJSON dataset a conversion stages for the replay: <prefix><dataset>/part-*.ndjson
# and manifest.json, so a replay on another machine (an ECS task) reads what the conversion wrote.
STAGING_NDJSON_PREFIX = "staging/ndjson/"
# On AWS, Dagster's pickled asset outputs (S3PickleIOManager), read by runs on other machines.
IO_MANAGER_PREFIX = "dagster/io/"
# Records the replay could not put into Firehose after its retries (dead letters).
REPLAY_FAILED_PREFIX = "errors/replay-failed/"
# Fraud models (txviz_pipeline/fraud/registry.py): each version, and the one the processor uses.
MODEL_VERSIONS_PREFIX = "models/fraud/versions/"
MODEL_CURRENT_KEY = "models/fraud/current.json"
# The processor's variable for the bucket it reads the published model from (lambda/fraudmodel.py).
MODEL_BUCKET_ENV = "TXVIZ_MODEL_BUCKET"
ALERTS_TOPIC = "txviz-alerts"
# Every published alert is also kept as one JSON object here (txviz_pipeline/alerts/store.py).
ALERTS_PREFIX = "alerts/"
# The embedded stack's SQS queue subscribed to the alerts topic (raw delivery off).
ALERTS_QUEUE = "txviz-alerts"
GLUE_DATABASE = "txviz"
GLUE_TABLE = "transactions"
QUICKSIGHT_DATASET_ID = "txviz-transactions"

# Firehose S3 keys: <prefix>YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>
PARTITION_FMT = "%Y/%m/%d/%H"

DEFAULT_REGION = "us-east-1"
DEFAULT_MOTO_PORT = 5055
DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_DAGSTER_PORT = 3000
LOCALHOST = "127.0.0.1"
# Firehose delivers when its buffer fills or its interval (60 s in infra/) passes, then the
# processor runs: replay_reconciles allows a few intervals before calling a row missing.
DEFAULT_RECONCILE_WAIT_S = 300.0
# While a replay runs, a landing zone silent this long is stale (landing_fresh_during_replay).
DEFAULT_MAX_LANDING_SILENCE_MINUTES = 5.0
# A failing check (check, partition) is alerted again only after this cool-down.
DEFAULT_ALERT_COOLDOWN_MINUTES = 30.0
# QuickSight caps SPICE ingestions of a dataset at 32 per rolling 24 h on Enterprise (8 on
# Standard). txviz starts at most this many itself, leaving the rest for manual refreshes
# (serving/spice_budget.py); set it to 6 or less on Standard.
DEFAULT_SPICE_DAILY_INGESTION_BUDGET = 24
# On AWS, compaction_sensor requests at most one SPICE refresh per this many minutes; the
# compactions of a burst wait and share the next one (24 h / 60 min = the default budget).
DEFAULT_SPICE_MIN_REFRESH_INTERVAL_MINUTES = 60.0

# "embedded" (the default): the CLI looks for the running embedded stack; "aws": real AWS.
MODES = ("embedded", "aws")
MODE_ENV = "TXVIZ_MODE"
MOTO_PORT_ENV = "TXVIZ_MOTO_PORT"
DAGSTER_PORT_ENV = "TXVIZ_DAGSTER_PORT"
DASHBOARD_PORT_ENV = "TXVIZ_DASHBOARD_PORT"
SHARD_STREAMS_ENV = "TXVIZ_SHARD_STREAMS"
# The processor's HMAC key for card tokens (lambda/handler.py reads the same variable).
CARD_TOKEN_ENV = "TXVIZ_CARD_TOKEN_KEY"
# The Firehose processor the embedded stack runs (default: the repo's lambda/handler.py).
PROCESSOR_PATH_ENV = "TXVIZ_PROCESSOR_PATH"
RECONCILE_WAIT_ENV = "TXVIZ_RECONCILE_WAIT_S"
MAX_LANDING_SILENCE_ENV = "TXVIZ_MAX_LANDING_SILENCE_MINUTES"
# The folders launchpad paths must lie in (os.pathsep-separated; default: data/ and TXVIZ_HOME).
DATA_DIRS_ENV = "TXVIZ_DATA_DIRS"
# Where state shared between runs lives (the NDJSON handoff, replay checkpoints, Dagster's asset
# outputs): "s3" (the bucket) or "local" (TXVIZ_HOME); empty: s3 on AWS, local when embedded.
STATE_STORE_ENV = "TXVIZ_STATE_STORE"
STATE_STORES = ("local", "s3")
# The Dagster UI's address in alert links (default: http://127.0.0.1:<dagster port>).
DAGSTER_URL_ENV = "TXVIZ_DAGSTER_URL"
ALERT_COOLDOWN_ENV = "TXVIZ_ALERT_COOLDOWN_MINUTES"
SPICE_DAILY_INGESTION_BUDGET_ENV = "TXVIZ_SPICE_DAILY_INGESTION_BUDGET"
SPICE_MIN_REFRESH_INTERVAL_ENV = "TXVIZ_SPICE_MIN_REFRESH_INTERVAL_MINUTES"
# Fraud alert thresholds (txviz_pipeline/alerts/fraud.py): name -> (variable, default).
FRAUD_THRESHOLDS: dict[str, tuple[str, float]] = {
    # A spike: in the last window, at least min_flagged flagged records at a rate of at least
    # spike_factor x the baseline's (and at least min_rate).
    "window_minutes": ("TXVIZ_FRAUD_WINDOW_MINUTES", 5),
    "baseline_minutes": ("TXVIZ_FRAUD_BASELINE_MINUTES", 60),
    "spike_factor": ("TXVIZ_FRAUD_SPIKE_FACTOR", 3.0),
    "min_flagged": ("TXVIZ_FRAUD_MIN_FLAGGED", 5),
    "min_rate": ("TXVIZ_FRAUD_MIN_RATE", 0.05),
    # A card burst: burst_flags flagged records of one card within burst_minutes.
    "burst_flags": ("TXVIZ_CARD_BURST_FLAGS", 3),
    "burst_minutes": ("TXVIZ_CARD_BURST_MINUTES", 10),
}


@dataclass(frozen=True)
class Settings:
    """Runtime settings, read from the environment once and passed down explicitly."""

    region: str = DEFAULT_REGION
    # None means real AWS endpoints; the embedded stack sets http://127.0.0.1:<port>.
    endpoint_url: str | None = None
    bucket: str = BUCKET
    delivery_stream: str = DELIVERY_STREAM
    # More delivery streams with the same processor and destination, for a replay in parts
    # that needs more than one stream's quota (comma-separated in TXVIZ_SHARD_STREAMS).
    shard_streams: tuple[str, ...] = ()
    # Local, git-ignored working folder: NDJSON, checkpoints, the local SPICE, DAGSTER_HOME.
    home: Path = field(default_factory=lambda: REPO_ROOT / ".txviz")
    mode: str = "embedded"
    # None: chosen by ``state_in_s3`` from the mode and endpoint.
    state_store: str | None = None
    # Default ports of the local servers (the embedded AWS, the Dagster UI, the dashboard).
    moto_port: int = DEFAULT_MOTO_PORT
    dagster_port: int = DEFAULT_DAGSTER_PORT
    dashboard_port: int = DEFAULT_DASHBOARD_PORT
    # None: the embedded stack generates one into <home>/stack/card-token.key.
    card_token_key: str | None = field(default=None, repr=False)
    processor_path: Path = REPO_ROOT / "lambda" / "handler.py"
    reconcile_wait_s: float = DEFAULT_RECONCILE_WAIT_S
    max_landing_silence_minutes: float = DEFAULT_MAX_LANDING_SILENCE_MINUTES
    # Empty: the repository's data/ and ``home`` (see ``data_folders``).
    data_dirs: tuple[Path, ...] = ()
    # None: the local Dagster UI on 127.0.0.1:<dagster_port> (see ``dagster_ui``).
    dagster_url: str | None = None
    alert_cooldown_minutes: float = DEFAULT_ALERT_COOLDOWN_MINUTES
    # AWS only: SPICE ingestions txviz may start per rolling 24 h, and the coalescing interval.
    spice_daily_ingestion_budget: int = DEFAULT_SPICE_DAILY_INGESTION_BUDGET
    spice_min_refresh_interval_minutes: float = DEFAULT_SPICE_MIN_REFRESH_INTERVAL_MINUTES
    fraud_thresholds: dict[str, float] = field(
        default_factory=lambda: {name: default for name, (_, default) in FRAUD_THRESHOLDS.items()}
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default: the process environment); ValueError names a bad
        variable."""
        env = os.environ if environ is None else environ
        mode = env.get(MODE_ENV) or "embedded"
        if mode not in MODES:
            raise ValueError(f"{MODE_ENV}={mode!r} is not one of {', '.join(MODES)}")
        state_store = env.get(STATE_STORE_ENV) or None
        if state_store not in (None, *STATE_STORES):
            raise ValueError(
                f"{STATE_STORE_ENV}={state_store!r} is not one of {', '.join(STATE_STORES)}"
            )
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            bucket=env.get("TXVIZ_BUCKET", BUCKET),
            delivery_stream=env.get("TXVIZ_DELIVERY_STREAM", DELIVERY_STREAM),
            shard_streams=tuple(
                name.strip() for name in env.get(SHARD_STREAMS_ENV, "").split(",") if name.strip()
            ),
            home=Path(env.get("TXVIZ_HOME", REPO_ROOT / ".txviz")),
            mode=mode,
            state_store=state_store,
            moto_port=_port(env, MOTO_PORT_ENV, DEFAULT_MOTO_PORT),
            dagster_port=_port(env, DAGSTER_PORT_ENV, DEFAULT_DAGSTER_PORT),
            dashboard_port=_port(env, DASHBOARD_PORT_ENV, DEFAULT_DASHBOARD_PORT),
            card_token_key=env.get(CARD_TOKEN_ENV) or None,
            processor_path=Path(env.get(PROCESSOR_PATH_ENV) or REPO_ROOT / "lambda" / "handler.py"),
            reconcile_wait_s=_seconds(env, RECONCILE_WAIT_ENV, DEFAULT_RECONCILE_WAIT_S),
            max_landing_silence_minutes=_seconds(
                env, MAX_LANDING_SILENCE_ENV, DEFAULT_MAX_LANDING_SILENCE_MINUTES
            ),
            data_dirs=tuple(Path(d) for d in env.get(DATA_DIRS_ENV, "").split(os.pathsep) if d),
            dagster_url=(env.get(DAGSTER_URL_ENV) or "").rstrip("/") or None,
            alert_cooldown_minutes=_seconds(
                env, ALERT_COOLDOWN_ENV, DEFAULT_ALERT_COOLDOWN_MINUTES
            ),
            spice_daily_ingestion_budget=_number(
                env,
                SPICE_DAILY_INGESTION_BUDGET_ENV,
                DEFAULT_SPICE_DAILY_INGESTION_BUDGET,
                int,
                lambda n: 0 <= n <= 32,
                "a whole number from 0 to 32 (QuickSight's daily cap)",
            ),
            spice_min_refresh_interval_minutes=_seconds(
                env, SPICE_MIN_REFRESH_INTERVAL_ENV, DEFAULT_SPICE_MIN_REFRESH_INTERVAL_MINUTES
            ),
            fraud_thresholds={
                name: _seconds(env, variable, default)
                for name, (variable, default) in FRAUD_THRESHOLDS.items()
            },
        )

    @property
    def delivery_streams(self) -> tuple[str, ...]:
        """Every stream a replay may send to: the delivery stream first, then the shards."""
        return (self.delivery_stream, *self.shard_streams)

    @property
    def embedded(self) -> bool:
        return self.endpoint_url is not None

    @property
    def state_in_s3(self) -> bool:
        """Shared state goes to the bucket: on AWS (each Dagster run may be its own ECS task,
        with its own disk) unless ``state_store`` says otherwise; local on the embedded stack."""
        if self.state_store is not None:
            return self.state_store == "s3"
        return self.mode == "aws" or not self.embedded

    @property
    def dagster_ui(self) -> str:
        """The Dagster UI's base URL, for links in alerts."""
        return self.dagster_url or f"http://{LOCALHOST}:{self.dagster_port}"

    @property
    def dashboard_url(self) -> str | None:
        """The local dashboard, in fraud alerts on the embedded stack (None on AWS)."""
        return f"http://{LOCALHOST}:{self.dashboard_port}" if self.embedded else None

    @property
    def data_folders(self) -> tuple[Path, ...]:
        """The folders launchpad paths are confined to, symlinks and ``..`` resolved."""
        dirs = self.data_dirs or (REPO_ROOT / "data", self.home)
        return tuple(d.resolve() for d in dirs)

    @property
    def spice_path(self) -> Path:
        """The local SPICE: a DuckDB file swapped atomically on every refresh."""
        return self.home / "spice" / "transactions.duckdb"

    @property
    def ndjson_dir(self) -> Path:
        return self.home / "ndjson"

    @property
    def checkpoint_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def dead_letter_dir(self) -> Path:
        return self.home / "dead-letter"


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A non-negative, finite duration (in the variable's own unit)."""
    return _number(env, name, default, float, lambda s: 0 <= s < math.inf, "a non-negative number")


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, lambda p: 0 < p < 65536, "a port number")


N = TypeVar("N", int, float)


def _number(
    env: Mapping[str, str],
    name: str,
    default: N,
    parse: Callable[[str], N],
    valid: Callable[[N], bool],
    what: str,
) -> N:
    """``env[name]`` read by ``parse``; ``default`` when unset or empty; unparsable or not
    ``valid`` is a ValueError naming the variable, its value and ``what`` it should be."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value: N | None = parse(raw)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise ValueError(f"{name}={raw!r} is not {what}")
    return value


def embedded_env(port: int = DEFAULT_MOTO_PORT, home: Path | None = None) -> dict[str, str]:
    """Environment variables that point boto3 (and txviz) at the embedded stack on ``port``."""
    env = {
        "AWS_ENDPOINT_URL": f"http://{LOCALHOST}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": DEFAULT_REGION,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
    }
    if home is not None:
        env["TXVIZ_HOME"] = str(home)
    return env
