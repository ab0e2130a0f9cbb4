"""A throwaway PostgreSQL server on 127.0.0.1 with TLS and a password, like RDS for the Dagster
instance on AWS (infra/dagster-ecs.yaml): the production dagster.yaml loads against it unchanged.

Needs PostgreSQL's server binaries (initdb, postgres) and openssl; ``available()`` says whether
they are here. As root, the server runs as ``nobody`` (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from txviz_pipeline.processes import start_group, stop_group
from txviz_pipeline.settings import LOCALHOST
from txviz_pipeline_tests.support.moto import free_port


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db_name: str


def _bin_dir() -> Path | None:
    initdb = shutil.which("initdb") or shutil.which("pg_ctl")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def available() -> bool:
    return _bin_dir() is not None and shutil.which("openssl") is not None


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]


@contextmanager
def running_postgres(user: str = "dagster", db_name: str = "dagster") -> Iterator[Postgres]:
    """A fresh cluster that accepts ``user`` only with its password, over TLS; always stopped
    and deleted afterwards."""
    bin_dir = _bin_dir()
    assert bin_dir is not None, "PostgreSQL server binaries not found"
    # Not under pytest's tmp_path: as root, the server's user must be able to reach the folder.
    root = Path(tempfile.mkdtemp(prefix="txviz-pg-"))
    try:
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(root, nobody.pw_uid, nobody.pw_gid)
        password = os.urandom(12).hex()
        pwfile = root / "pw"
        pwfile.write_text(password)
        data = root / "data"
        server_env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"}

        def run_as_server(argv: list[str]) -> None:
            subprocess.run(
                _as_server_user(argv), check=True, capture_output=True, env=server_env, cwd=root
            )

        if os.geteuid() == 0:
            os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
        run_as_server(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
            ]
        )
        # A self-signed certificate: sslmode=require encrypts without verifying, as against RDS.
        run_as_server(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                f"/CN={LOCALHOST}",
                "-keyout",
                str(data / "server.key"),
                "-out",
                str(data / "server.crt"),
            ]
        )
        os.chmod(data / "server.key", 0o600)
        port = free_port()
        argv = _as_server_user(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-h",
                LOCALHOST,
                "-p",
                str(port),
                "-k",
                str(root),
                "-c",
                "ssl=on",
            ]
        )
        proc = start_group(argv, env=server_env, log_path=root / "postgres.log", cwd=root)
        try:
            server = Postgres(LOCALHOST, port, user, password, "postgres")
            _wait_ready(server, proc, root / "postgres.log")
            _create_database(server, db_name)
            yield Postgres(LOCALHOST, port, user, password, db_name)
        finally:
            stop_group(proc.pid)
            proc.wait(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _connect(server: Postgres):
    import psycopg2

    return psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        dbname=server.db_name,
        sslmode="require",
        connect_timeout=5,
    )


def _wait_ready(server: Postgres, proc: subprocess.Popen, log_path: Path) -> None:
    import psycopg2

    deadline = time.monotonic() + 60
    while True:
        try:
            _connect(server).close()
            return
        except psycopg2.OperationalError as err:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = log_path.read_text()[-2000:]
                raise RuntimeError(f"postgres did not start:\n{log}") from err
            time.sleep(0.2)


def _create_database(server: Postgres, db_name: str) -> None:
    conn = _connect(server)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{db_name}"')
    finally:
        conn.close()


def table_names(server: Postgres) -> set[str]:
    conn = _connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {name for (name,) in cur.fetchall()}
    finally:
        conn.close()
