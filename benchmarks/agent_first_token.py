"""First token from the model to the agent panel, in a real ``jupyter lab`` and Chromium.

A scripted OpenAI-protocol server on 127.0.0.1 (in this process, one thread per request)
streams every chat answer as SSE: the wall-clock time is recorded (``time.time()``) and
the role chunk and the first text chunk are written and flushed at once, then it pauses
``--pause`` seconds (0.3) before the rest, so the first token's arrival stands apart.

- panel: the lab server's agent (provider ``openai``, streaming) talks to that server;
  the chat panel (``ai-notebook:open-agent``) sends a message with Enter; a
  MutationObserver installed before the send stamps ``Date.now()`` when the new
  ``.ainb-agent-message[data-role="assistant"]`` is added (the first text event reached
  the page) and when it first shows text. Measured: panel text time - first chunk sent.
  The lab server runs with no AI rate limit (``ai_rate_per_minute = 0``).
- baseline: the official ``openai`` client streaming from the same server directly:
  ``time.time()`` when it yields the first text chunk - first chunk sent.

Browser and server run on the same machine, so ``Date.now()`` and ``time.time()`` read
the same clock. The two sides alternate, one turn each, after ``--warmup`` turns each.

    .venv/bin/python benchmarks/agent_first_token.py [--n 20] [--warmup 3] [--pause 0.3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _lab import Browser, lab_server, machine, pct, run_command

MODEL = "test-model"
MODELS = {
    "object": "list",
    "data": [{"id": MODEL, "object": "model", "created": 1, "owned_by": "bench"}],
}
FIRST = "First"
REST = [" token,", " then the rest", " of the **answer**."]


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class Upstream:
    """The scripted model: ``sent`` holds the wall-clock time each answer's first text
    chunk was flushed to the socket, in request order."""

    def __init__(self, pause: float) -> None:
        self.sent: list[float] = []
        self.chats = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # the provider's health check lists the models
                payload = json.dumps(MODELS).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.chats += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                first = chunk({"role": "assistant", "content": ""}) + chunk({"content": FIRST})
                outer.sent.append(time.time())
                self.wfile.write(first)
                self.wfile.flush()
                time.sleep(pause)
                rest = b"".join(chunk({"content": piece}) for piece in REST)
                usage = {"prompt_tokens": 100, "completion_tokens": 8, "total_tokens": 108}
                rest += chunk({}, "stop") + chunk(None, usage=usage) + b"data: [DONE]\n\n"
                self.wfile.write(rest)
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def agent_config(url: str) -> dict[str, Any]:
    return {
        "openai_api_key": "sk-bench",
        "openai_base_url": url + "/v1",
        "gemini_api_key": "",
        "ollama_host": "http://127.0.0.1:9",  # nothing listens: not reachable, at once
        "ai_default_model": f"openai:{MODEL}",
        "ai_retries": 0,
        "agent_stream": True,
        "ai_rate_per_minute": 0.0,  # no rate limit: turns come faster than 30 a minute
    }


# Installed before each send: resolves with Date.now() when the turn's new assistant
# message is added to the panel, when it first has text, and at the next frame after.
OBSERVE = r"""
() => {
  const panel = document.querySelector('#ainb-agent-panel');
  const sel = '.ainb-agent-message[data-role="assistant"]';
  const before = panel.querySelectorAll(sel).length;
  window.__ainbFirst = new Promise(resolve => {
    const out = {};
    const check = () => {
      const all = panel.querySelectorAll(sel);
      if (all.length <= before) return;
      if (out.node === undefined) out.node = Date.now();
      if (all[all.length - 1].textContent.trim()) {
        out.text = Date.now();
        observer.disconnect();
        requestAnimationFrame(() => {
          out.frame = Date.now();
          resolve(out);
        });
      }
    };
    const observer = new MutationObserver(check);
    observer.observe(panel, { childList: true, subtree: true, characterData: true });
    setTimeout(() => {
      observer.disconnect();
      const all = panel.querySelectorAll(sel);
      resolve({ timeout: true, before, after: all.length, html: panel.innerText.slice(-600) });
    }, 20000);
  });
}
"""


def panel_turn(page: Any, upstream: Upstream, i: int) -> dict[str, float]:
    from playwright.sync_api import expect

    panel = page.locator("#ainb-agent-panel")
    box = panel.locator("textarea.ainb-agent-input")
    expect(panel.locator("button.ainb-agent-send")).to_be_enabled()
    box.fill(f"question {i}")
    chats = upstream.chats
    page.evaluate(OBSERVE)
    box.press("Enter")
    seen = page.evaluate("() => window.__ainbFirst")
    if seen.get("timeout"):
        raise RuntimeError(f"no answer in the panel after 20 s: {seen}")
    expect(panel.locator("button.ainb-agent-stop")).to_be_hidden(timeout=30_000)
    expect(panel.locator('.ainb-agent-message[data-role="assistant"]').last).to_contain_text(
        "of the answer"
    )
    assert upstream.chats == chats + 1, "one model call per turn"
    sent = upstream.sent[-1] * 1000
    return {key: value - sent for key, value in seen.items()}


def client_turn(client: Any, upstream: Upstream) -> float:
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "question"}], stream=True
    )
    got = None
    for part in stream:
        if got is None and part.choices and part.choices[0].delta.content:
            got = time.time()
    assert got is not None
    return (got - upstream.sent[-1]) * 1000


def line(name: str, values: list[float]) -> str:
    return f"{name:<34} p50 {pct(values, 50):7.1f} ms   p95 {pct(values, 95):7.1f} ms"


def main(n: int, warmup: int, pause: float) -> None:
    import openai
    from playwright.sync_api import expect, sync_playwright

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="ai-notebook-bench-"))
    panel_node: list[float] = []
    panel_text: list[float] = []
    panel_frame: list[float] = []
    direct: list[float] = []
    try:
        with (
            Upstream(pause) as upstream,
            lab_server(workdir, app_config=agent_config(upstream.url)) as server,
            sync_playwright() as pw,
        ):
            status, project = server.request("POST", "ai-notebook/api/projects", {"name": "ft"})
            assert status == 201, project
            browser = Browser(pw, server)
            try:
                page = browser.page(width=1400, height=900)
                run_command(page, "ai-notebook:open-agent", {"projectId": project["id"]})
                expect(page.locator("#ainb-agent-panel textarea.ainb-agent-input")).to_be_visible()
                client = openai.OpenAI(
                    api_key="sk-bench", base_url=upstream.url + "/v1", max_retries=0
                )
                for i in range(warmup + n):
                    seen = panel_turn(page, upstream, i)
                    base = client_turn(client, upstream)
                    tag = "warm-up" if i < warmup else f"{i - warmup + 1:3d}"
                    print(
                        f"{tag:>7}: panel node {seen['node']:6.1f}  text {seen['text']:6.1f}  "
                        f"frame {seen['frame']:6.1f} ms   direct client {base:5.2f} ms",
                        flush=True,
                    )
                    if i >= warmup:
                        panel_node.append(seen["node"])
                        panel_text.append(seen["text"])
                        panel_frame.append(seen["frame"])
                        direct.append(base)
                    time.sleep(0.2)
                errors = [e for e in browser.console_errors if "ainb" in e or "ai-notebook" in e]
                if errors:
                    print("browser console errors:", *errors, sep="\n  ")
            finally:
                browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(machine())
    print(f"n = {n} turns each side (after {warmup} warm-up), pause after first chunk {pause}s")
    print("ms after the scripted server flushed the first text chunk:")
    print(line("panel: answer node added", panel_node))
    print(line("panel: first text in the panel", panel_text))
    print(line("panel: next animation frame", panel_frame))
    print(line("baseline: openai client yields it", direct))
    p50 = pct(panel_text, 50)
    print(
        f"ratio panel / baseline: p50 {p50 / pct(direct, 50):.1f}x, "
        f"p95 {pct(panel_text, 95) / pct(direct, 95):.1f}x"
    )
    verdict = "met" if p50 <= 50 else "NOT met"
    print(f"goal: first token to the panel p50 <= 50 ms: {verdict} ({p50:.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.3)
    args = parser.parse_args()
    main(args.n, args.warmup, args.pause)
