"""One boto3 client factory for every AWS service txviz talks to.

Endpoint, region and retry policy are decided here once: on the embedded stack the endpoint is the
local moto server, on AWS it is None (boto3's default). Standard retry mode, because the legacy
mode makes a failing call against a dead endpoint take ~10 s before it surfaces.

On the embedded stack every client comes from one boto3 session per process: a new session
loads the endpoint and service models again (tens of milliseconds of CPU per client), and the
sensors and runs of a replay create thousands of clients. Its credentials are the fixed test
ones, so nothing in it goes stale. A session is not thread-safe, so clients are created from it
under a lock (the clients themselves are). On AWS each client gets a session of its own, so the
credential chain is read afresh.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
from botocore.config import Config

from txviz_pipeline.settings import Settings

# moto accepts any credentials, but botocore must sign with some. Fixed ones for the local
# endpoint also mean a user's real AWS credentials are never sent to it.
EMBEDDED_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def client_config(max_attempts: int = 5, **overrides: Any) -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=overrides.pop("connect_timeout", 5),
        read_timeout=overrides.pop("read_timeout", 60),
        max_pool_connections=overrides.pop("max_pool_connections", 20),
        **overrides,
    )


def client(
    service: str,
    settings: Settings | None = None,
    *,
    max_attempts: int = 5,
    session: boto3.session.Session | None = None,
    use_ssl: bool = True,
    verify: bool | None = None,
    **config,
):
    """A boto3 client for ``service`` (``s3``, ``firehose``, ``sns``, ``quicksight`` ...).

    ``session`` carries a profile or explicit credentials (default: boto3's credential chain
    on AWS, the fixed test credentials on the embedded stack).
    """
    settings = settings or Settings.from_env()
    extra: dict[str, Any] = {}
    if service == "s3" and settings.endpoint_url:
        # moto serves S3 at the endpoint root; virtual-host addressing needs DNS it doesn't have.
        extra["s3"] = {"addressing_style": "path"}
    options = {
        "region_name": settings.region,
        "endpoint_url": settings.endpoint_url,
        "use_ssl": use_ssl,
        "verify": verify,
        "config": client_config(max_attempts, **extra, **config),
    }
    if session is None and settings.embedded:
        with _EMBEDDED_LOCK:
            return _embedded_session().client(service, **options)
    return (session or boto3.session.Session()).client(service, **options)


_EMBEDDED_LOCK = threading.Lock()


@functools.cache
def _embedded_session() -> boto3.session.Session:
    """The process's session for the embedded stack (call with ``_EMBEDDED_LOCK`` held)."""
    return boto3.session.Session(**EMBEDDED_CREDENTIALS)
