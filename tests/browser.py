"""A real browser as the client: headless Chromium (Debian's package; `make browser` installs it) loads a
page from a local web server, the page calls the suite, and posts what it saw back to that server."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

# The page's script reports here; `api`, `token` and the calls are filled in by the test.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>suite client</title></head><body><script>
const api = %(api)s, token = %(token)s, calls = %(calls)s;
async function call([method, path, body]) {
  const headers = {authorization: "Bearer " + token};
  if (body !== null) headers["content-type"] = "application/json";
  try {
    const reply = await fetch(api + path, {method, headers, body: body === null ? undefined : JSON.stringify(body)});
    return {status: reply.status, body: await reply.json()};
  } catch (error) {
    return {error: String(error)};  // what a page sees when CORS refuses it: a TypeError, nothing else
  }
}
(async () => {
  const report = {origin: location.origin};
  for (const [name, request] of Object.entries(calls)) report[name] = await call(request);
  await fetch("/report", {method: "POST", body: JSON.stringify(report)});
})();
</script></body></html>
"""


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("headless Chromium is missing: `make browser` installs Debian's chromium package")
    return path


def page(api: str, token: str, calls: dict[str, tuple[str, str, Any]]) -> str:
    """The page: each call is (method, path, JSON body or None); its report maps call names to results."""
    return PAGE % {"api": json.dumps(api), "token": json.dumps(token), "calls": json.dumps(calls)}


class PageServer(ThreadingHTTPServer):
    def __init__(self, port: int, html: str) -> None:
        self.html = html.encode()
        self.reports: queue.Queue[dict[str, Any]] = queue.Queue()
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:
        if self.path != "/":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(self.server.html)))
        self.end_headers()
        self.wfile.write(self.server.html)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.reports.put(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def page_server(html: str, port: int = 0, wait_for_port: float = 300) -> Iterator[PageServer]:
    """Serve `html` on 127.0.0.1:`port` (0: any free port). A fixed port another test session holds right
    now (two checkouts testing at once) is waited for rather than failed on."""
    deadline = time.monotonic() + wait_for_port
    while True:
        try:
            server = PageServer(port, html)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def load(server: PageServer, url: str, timeout: float = 120) -> dict[str, Any]:
    """Open `url` in a fresh headless Chromium and return the report its page posts back."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        browser = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            return server.reports.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"the page at {url} reported nothing within {timeout:.0f}s")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGKILL)
            browser.wait(30)
