"""Start the live dashboard as a Streamlit server on 127.0.0.1, wait until it answers, serve."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from txviz_pipeline.processes import signals_held, start_group, stop_group, wait_for_http
from txviz_pipeline.settings import LOCALHOST, Settings

log = logging.getLogger(__name__)

APP_PATH = Path(__file__).resolve().parent / "app.py"


def dashboard_url(port: int) -> str:
    return f"http://{LOCALHOST}:{port}"


def dashboard_command(port: int) -> list[str]:
    """The Streamlit command line: local only, no browser, no usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.address",
        LOCALHOST,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # A monitoring page, not an app under development: no Deploy/Rerun menu.
        "--client.toolbarMode",
        "viewer",
    ]


def s3_env(settings: Settings) -> dict[str, str]:
    """Where the dashboard's speed layer reads landing: the same S3 as the pipeline's."""
    env = {
        "TXVIZ_MODE": settings.mode,
        "TXVIZ_BUCKET": settings.bucket,
        "AWS_REGION": settings.region,
    }
    if settings.endpoint_url:
        env["AWS_ENDPOINT_URL"] = settings.endpoint_url
    return env


def start_dashboard(settings: Settings, port: int) -> subprocess.Popen:
    """Start the dashboard in its own process group; output goes to <home>/logs/dashboard.log."""
    log_path = settings.home / "logs" / "dashboard.log"
    env = {**os.environ, "TXVIZ_HOME": str(settings.home), **s3_env(settings)}
    proc = start_group(dashboard_command(port), env=env, log_path=log_path)
    log.info("dashboard starting on %s (pid %d, log %s)", dashboard_url(port), proc.pid, log_path)
    return proc


def wait_until_ready(port: int, proc: subprocess.Popen) -> None:
    """Block until the health endpoint answers; raise if it does not or ``proc`` exits first."""
    wait_for_http(f"{dashboard_url(port)}/_stcore/health", proc=proc)


def serve_dashboard(settings: Settings, port: int) -> int:
    """``txviz dashboard``: serve until Streamlit exits or the caller is stopped, then stop it."""
    proc = start_dashboard(settings, port)
    try:
        wait_until_ready(port, proc=proc)
        print(f"dashboard: {dashboard_url(port)}", flush=True)
        return proc.wait()
    finally:
        with signals_held():
            stop_group(proc.pid)
