"""Start, stop and inspect the embedded AWS stack (moto server + processor hook) for one txviz home.

``up`` starts ``python -m txviz_pipeline.stack.server`` as its own process group, records it in
``<home>/stack/stack.json``, waits until it answers and provisions it; ``down`` stops exactly that
process group. moto keeps state in memory only, so every ``up`` provisions again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import secrets
import sys
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from txviz_pipeline import aws
from txviz_pipeline.private_files import private_dir
from txviz_pipeline.processes import (
    http_ok,
    pid_alive,
    port_in_use,
    start_group,
    stop_group,
    wait_for_http,
)
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.settings import (
    CARD_TOKEN_ENV,
    ERROR_PREFIX_TEMPLATE,
    LANDING_PREFIX,
    LOCALHOST,
    MODEL_BUCKET_ENV,
    MOTO_PORT_ENV,
    QUARANTINE_PREFIX,
    REPO_ROOT,
    SHARD_STREAMS_ENV,
    Settings,
    embedded_env,
)
from txviz_pipeline.stack.provision import provision

log = logging.getLogger(__name__)

SERVER_MODULE = "txviz_pipeline.stack.server"
# Served by the stack server beside moto's API: per-stream processor counters as JSON.
STATS_PATH = "/txviz/processor-stats"
START_TIMEOUT_S = 60.0
# 32 characters: at least 128 bits even for a hex key (the generated one has 64 hex characters).
MIN_CARD_TOKEN_KEY_CHARS = 32
STOP_TIMEOUT_S = 10.0
# Everything Firehose writes on failure sits under the error template's fixed head ("errors/").
ERRORS_ROOT = ERROR_PREFIX_TEMPLATE.split("!{", 1)[0]


class StackError(RuntimeError):
    """The embedded stack could not be started, reached or stopped; the message says why."""


@dataclass(frozen=True)
class StackInfo:
    """A running embedded stack."""

    port: int
    home: Path
    pid: int
    started_at: str
    log_path: Path
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint_url(self) -> str:
        return _endpoint(self.port)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables pointing boto3 and txviz at this stack."""
        return embedded_env(self.port, self.home)

    @property
    def settings(self) -> Settings:
        return embedded_settings(self.port, self.home)


def embedded_settings(port: int, home: Path) -> Settings:
    """The settings of txviz pointed at the stack on ``port`` for ``home`` (known before it
    answers, so servers that read it can start at the same time)."""
    return Settings.from_env(embedded_env(port, home))


@dataclass(frozen=True)
class StackStatus:
    running: bool
    home: Path
    endpoint_url: str | None = None
    pid: int | None = None
    port: int | None = None
    started_at: str | None = None
    landing_objects: int | None = None
    quarantine_objects: int | None = None
    error_objects: int | None = None
    processor_stats: dict[str, dict[str, int]] | None = None


# --- paths and state -----------------------------------------------------------------------------


def stack_dir(home: Path) -> Path:
    return home / "stack"


def state_path(home: Path) -> Path:
    return stack_dir(home) / "stack.json"


def log_path(home: Path) -> Path:
    return stack_dir(home) / "server.log"


def _endpoint(port: int) -> str:
    return f"http://{LOCALHOST}:{port}"


def _answers(endpoint: str) -> bool:
    return http_ok(f"{endpoint}/moto-api/")


