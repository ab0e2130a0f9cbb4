"""A metering proxy in front of a moto server: what AWS would meter on a delivery stream.

Firehose meters each stream's Direct PUT quota per second on what it receives. The proxy
forwards every request to the server unchanged and, for each PutRecordBatch it sees, notes when
it arrived, to which stream, how many records and how many bytes of record data (base64
decoded, as AWS counts them), and the records themselves, so a test can check per-second totals
against a quota and which rows were sent. It listens on 127.0.0.1 only and runs in the test's
process, on a thread, so it stops with the ``MeteringProxy`` context.
"""

from __future__ import annotations

import base64
import bisect
import http.client
import json
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from txviz_pipeline.settings import LOCALHOST

PUT_RECORD_BATCH = "Firehose_20150804.PutRecordBatch"
# Headers the proxy sets itself, or that describe one hop only.
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class Put:
    at: float  # time.monotonic() when the request arrived
    stream: str
    records: int
    nbytes: int


@dataclass
class Meter:
    puts: list[Put] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, at: float, body: bytes) -> None:
        request = json.loads(body)
        data = [base64.b64decode(r["Data"]) for r in request.get("Records", [])]
        put = Put(at, request["DeliveryStreamName"], len(data), sum(map(len, data)))
        with self.lock:
            self.puts.append(put)
            self.records.extend(data)

    def per_second(self, *, stream: str | None = None) -> dict[str, float]:
        """The largest record, byte and call totals of any one-second window: every window
        opening at a call (the worst case of a sliding window) and every whole second from
        the first call (aligned windows)."""
        with self.lock:
            puts = sorted(
                (p for p in self.puts if stream is None or p.stream == stream), key=lambda p: p.at
            )
        worst = {"records": 0.0, "bytes": 0.0, "requests": 0.0}
        if not puts:
            return worst
        times = [p.at for p in puts]
        sums = {"records": [0], "bytes": [0], "requests": [0]}
        for p in puts:
            sums["records"].append(sums["records"][-1] + p.records)
            sums["bytes"].append(sums["bytes"][-1] + p.nbytes)
            sums["requests"].append(sums["requests"][-1] + 1)
        aligned = [times[0] + k for k in range(math.ceil(times[-1] - times[0]) + 1)]
        for w in times + aligned:
            i, j = bisect.bisect_left(times, w), bisect.bisect_left(times, w + 1.0)
            for key, prefix in sums.items():
                worst[key] = max(worst[key], prefix[j] - prefix[i])
        return worst

    def totals(self) -> dict[str, dict[str, float]]:
        """Per stream: records, bytes, calls and the seconds from the first call to the last."""
        with self.lock:
            puts = list(self.puts)
        out: dict[str, dict[str, float]] = defaultdict(
            lambda: {"records": 0, "bytes": 0, "requests": 0, "first": math.inf, "last": 0.0}
        )
        for p in puts:
            t = out[p.stream]
            t["records"] += p.records
            t["bytes"] += p.nbytes
            t["requests"] += 1
            t["first"] = min(t["first"], p.at)
            t["last"] = max(t["last"], p.at)
        return dict(out)


class MeteringProxy:
    """``with MeteringProxy(upstream_port) as proxy:`` point clients at ``proxy.url``."""

    def __init__(self, upstream_port: int) -> None:
        self.meter = Meter()
        meter, upstream = self.meter, upstream_port

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                # When the request line and headers are in: the body follows in the same burst.
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("X-Amz-Target") == PUT_RECORD_BATCH:
                    meter.note(arrived, body)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                headers["Host"] = self.headers.get("Host", f"{LOCALHOST}:{upstream}")
                conn = http.client.HTTPConnection(LOCALHOST, upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                finally:
                    conn.close()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in _HOP_HEADERS:
                        self.send_header(k, v)
                # A HEAD answer has no body but says how long the object is.
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

            def log_message(self, *args) -> None:  # quiet: tests read the meter, not a log
                pass

        self._server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{LOCALHOST}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> MeteringProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
