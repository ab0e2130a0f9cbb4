"""The Firehose processor in a process of its own, beside the stack server.

The processor (scoring, card histories) takes about half of the server's CPU per record. Run in
the server process it shares one core, and one interpreter lock, with moto's request parsing,
S3 puts and response building; in a process of its own it runs on the second core while the
server handles the next PutRecordBatch. The server hands each delivery's transformation event
over a pipe; the process loads, reloads and runs the processor with
:func:`txviz_pipeline.stack.lambda_runtime.run`, as in-process, and the server checks the
response against AWS's contract (:func:`~txviz_pipeline.stack.lambda_runtime.outcomes_of`), which
keeps that work off the busier process. Card histories live in that one long-lived process, as they
would in one warm Lambda container.

A processor process that dies fails the delivery it was running (every record to the error
prefix, as a crashed Lambda) and is started again for the next one.

Run as ``python -m txviz_pipeline.stack.processor_process``: requests on stdin, replies on the
original stdout; the processor's own prints go to stderr (the server log).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from txviz_pipeline.stack import gc_tuning
from txviz_pipeline.stack.lambda_runtime import (
    ERR_BAD_JSON,
    ERR_FUNCTION,
    InvocationError,
    Outcome,
    outcomes_of,
    run,
)

log = logging.getLogger(__name__)

MODULE = "txviz_pipeline.stack.processor_process"
STOP_TIMEOUT_S = 5.0
# Linux's default limit for an unprivileged pipe (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1 << 20


class ProcessorProcess:
    """One processor process, started on first use (and again after it died); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None

    def start(self) -> None:
        """Start the process now (it loads while the server starts), if it is not running."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._close_locked()
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        for fd in (from_parent, from_child):
            _widen(fd)
        try:
            # Same environment as the server: processor path, card-token key, model bucket.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", MODULE], stdin=to_child, stdout=from_child, env=os.environ
            )
        finally:
            os.close(to_child)
            os.close(from_child)
        self._requests = Connection(from_parent, readable=False)
        self._replies = Connection(to_parent, writable=False)
        log.info("Firehose processor process started (pid %d)", self._proc.pid)

    def invoke(self, arn: str, event: dict[str, Any]) -> list[Outcome]:
        """:func:`lambda_runtime.invoke` in the processor process; same results and errors."""
        with self._lock:
            try:
                self._ensure_started()
            except OSError as exc:
                raise InvocationError(ERR_FUNCTION, f"cannot start the processor: {exc}") from exc
            assert self._requests is not None and self._replies is not None
            try:
                self._requests.send((arn, event))
                reply = self._replies.recv()
            except (EOFError, OSError) as exc:
                code = _exit_status(self._proc)
                self._close_locked()
                raise InvocationError(
                    ERR_FUNCTION, f"the processor process exited (status {code}): {exc!r}"
                ) from exc
        if reply[0] == "error":
            raise InvocationError(reply[1], reply[2])
        return outcomes_of(event, reply[1], reply[2])

    def close(self) -> None:
        """Stop the process: it exits when its request pipe closes."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        for conn in (self._requests, self._replies):
            if conn is not None:
                conn.close()
        self._requests = self._replies = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def _exit_status(proc: subprocess.Popen[bytes] | None) -> int | None:
    """The status of a process whose pipe just closed (it may take a moment to exit)."""
    if proc is None:
        return None
    try:
        return proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None


def _widen(fd: int) -> None:
    """Let a whole delivery (about 350 KB for 500 records) fit in the pipe: with the default
    64 KB each message took several writes, each waiting for the other process to read."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def serve(requests: Connection, replies: Connection) -> None:
    """Answer requests until the server closes the pipe."""
    while True:
        try:
            arn, event = requests.recv()
        except EOFError:
            return
        try:
            response, reasons = run(arn, event)
            reply = pickle.dumps(("ok", response, reasons), pickle.HIGHEST_PROTOCOL)
        except InvocationError as exc:
            reply = pickle.dumps(("error", exc.code, exc.message))
        except Exception as exc:  # noqa: BLE001 - a response that cannot cross the pipe
            # ... could not have been serialised by AWS either.
            message = f"response is not JSON: {type(exc).__name__}: {exc}"
            reply = pickle.dumps(("error", ERR_BAD_JSON, message))
        replies.send_bytes(reply)


def main() -> None:
    # The server's SIGTERM/SIGINT stop it; this process ends when its pipe closes or with the
    # server's process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = Connection(os.dup(0), writable=False)
    replies = Connection(os.dup(1), readable=False)
    # The processor may print (Lambda handlers log to stdout): keep that off the reply pipe.
    os.dup2(2, 1)
    os.close(0)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    gc_tuning.settle()
    serve(requests, replies)


if __name__ == "__main__":
    main()
