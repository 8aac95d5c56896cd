"""A local HTTP server on 127.0.0.1 speaking AI providers' wire protocols, scripted per test.

Each request takes the next step of the script: a JSON answer, an SSE stream (OpenAI), an
NDJSON stream (Ollama), a delay, or a malformed body. Requests are recorded so a test can
check what the official client sent. Real HTTP, real clients: only the model is scripted.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Step:
    """One scripted answer."""

    def __init__(
        self,
        status: int = 200,
        body: Any = None,
        *,
        sse: list[Any] | None = None,
        ndjson: list[Any] | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.status, self.body, self.sse, self.ndjson = status, body, sse, ndjson
        self.raw, self.headers, self.delay = raw, headers or {}, delay


class ScriptedServer:
    """``with ScriptedServer() as server: server.script(Step(...)); ... server.url``"""

    def __init__(self) -> None:
        self.steps: deque[Any] = deque()
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                step = outer.steps.popleft() if outer.steps else Step(500, {"error": "no step"})
                if callable(step):  # a step computed from the request (e.g. a tool result)
                    step = step(body)
                if step.delay:
                    time.sleep(step.delay)
                if step.sse is not None or step.ndjson is not None:
                    kind = "text/event-stream" if step.sse is not None else "application/x-ndjson"
                    self.send_response(step.status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Connection", "close")
                    for name, value in step.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if step.sse is not None:
                        for event in step.sse:
                            data = event if isinstance(event, str) else json.dumps(event)
                            self.wfile.write(f"data: {data}\n\n".encode())
                            self.wfile.flush()
                    else:
                        for event in step.ndjson or []:
                            self.wfile.write(json.dumps(event).encode() + b"\n")
                            self.wfile.flush()
                    self.close_connection = True
                    return
                payload = step.raw if step.raw is not None else json.dumps(step.body).encode()
                self.send_response(step.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in step.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def script(self, *steps: Any) -> None:
        """Queue answers: Steps, or callables that make one from the request's body."""
        self.steps.extend(steps)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def collect(provider: Any, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
    """Every chunk of ``provider.chat(...)``, run to the end on a fresh event loop."""

    async def run() -> list[Any]:
        return [c async for c in provider.chat(model, messages, **kwargs)]

    return asyncio.run(run())
