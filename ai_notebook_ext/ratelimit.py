"""Per-user API rate limits: a token bucket per (user, route class), in memory.

Each route class (``read``, ``write``, ``execute``, ``upload``, ``ai``) has a rate
(requests per second, refilled continuously) and a burst (the bucket's size). A request
spends one token of its caller's bucket for its class; an empty bucket means 429 with
the seconds until a token is back. Buckets live in this server's memory, bounded: the
least recently used ones go first, and an idle bucket (full again) is the same as none.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

CLASSES = ("read", "write", "execute", "upload", "ai")

# Generous: far above what a person clicking (or the test suite) does, low enough that
# one runaway script cannot take the whole server.
DEFAULT_LIMITS: dict[str, dict[str, float]] = {
    "read": {"rate": 100.0, "burst": 1000},
    "write": {"rate": 50.0, "burst": 500},
    "execute": {"rate": 50.0, "burst": 500},
    "upload": {"rate": 5.0, "burst": 50},
    "ai": {"rate": 5.0, "burst": 50},
}
MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens per second; 0: the class is not limited
    burst: float  # bucket size


def parse_limits(value: Mapping[str, Any]) -> dict[str, Limit]:
    """The defaults overridden by ``value`` (``{"execute": {"rate": 2, "burst": 5}}``);
    ValueError naming the problem otherwise."""
    limits = {n: Limit(float(d["rate"]), float(d["burst"])) for n, d in DEFAULT_LIMITS.items()}
    for name, spec in value.items():
        if name not in CLASSES:
            raise ValueError(f"rate_limits: unknown route class {name!r} (known: {CLASSES})")
        if not isinstance(spec, Mapping) or set(spec) - {"rate", "burst"}:
            raise ValueError(f"rate_limits[{name!r}] must be {{'rate': per second, 'burst': n}}")
        rate = spec.get("rate", limits[name].rate)
        burst = spec.get("burst", limits[name].burst)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (rate, burst)):
            raise ValueError(f"rate_limits[{name!r}]: rate and burst must be numbers")
        if not (math.isfinite(rate) and math.isfinite(burst)) or rate < 0:
            raise ValueError(f"rate_limits[{name!r}]: rate must be 0 (no limit) or more")
        if rate > 0 and burst < 1:
            raise ValueError(f"rate_limits[{name!r}]: burst must be at least 1")
        limits[name] = Limit(float(rate), float(burst))
    return limits


class RateLimiter:
    """Token buckets per (user, route class)."""

    def __init__(
        self,
        limits: Mapping[str, Limit],
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str], list[float]] = OrderedDict()

    def take(self, user: str, route_class: str) -> float:
        """Spend one token; 0.0 if allowed, else the seconds until one is back."""
        limit = self.limits.get(route_class)
        if limit is None or limit.rate <= 0:
            return 0.0
        now = self.clock()
        key = (user, route_class)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._evict(now)
            bucket = self._buckets[key] = [limit.burst, now]
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(limit.burst, bucket[0] + (now - bucket[1]) * limit.rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return 0.0
        return (1.0 - bucket[0]) / limit.rate

    def _evict(self, now: float) -> None:
        """Drop idle buckets (full again: forgetting them changes nothing) from the least
        recently used end; past ``max_buckets``, the least recently used ones anyway."""
        while self._buckets:
            (_user, route_class), (tokens, last) = next(iter(self._buckets.items()))
            limit = self.limits[route_class]
            idle = tokens + (now - last) * limit.rate >= limit.burst
            if not idle and len(self._buckets) < self.max_buckets:
                return
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(seconds: float) -> int:
    """The Retry-After header's whole seconds: rounded up, at least 1."""
    return max(1, math.ceil(seconds))
