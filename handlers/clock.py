"""Wall-clock times as the ledger and the items write them: UTC, ISO 8601 with milliseconds and a ``Z``."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.sssZ``: formatted by hand, as ``isoformat`` gives microseconds and ``+00:00``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def expires_at(started_at: str, ttl_days: int) -> int:
    """The TTL (epoch seconds) of a file's items: ``ttl_days`` after its first attempt, so every retry writes
    the same value (now, if ``started_at`` is unreadable)."""
    try:
        start = dt.datetime.fromisoformat(started_at)
    except ValueError:
        start = now()
    return int(start.timestamp()) + ttl_days * 86400


def since_ms(event_time: str | None) -> float | None:
    """Milliseconds since the notification's ``eventTime``; ``None`` when it is missing or unreadable.

    S3 always sends UTC with ``Z``; a hand-made or backfilled event may carry no zone at all, which is read
    as UTC: subtracting a naive time from an aware one raises, and this runs after the file is COMPLETED,
    so it must never raise (a completed file would be retried for a latency metric).
    """
    if not event_time or not isinstance(event_time, str):
        return None
    try:
        then = dt.datetime.fromisoformat(event_time)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max(0.0, (now() - then).total_seconds() * 1000)
