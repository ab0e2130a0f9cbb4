"""The embedded AWS endpoint: moto server on 127.0.0.1 with the Firehose processor hook installed.

Run as ``python -m txviz_pipeline.stack.server --port P --home H`` (``control.up`` does this, and
sets its environment: MOTO_PORT, the card-token key).
Besides moto's API it serves ``GET /txviz/processor-stats``: per-stream processor counters as JSON.
The Firehose processor runs in a child process (``processor_process``), on the second core.
Stops cleanly, with that child, on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from txviz_pipeline.private_files import PRIVATE_UMASK
from txviz_pipeline.settings import LOCALHOST
from txviz_pipeline.stack.control import STATS_PATH

log = logging.getLogger("txviz_pipeline.stack.server")


def with_stats_route(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware answering GET /txviz/processor-stats before moto sees the request."""
    from txviz_pipeline.stack.processor_hook import STATS

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == STATS_PATH and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps(STATS.snapshot()).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return wrapped


class _Stop(Exception):
    pass


def cache_moto_module_list() -> None:
    """moto's dispatcher lists its own package folder (a listdir and an isdir per entry) on
    every request, to tell a service name from a host name: 6 % of the server's CPU during a
    replay. The folder does not change while the server runs, so it is read once."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def write_put_record_batch_directly() -> None:
    """moto answers PutRecordBatch through its generic serializer, which walks botocore's output
    shape for each of the 500 RequestResponses entries: 28 % of the server's busy CPU during a
    replay (py-spy), more than the request's parsing and the processor's hand-over together. The
    answer is plain JSON of a fixed shape (FailedPutCount, Encrypted, one RecordId per record, with
    ErrorCode and ErrorMessage on failed ones), so it is written with ``json.dumps``; errors the
    backend raises (an unknown stream) still go through moto's own error response."""
    from moto.firehose.responses import FirehoseResponse

    def put_record_batch(self: FirehoseResponse) -> str:
        result = self.firehose_backend.put_record_batch(
            self._get_param("DeliveryStreamName"), self._get_param("Records")
        )
        return json.dumps(result, separators=(",", ":"))

    FirehoseResponse.put_record_batch = put_record_batch  # type: ignore[method-assign]


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def serve(port: int, home: Path | None = None) -> None:
    """Serve moto with the processor hook on 127.0.0.1:``port`` until SIGTERM/SIGINT."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from txviz_pipeline.stack import gc_tuning, lambda_runtime, processor_hook
    from txviz_pipeline.stack.processor_process import ProcessorProcess

    cache_moto_module_list()
    write_put_record_batch_directly()
    processor = ProcessorProcess()
    processor.start()
    processor_hook.install(processor.invoke)
    app = with_stats_route(DomainDispatcherApplication(create_backend_app))
    server = make_server(LOCALHOST, port, app, threaded=True, request_handler=MotoRequestHandler)
    gc_tuning.settle()
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    log.info(
        "txviz embedded stack serving on http://%s:%d (home %s, processor %s)",
        LOCALHOST,
        port,
        home,
        lambda_runtime.processor_path(),
    )
    try:
        server.serve_forever()
    except _Stop as stop:
        log.info("stopping on %s", stop)
    finally:
        server.server_close()
        processor.close()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--home", type=Path, default=None, help="the txviz home (for the log)")
    args = parser.parse_args(argv)
    os.umask(PRIVATE_UMASK)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One access-log line per PutRecordBatch would grow the log without telling anything.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        serve(args.port, args.home)
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s", LOCALHOST, args.port, exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
