"""Starting and stopping the embedded stack: idempotence, port clashes, failures, stale state."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from txviz_pipeline.processes import http_ok, port_in_use
from txviz_pipeline.settings import LOCALHOST, MOTO_PORT_ENV, Settings
from txviz_pipeline.stack import control
from txviz_pipeline.stack.control import StackError
from txviz_pipeline_tests.support.moto import free_port


def process_exists(pid: int) -> bool:
    """True while ``pid`` runs (zombies count as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.integration
def test_up_is_idempotent_and_down_stops_the_process(tmp_path: Path):
    home = tmp_path / "home"
    port = free_port()
    first = control.up(settings=Settings(home=home, moto_port=port))
    try:
        assert first.port == port and first.home == home.resolve()
        assert process_exists(first.pid)
        assert first.resources["created"]  # a fresh moto has nothing yet
        second = control.up(home=home)
        assert (second.pid, second.port) == (first.pid, first.port)
        assert second.resources["created"] == []
        assert second.env["AWS_ENDPOINT_URL"] == first.endpoint_url
        assert control.status(home).running
    finally:
        stopped = control.down(home)
    assert stopped is True
    assert not process_exists(first.pid)
    assert not (home / "stack" / "stack.json").exists()
    assert control.down(home) is False
    st = control.status(home)
    assert not st.running and st.pid is None
    # The port is free again: the server closed its socket.
    assert not port_in_use(first.port)


@pytest.mark.integration
def test_on_spawned_runs_before_the_server_answers_and_progress_follows(tmp_path: Path):
    home = tmp_path / "home"
    port = free_port()
    events: list[str] = []

    def spawned(at: int) -> None:
        # Called with the port once the server process exists, before it answers.
        answering = http_ok(f"http://{LOCALHOST}:{at}/moto-api/")
        events.append(f"spawned on {at}, answering={answering}")

    stack = control.up(
        settings=Settings(home=home, moto_port=port), on_spawned=spawned, progress=events.append
    )
    try:
        assert events == [
            f"spawned on {port}, answering=False",
            "stack answering",
            "stack provisioned",
        ]
        # A running stack: called at once with its port (the one asked for is ignored).
        events.clear()
        control.up(port=free_port(), home=home, on_spawned=spawned, progress=events.append)
        assert events == [
            f"spawned on {port}, answering=True",
            "stack answering",
            "stack provisioned",
        ]
    finally:
        control.down(home)
    assert not process_exists(stack.pid)


@pytest.mark.integration
def test_a_failing_on_spawned_stops_the_server(tmp_path: Path):
    home = tmp_path / "home"
    pids: list[int] = []

    def spawned(port: int) -> None:
        pids.append(json.loads((home / "stack" / "stack.json").read_text())["pid"])
        raise RuntimeError("could not start the next server")

    with pytest.raises(RuntimeError, match="could not start the next server"):
        control.up(port=free_port(), home=home, on_spawned=spawned)
    assert len(pids) == 1 and not process_exists(pids[0])
    assert not (home / "stack" / "stack.json").exists()


@pytest.mark.integration
def test_port_clash_fails_fast_naming_the_port_and_the_way_out(tmp_path: Path):
    with socket.socket() as other:
        other.bind((LOCALHOST, 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(StackError) as err:
            control.up(port=port, home=tmp_path)
    message = str(err.value)
    assert str(port) in message and "--port" in message and MOTO_PORT_ENV in message
    assert not (tmp_path / "stack" / "stack.json").exists()


@pytest.mark.integration
def test_server_dying_on_start_reports_its_log(tmp_path: Path):
    # A moto that cannot be imported makes the server exit right after starting.
    broken = tmp_path / "broken"
    (broken / "moto").mkdir(parents=True)
    (broken / "moto" / "__init__.py").write_text("raise ImportError('moto is broken here')\n")
    home = tmp_path / "home"
    with pytest.raises(StackError) as err:
        control.up(port=free_port(), home=home, server_env={"PYTHONPATH": str(broken)})
    assert "exited" in str(err.value)
    assert "moto is broken here" in str(err.value)
    assert not (home / "stack" / "stack.json").exists()


def test_stale_state_is_cleaned_up(tmp_path: Path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "stack").mkdir()
    state = {"pid": gone.pid, "port": 1, "started_at": "x"}
    (tmp_path / "stack" / "stack.json").write_text(json.dumps(state))
    assert not control.status(tmp_path).running
    assert control.down(tmp_path) is False
    assert not (tmp_path / "stack" / "stack.json").exists()


def test_a_foreign_process_in_stack_json_is_never_signalled(tmp_path: Path):
    # pid reuse: stack.json names a live process that is not our server (this test itself).
    (tmp_path / "stack").mkdir()
    state = {"pid": os.getpid(), "port": 1, "started_at": "x"}
    (tmp_path / "stack" / "stack.json").write_text(json.dumps(state))
    assert control.down(tmp_path) is False
    assert not (tmp_path / "stack" / "stack.json").exists()


def test_card_token_key_is_generated_once_and_the_settings_win(tmp_path: Path):
    key = control.card_token_key(Settings(home=tmp_path))
    assert len(key) == 64 and control.card_token_key(Settings(home=tmp_path)) == key
    assert (tmp_path / "stack" / "card-token.key").stat().st_mode & 0o077 == 0
    given = Settings(home=tmp_path, card_token_key="from-the-environment-0123456789abcdef")
    assert control.card_token_key(given) == "from-the-environment-0123456789abcdef"


def test_a_reused_key_file_others_can_read_is_refused(tmp_path: Path):
    key = control.card_token_key(Settings(home=tmp_path))
    path = tmp_path / "stack" / "card-token.key"
    path.chmod(0o640)
    with pytest.raises(
        StackError, match=r"can be read by others \(mode 640\): run chmod 600"
    ) as err:
        control.card_token_key(Settings(home=tmp_path))
    assert key not in str(err.value)


@pytest.mark.parametrize("in_file", [True, False], ids=["key-file", "environment"])
def test_a_short_key_is_refused(tmp_path: Path, in_file: bool):
    short = "0123456789abcdef0123456789abcde"  # 31 characters
    if in_file:
        (tmp_path / "stack").mkdir()
        fd = os.open(tmp_path / "stack" / "card-token.key", os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, short.encode() + b"\n")
        os.close(fd)
        settings = Settings(home=tmp_path)
    else:
        settings = Settings(home=tmp_path, card_token_key=short)
    with pytest.raises(StackError, match="has 31 characters, fewer than 32") as err:
        control.card_token_key(settings)
    assert short not in str(err.value)
    assert control.card_token_key(Settings(home=tmp_path, card_token_key=short + "f"))