def _read_state(home: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(state_path(home).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("ignoring unreadable %s", state_path(home))
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def _write_state(home: Path, state: dict[str, Any]) -> None:
    tmp = state_path(home).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(state_path(home))


def _remove_state(home: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(home).unlink()


@contextlib.contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """Serialise up/down for one home (two shells running ``up`` at once start one server)."""
    private_dir(home)
    private_dir(stack_dir(home))
    with open(stack_dir(home) / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def card_token_key(settings: Settings) -> str:
    """The key the processor hashes card numbers with: the settings' key, else a 0600 file.

    A key file others can read, or a key shorter than ``MIN_CARD_TOKEN_KEY_CHARS``, is a
    StackError: tokens made with it could be reversed by trying every card number.
    """
    if settings.card_token_key:
        return _strong(settings.card_token_key, CARD_TOKEN_ENV)
    home = settings.home
    path = stack_dir(home) / "card-token.key"
    private_dir(stack_dir(home))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _reused_key(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip()


def _reused_key(path: Path) -> str:
    with open(path) as fh:
        mode = os.fstat(fh.fileno()).st_mode & 0o777
        if mode & 0o077:
            raise StackError(
                f"{path} can be read by others (mode {mode:o}): run chmod 600 {path}, or delete "
                "it to have a new key generated (card tokens then change)"
            )
        return _strong(fh.read().strip(), str(path))


def _strong(key: str, source: str) -> str:
    if len(key) < MIN_CARD_TOKEN_KEY_CHARS:
        raise StackError(
            f"the card-token key in {source} has {len(key)} characters, fewer than "
            f"{MIN_CARD_TOKEN_KEY_CHARS}: use a random one such as "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return key


# --- processes -----------------------------------------------------------------------------------


def _is_our_server(pid: int, home: Path) -> bool:
    """True if ``pid`` is a txviz stack server started for ``home`` (guards against pid reuse)."""
    if not pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv]
    return SERVER_MODULE in args and "--home" in args and str(home) in args


def _info(home: Path, state: dict[str, Any], resources: dict[str, Any]) -> StackInfo:
    return StackInfo(
        port=state["port"],
        home=home,
        pid=state["pid"],
        started_at=state["started_at"],
        log_path=log_path(home),
        resources=resources,
    )


def _provision(home: Path, port: int) -> dict[str, Any]:
    env = embedded_env(port, home)
    # Shard streams for a replay in parts are the user's choice, from the environment.
    if os.environ.get(SHARD_STREAMS_ENV):
        env[SHARD_STREAMS_ENV] = os.environ[SHARD_STREAMS_ENV]
    return provision(Settings.from_env(env))


# --- public API ----------------------------------------------------------------------------------


def up(
    port: int | None = None,
    home: Path | str | None = None,
    *,
    settings: Settings | None = None,
    server_env: Mapping[str, str] | None = None,
    on_spawned: Callable[[int], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> StackInfo:
    """Start (or find) the embedded stack for ``home`` on ``port`` and provision it.

    ``port`` and ``home`` default to the settings' (``Settings.from_env()`` if none are given).
    ``on_spawned(port)`` is called as soon as the port is known and the server process started
    (or found running), before it answers: callers start what does not need AWS yet there, so
    it starts while the server boots. ``progress`` is told "stack answering" and "stack
    provisioned" as they happen.
    """
    spawned = on_spawned or (lambda port: None)
    report = progress or (lambda event: None)
    settings = settings or Settings.from_env()
    settings = dataclasses.replace(settings, home=Path(home or settings.home).resolve())
    home = settings.home
    with _home_lock(home):
        state = _read_state(home)
        if state is not None:
            if _is_our_server(state["pid"], home):
                endpoint = _endpoint(state["port"])
                if not _answers(endpoint):
                    raise StackError(
                        f"the stack server (pid {state['pid']}) for {home} runs but does not "
                        f"answer on {endpoint}; stop it with down() and start again"
                    )
                if port is not None and port != state["port"]:
                    log.warning(
                        "stack already running on port %d; ignoring port %d", state["port"], port
                    )
                spawned(state["port"])
                report("stack answering")
                resources = _provision(home, state["port"])
                report("stack provisioned")
                return _info(home, state, resources)
            log.info("removing stale %s (pid %s is gone)", state_path(home), state["pid"])
            _remove_state(home)

        port = settings.moto_port if port is None else port
        if port_in_use(port):
            raise StackError(
                f"port {port} on {LOCALHOST} is already in use by another process; start the "
                f"stack on a free port with --port <N> or {MOTO_PORT_ENV}=<N>"
            )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        env[CARD_TOKEN_ENV] = card_token_key(settings)
        env["PYTHONUNBUFFERED"] = "1"
        # moto builds some URLs (presigned S3, queue URLs) from MOTO_PORT.
        env["MOTO_PORT"] = str(port)
        # The processor reads the published fraud model from this server's S3, as on AWS.
        env.update(embedded_env(port))
        env[MODEL_BUCKET_ENV] = settings.bucket
        env.update(server_env or {})
        cmd = [sys.executable, "-m", SERVER_MODULE, "--port", str(port), "--home", str(home)]
        proc = start_group(cmd, env=env, log_path=log_path(home), cwd=REPO_ROOT)
        state = {
            "pid": proc.pid,
            "port": port,
            "endpoint": _endpoint(port),
            "home": str(home),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _write_state(home, state)
        try:
            spawned(port)
            try:
                wait_for_http(
                    f"{_endpoint(port)}/moto-api/",
                    START_TIMEOUT_S,
                    proc=proc,
                    log_path=log_path(home),
                )
            except (RuntimeError, TimeoutError) as exc:
                raise StackError(f"the stack server did not start on port {port}: {exc}") from exc
            report("stack answering")
            resources = _provision(home, port)
            report("stack provisioned")
        except BaseException:
            stop_group(proc.pid, STOP_TIMEOUT_S)
            _remove_state(home)
            raise
        log.info("embedded stack up on %s (pid %d)", state["endpoint"], proc.pid)
        return _info(home, state, resources)


def down(home: Path | str) -> bool:
    """Stop the stack server started for ``home``; False if none was running."""
    home = Path(home).resolve()
    with _home_lock(home):
        state = _read_state(home)
        if state is None:
            return False
        if not _is_our_server(state["pid"], home):
            _remove_state(home)
            return False
        stop_group(state["pid"], STOP_TIMEOUT_S)
        _remove_state(home)
        log.info("embedded stack on port %s stopped", state.get("port"))
        return True


def _count(s3: Any, bucket: str, prefix: str) -> int:
    return sum(1 for _ in iter_keys(s3, bucket, prefix))


def status(home: Path | str, *, counts: bool = True) -> StackStatus:
    """Whether the stack for ``home`` runs, where, and (``counts``) what it has landed."""
    home = Path(home).resolve()
    state = _read_state(home)
    if state is None or not _is_our_server(state["pid"], home):
        return StackStatus(running=False, home=home)
    endpoint = _endpoint(state["port"])
    landing = quarantined = errors = stats = None
    # Counting lists the whole landing zone; callers that only need the endpoint skip it.
    if counts and _answers(endpoint):
        s = Settings.from_env(embedded_env(state["port"], home))
        try:
            s3 = aws.client("s3", s, max_attempts=2)
            landing = _count(s3, s.bucket, LANDING_PREFIX)
            quarantined = _count(s3, s.bucket, QUARANTINE_PREFIX)
            errors = _count(s3, s.bucket, ERRORS_ROOT)
            with urllib.request.urlopen(f"{endpoint}{STATS_PATH}", timeout=5) as resp:
                stats = json.loads(resp.read())
        except Exception as exc:  # noqa: BLE001 - status reports what it can
            log.warning("could not read stack contents: %s", exc)
    return StackStatus(
        running=True,
        home=home,
        endpoint_url=endpoint,
        pid=state["pid"],
        port=state["port"],
        started_at=state.get("started_at"),
        landing_objects=landing,
        quarantine_objects=quarantined,
        error_objects=errors,
        processor_stats=stats,
    )
