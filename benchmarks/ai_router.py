"""AI layer costs: router overhead per call, cache hit latency, extension import time.

1. Overhead: the same non-streamed chat completion through the official ``openai`` client
   directly vs through ``Router.chat`` (provider, analytics record, limiter), both against
   one local OpenAI-protocol server (tests/ai_server.py), alternating, n calls each.
2. Cache: a temperature-0 call answered from the router's cache.
3. Import: ``import ai_notebook_ext.app`` in a fresh interpreter (the AI layer is part of
   it), the AI layer alone, and the three client libraries (what the first call costs:
   loading the extension never imports them).

    .venv/bin/python benchmarks/ai_router.py [--n 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from ai_server import ScriptedServer, Step  # noqa: E402

from ai_notebook_ext.ai.providers.openai import OpenAIProvider  # noqa: E402
from ai_notebook_ext.ai.router import ResponseCache, Router, TokenBucket  # noqa: E402
from ai_notebook_ext.ai.types import message  # noqa: E402

ANSWER = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
MESSAGES = [message("user", "hi")]


def ms(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


async def overhead(n: int) -> None:
    with ScriptedServer() as server:
        server.script(*[Step(body=ANSWER)] * (2 * n + 50))
        provider = OpenAIProvider(api_key="k", base_url=server.url + "/v1")

        async def record(_row):
            return None

        router = Router(
            {"openai": provider}, recorder=record, limiter=TokenBucket(per_minute=10**9)
        )
        client = provider.client()

        async def direct() -> float:
            start = time.perf_counter()
            await client.chat.completions.create(model="m", messages=MESSAGES, timeout=60)
            return time.perf_counter() - start

        async def routed() -> float:
            start = time.perf_counter()
            async for _ in router.chat("u", "openai:m", MESSAGES):
                pass
            return time.perf_counter() - start

        for _ in range(20):
            await direct()
            await routed()
        a, b = [], []
        for _ in range(n):
            a.append(await direct())
            b.append(await routed())
        (a50, a95), (b50, b95) = ms(a), ms(b)
        print(f"1. chat completion, n={n} each, same local server")
        print(f"   openai client directly   p50 {a50:7.3f} ms  p95 {a95:7.3f} ms")
        print(f"   through the router       p50 {b50:7.3f} ms  p95 {b95:7.3f} ms")
        print(f"   added by the router      p50 {b50 - a50:7.3f} ms  (goal <= 2 ms)")

        cached = Router({"openai": provider}, cache=ResponseCache(), recorder=record)
        async for _ in cached.chat("u", "openai:m", MESSAGES, cache=True, temperature=0):
            pass
        hits = []
        for _ in range(n):
            start = time.perf_counter()
            async for _ in cached.chat("u", "openai:m", MESSAGES, cache=True, temperature=0):
                pass
            hits.append(time.perf_counter() - start)
        h50, h95 = ms(hits)
        print(f"2. cache hit                p50 {h50:7.3f} ms  p95 {h95:7.3f} ms  (goal < 5 ms)")


def import_times(repeat: int = 5) -> None:
    def best(code: str) -> float:
        times = []
        for _ in range(repeat):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(float(out.stdout.strip().splitlines()[-1]))
        return statistics.median(times) * 1000

    app = best("import ai_notebook_ext.app")
    layer = best(
        "import ai_notebook_ext.kernel.magics, ai_notebook_ext.ai.router, "
        "ai_notebook_ext.ai.providers.openai, ai_notebook_ext.ai.providers.gemini, "
        "ai_notebook_ext.ai.providers.ollama"
    )
    clients = best("import openai, google.genai, ollama")
    print(f"3. import ai_notebook_ext.app (server extension, AI layer included) {app:8.1f} ms")
    print(f"   what %load_ext loads for the magics (router, providers)        {layer:8.1f} ms")
    print(f"   the three client libraries, paid at the first call only       {clients:8.1f} ms")
    print(f"   (median of {repeat} fresh interpreters each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(overhead(args.n))
    import_times()


if __name__ == "__main__":
    main()
