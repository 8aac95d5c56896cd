"""Helpers of the project event socket tests: connect as a user, read events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from identity import auth


async def connect(jp_ws_fetch: Any, pid: int, user: str) -> tuple[Any, dict[str, Any]]:
    """An open socket of ``user`` on project ``pid`` and its hello."""
    ws = await jp_ws_fetch("ai-notebook", "api", "projects", str(pid), "events", headers=auth(user))
    hello = await next_event(ws)
    assert hello["type"] == "hello", hello
    return ws, hello


async def next_event(ws: Any, within: float = 15) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), within)
    assert message is not None, f"socket closed ({ws.close_code} {ws.close_reason})"
    return json.loads(message)


async def until(ws: Any, kind: str, within: float = 15, **match: Any) -> dict[str, Any]:
    """The next event of type ``kind`` (with the ``match`` fields), skipping others."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        event = await next_event(ws, max(0.01, deadline - loop.time()))
        if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
            return event


async def drain(ws: Any, within: float = 0.5) -> list[dict[str, Any]]:
    """Every event arriving within ``within`` seconds (stops early if the socket closes)."""
    seen = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (left := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(ws.read_message(), left)
        except TimeoutError:
            break
        if message is None:
            break
        seen.append(json.loads(message))
    return seen
