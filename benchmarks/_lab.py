"""Shared pieces of the browser benchmarks (workspace_*.py): a ``jupyter lab`` with the
checkout's build of the labextension and Debian's Chromium through Python Playwright, from
the browser tests' helpers (tests/browser.py), plus REST calls and percentiles.

Each benchmark makes a temporary directory (SQLite database, server root) and deletes it
when it finishes, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import json
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from browser import CHROMIUM, Browser, lab_server, run_command  # noqa: E402

__all__ = ["Browser", "lab", "machine", "pct", "rest", "run_command", "summary"]

API = "ai-notebook/api/"

# Wraps fetch and WebSocket before JupyterLab loads, to timestamp (performance.now()) the
# requests to our API, the project's events and kernel WebSocket messages: where a click's
# time goes. Cheap: one array push per request or message.
TRACE_SCRIPT = r"""
(() => {
  const trace = (window.__ainbTrace = []);
  const origFetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = String(typeof input === 'string' ? input : input.url).split('?')[0];
    if (!url.includes('/ai-notebook/api/')) return origFetch(input, init);
    const method = (init && init.method) || (typeof input === 'string' ? 'GET' : input.method);
    trace.push({ t: performance.now(), what: 'fetch', method, url });
    return origFetch(input, init).then(resp => {
      trace.push({ t: performance.now(), what: 'response', method, url });
      return resp;
    });
  };
  const Orig = window.WebSocket;
  class Traced extends Orig {
    constructor(url, protocols) {
      super(url, protocols);
      const kernel = /\/api\/kernels\/([^/?]+)/.exec(String(url));
      if (kernel) {
        this.__kernel = kernel[1];
        this.addEventListener('message', () =>
          trace.push({ t: performance.now(), what: 'kernel-message', kernel: kernel[1] }));
      }
      if (String(url).includes('/ai-notebook/api/')) {
        this.addEventListener('message', ev => {
          let type = '?';
          let status = '';
          try {
            const msg = JSON.parse(ev.data);
            type = msg.type;
            status = msg.status || '';
          } catch (e) {}
          trace.push({ t: performance.now(), what: 'event', type, status });
        });
      }
    }
    send(data) {
      if (this.__kernel) {
        trace.push({ t: performance.now(), what: 'kernel-send', kernel: this.__kernel });
      }
      return super.send(data);
    }
  }
  window.WebSocket = Traced;
})();
"""


@contextmanager
def lab(multi_user: bool = False, trace: bool = False) -> Iterator[tuple[Any, Browser]]:
    """``(server, browser)``: a lab server in a temp dir and a headless Chromium."""
    from playwright.sync_api import sync_playwright

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="ai-notebook-bench-"))
    try:
        with lab_server(workdir, multi_user=multi_user) as server, sync_playwright() as pw:
            browser = Browser(pw, server)
            if trace:
                original = browser.blank_page

                def traced_page(width: int = 1400, height: int = 900) -> Any:
                    page = original(width, height)
                    page.add_init_script(TRACE_SCRIPT)
                    return page

                browser.blank_page = traced_page  # type: ignore[method-assign]
            try:
                yield server, browser
            finally:
                browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def rest(server: Any, method: str, path: str, body: Any = None, user: str | None = None) -> Any:
    """A call to our API as ``user`` (multi-user servers) or with the server's token."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + API + path, data=data, method=method)
    token = f"token-{user}" if user else server.token
    req.add_header("Authorization", f"token {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def pct(values: list[float], q: int) -> float:
    """The q-th percentile (statistics.quantiles, as the other benchmarks)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100)[q - 1]


def summary(values: list[float]) -> str:
    return f"p50 {pct(values, 50):7.1f} ms   p95 {pct(values, 95):7.1f} ms   n = {len(values)}"


def machine() -> str:
    import jupyterlab

    cores = len(__import__("os").sched_getaffinity(0))
    try:
        chromium = subprocess.run(
            [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except OSError:
        chromium = "chromium ?"
    return (
        f"{platform.system()} {platform.machine()}, {cores} cores, Python "
        f"{platform.python_version()}, JupyterLab {jupyterlab.__version__}, {chromium}"
    )
