"""Cron expressions and time zones of schedules (pure, no I/O).

Expressions are croniter's: 5 fields (minute hour day month weekday), or 6 with the
seconds field last. Times are computed in the schedule's time zone (so ``0 3 * * *`` is
3 am local time across daylight-saving changes) and returned in UTC. croniter is imported
on first use: the server's startup does not pay for it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CRON_MAX = 200
TIMEZONE_MAX = 64
# croniter's hashed (H) and random (R) values would make the next time differ on every
# computation, and so between servers: refused.
_HASHED_OR_RANDOM = re.compile(r"(?<![A-Za-z])[HR](?![A-Za-z])")


class CronError(ValueError):
    """An expression or time zone that cannot be used; the message says why."""


def check_cron(expression: str) -> str:
    """The expression with its fields separated by single spaces; CronError if unusable."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise CronError(
            f"cron must have 5 fields (minute hour day month weekday) or 6 (seconds last), "
            f"got {len(fields)}"
        )
    if _HASHED_OR_RANDOM.search(expression):
        raise CronError("cron: hashed (H) and random (R) values are not supported")
    normalized = " ".join(fields)
    next_time(normalized, "UTC", datetime.now(UTC))
    return normalized


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. Europe/Paris); CronError if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Paris"
        ) from None


def next_time(expression: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that the expression names, in UTC."""
    from croniter import CroniterError, croniter

    start = after.astimezone(zone(timezone))
    try:
        found = croniter(expression, start).get_next(datetime)
    except CroniterError as exc:
        raise CronError(f"cron {expression!r}: {_reason(exc)}") from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # croniter's parser
        raise CronError(f"cron {expression!r} is not valid: {exc}") from None
    if not isinstance(found, datetime):  # pragma: no cover - get_next(datetime) returns one
        raise CronError(f"cron {expression!r} names no time")
    return found.astimezone(UTC)


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "failed to find next date" in text:
        return "it names no date that exists (e.g. 30 February)"
    return text
