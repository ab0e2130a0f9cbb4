"""Headless Chromium driven over the DevTools protocol on a pipe (standard library only).

``--dump-dom`` and ``--screenshot`` snapshot a page when virtual time runs out, which does not
wait for the websocket messages a Streamlit page renders from; polling the page until it shows
what the test expects does.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-pipe",
]


class Chromium:
    """One headless Chromium process; ``open`` a URL, ``text`` and ``screenshot`` its page."""

    def __init__(self, width: int = 1440, height: int = 900):
        if not Path(CHROMIUM).exists():
            raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium package")
        self._profile = tempfile.mkdtemp(prefix="txviz-chromium-")
        self._log = Path(self._profile) / "chromium.log"
        self._log_file = self._log.open("wb")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        flags = shlex.join(
            [*CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},{height}"]
        )
        # DevTools over a pipe reads commands on fd 3 and writes replies on fd 4; bash (not
        # dash) can move descriptors numbered above 9 there.
        self._proc = subprocess.Popen(
            [
                "/bin/bash",
                "-c",
                f"exec {CHROMIUM} {flags} about:blank 3<&{to_browser_r} 4>&{from_browser_w}",
            ],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            start_new_session=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._buffer = b""
        self._session: str | None = None
        self._size = (width, height)

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply["result"]

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                log_tail = self._log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"chromium closed the DevTools pipe; its log:\n{log_tail}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, False
        )
        self._session = attached["sessionId"]
        width, height = self._size
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result["result"].get("value")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for(self, expression: str, timeout: float = 60.0) -> None:
        """Poll a JavaScript expression until it is truthy."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied {expression!r}; text: {self.text()!r}")
            time.sleep(0.25)

    def screenshot(self, path: Path, height: int | None = None, settled: str = "true") -> None:
        """Save a PNG of the page, resized to ``height``, once ``settled`` (JavaScript) holds."""
        if height:
            width, _ = self._size
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            time.sleep(1.0)  # let charts re-layout to the new viewport
        self.wait_for(settled)
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                os.killpg(self._proc.pid, signal.SIGTERM)
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                    self._proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        finally:
            self._log_file.close()
            os.close(self._to_browser)
            os.close(self._from_browser)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
