"""Shared fixtures: a moto server subprocess on 127.0.0.1 (real HTTP, like the embedded stack)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from txviz_pipeline.processes import stop_group
from txviz_pipeline.settings import LOCALHOST, Settings, embedded_env
from txviz_pipeline.stack.control import StackInfo
from txviz_pipeline_tests.support.e2e import running_pipeline
from txviz_pipeline_tests.support.fraud_data import generated_csv, training_data  # noqa: F401
from txviz_pipeline_tests.support.moto import free_port, start_moto_server


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A bare moto server (no txviz provisioning) over HTTP; yields its endpoint URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = start_moto_server(port, log_path)
    try:
        url = f"http://{LOCALHOST}:{port}"
        yield url
    finally:
        stop_group(proc.pid)
        proc.wait(timeout=10)


@pytest.fixture
def moto_settings(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings (and environment) pointing at the bare moto server, with a fresh TXVIZ_HOME.

    Resets moto's state first so each test starts from an empty account.
    """
    port = int(moto_server.rsplit(":", 1)[1])
    for key, value in embedded_env(port, home=tmp_path / "txviz-home").items():
        monkeypatch.setenv(key, value)
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    return Settings.from_env()


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """The txviz embedded stack (moto server + processor hook, provisioned) for the session.

    Runs the repo's lambda/handler.py on a free port with its own home; always stopped at the
    end. Tests that need an empty landing zone empty the bucket themselves.
    """
    from txviz_pipeline.stack import control

    home = tmp_path_factory.mktemp("embedded-stack-home")
    info = control.up(port=free_port(), home=home)
    try:
        yield info
    finally:
        control.down(home)


@pytest.fixture
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    """The whole embedded pipeline (stack, Dagster webserver and daemon), one per test."""
    yield from running_pipeline(tmp_path_factory)
