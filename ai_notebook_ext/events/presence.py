"""Who has a project open: the distinct users behind its sockets, in the order they came."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Person(Protocol):
    username: str
    display_name: str


def presence(subscribers: Iterable[Person]) -> list[dict[str, str]]:
    """``[{"username", "display_name"}]``, one entry per user however many tabs they have."""
    seen: dict[str, dict[str, str]] = {}
    for sub in subscribers:
        if sub.username not in seen:
            seen[sub.username] = {"username": sub.username, "display_name": sub.display_name}
    return list(seen.values())
