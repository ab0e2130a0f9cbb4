"""Start the live dashboard as a Streamlit server on 127.0.0.1 and wait until it answers."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


def start_dashboard(
    settings: Settings, port: int, log_path: Path | None = None
) -> subprocess.Popen:
    """Start the dashboard in its own process group; output goes to <home>/logs/dashboard.log."""
    log_path = log_path or settings.home / "logs" / "dashboard.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TXVIZ_HOME": str(settings.home)}
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            dashboard_command(port),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own session, so stop_dashboard can end Streamlit and anything it started.
            start_new_session=True,
        )
    log.info("dashboard starting on %s (pid %d, log %s)", dashboard_url(port), proc.pid, log_path)
    return proc


def wait_until_ready(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Block until ``url``/_stcore/health answers "ok"; raise if it doesn't or ``proc`` exits."""
    health = url.rstrip("/") + "/_stcore/health"
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"dashboard exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200 and response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"dashboard at {url} not ready after {timeout:.0f} s")
        time.sleep(0.2)


def stop_dashboard(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop the dashboard's process group (SIGTERM, then SIGKILL after ``timeout``)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass
