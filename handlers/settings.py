"""Function configuration, read from the environment the template sets.

Read once per container (``current()`` caches it) because the environment of a Lambda container never
changes; ``load_settings()`` reads afresh, so tests can change the environment and get a new config.
A missing or malformed value raises ``SettingsError`` at the first invocation: a misconfigured function
must fail loudly (its messages are retried and alarmed on), never process with a guessed value.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

GIB = 1024**3
MIB = 1024**2


class SettingsError(ValueError):
    """An environment variable is missing or malformed; the message names it and the expected value."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the processor reads from its environment. Sizes are in bytes, durations in ms."""

    table_name: str
    dlq_url: str
    region: str
    record_ttl_days: int = 365
    max_object_bytes: int = 2 * GIB
    max_decompression_ratio: int = 100
    max_record_bytes: int = MIB
    write_concurrency: int = 4
    deadline_margin_ms: int = 10_000
    duplicate_window: int = 20_000
    checkpoint_interval_ms: int = 30_000


# (environment variable, field, minimum, maximum) of the optional integer settings.
_INTEGERS: tuple[tuple[str, str, int, int], ...] = (
    ("RECORD_TTL_DAYS", "record_ttl_days", 1, 36_500),
    ("MAX_OBJECT_BYTES", "max_object_bytes", 1, 5 * 1024 * GIB),
    ("MAX_DECOMPRESSION_RATIO", "max_decompression_ratio", 1, 100_000),
    ("MAX_RECORD_BYTES", "max_record_bytes", 1024, 64 * MIB),
    ("WRITE_CONCURRENCY", "write_concurrency", 0, 32),
    ("DEADLINE_MARGIN_MS", "deadline_margin_ms", 0, 900_000),
    ("DUPLICATE_WINDOW", "duplicate_window", 100, 10_000_000),
    ("CHECKPOINT_INTERVAL_MS", "checkpoint_interval_ms", 0, 900_000),
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check the settings from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    required = {}
    for name, attr in (("TABLE_NAME", "table_name"), ("DLQ_URL", "dlq_url")):
        value = env.get(name, "").strip()
        if not value:
            raise SettingsError(f"environment variable {name} is not set; the template sets it")
        required[attr] = value
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not region:
        raise SettingsError("AWS_REGION is not set; the Lambda runtime sets it")
    optional = {}
    for name, attr, low, high in _INTEGERS:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"environment variable {name}={raw!r} is not an integer") from None
        if not low <= value <= high:
            raise SettingsError(f"environment variable {name}={value} must be between {low} and {high}")
        optional[attr] = value
    return Settings(region=region, **required, **optional)


@functools.cache
def current() -> Settings:
    """The settings of this container, read at the first call. ``current.cache_clear()`` forgets them."""
    return load_settings()
