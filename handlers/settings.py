"""Function configuration, read from the environment the template sets.

Read once per container (``current()`` caches it) because the environment of a Lambda container never
changes; ``load_settings()`` reads afresh, so tests can change the environment and get a new config.
A missing or malformed value raises ``SettingsError`` at the first invocation: a misconfigured function
must fail loudly (its messages are retried and alarmed on), never process with a guessed value.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from handlers.contracts import DEFAULT_DATA_TYPE_SHARDS, DEFAULT_REJECTED_SHARDS, ENVELOPE_FIELDS, MAX_SHARDS

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
    # Secrets Manager name of the HMAC key, and (data type, dotted field paths) pairs to pseudonymize;
    # no fields: pseudonymization is off (see ``pseudonymize``).
    pseudonymization_secret_id: str = ""
    pseudonymize_fields: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # How items spread over the time index (``contracts``): shards per data type and of rejected records, and
    # whether valid records are indexed at all.
    data_type_shards: int = DEFAULT_DATA_TYPE_SHARDS
    rejected_shards: int = DEFAULT_REJECTED_SHARDS
    index_data_types: bool = True


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
    ("DATA_TYPE_SHARDS", "data_type_shards", 1, MAX_SHARDS),
    ("REJECTED_SHARDS", "rejected_shards", 1, MAX_SHARDS),
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
    indexed = env.get("INDEX_DATA_TYPES", "").strip()
    if indexed:
        if indexed not in ("true", "false"):
            raise SettingsError(f"environment variable INDEX_DATA_TYPES={indexed!r} must be true or false")
        optional["index_data_types"] = indexed == "true"
    secret_id, fields = _pseudonymization(env)
    return Settings(region=region, **required, **optional, pseudonymization_secret_id=secret_id,
                    pseudonymize_fields=fields)


def _pseudonymization(env: Mapping[str, str]) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """``PSEUDONYMIZATION_SECRET_ID`` and ``PSEUDONYMIZE_FIELDS``, checked. Fields without a secret is an
    error, never "off": the records would be stored with the personal data the template asked to hide."""
    secret_id = env.get("PSEUDONYMIZATION_SECRET_ID", "").strip()
    raw = env.get("PSEUDONYMIZE_FIELDS", "").strip()
    if not raw:
        return secret_id, ()
    expected = 'a JSON object of data type -> list of dotted field paths, e.g. {"event": ["properties.email"]}'
    try:
        doc = json.loads(raw)
    except ValueError:
        raise SettingsError(f"environment variable PSEUDONYMIZE_FIELDS is not JSON; expected {expected}") from None
    if not isinstance(doc, dict):
        raise SettingsError(f"environment variable PSEUDONYMIZE_FIELDS must be {expected}")
    fields = []
    for data_type, paths in sorted(doc.items()):
        if not data_type or not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise SettingsError(f"PSEUDONYMIZE_FIELDS[{data_type!r}] must be a list of dotted field paths")
        for path in paths:
            if not path or "" in path.split("."):
                raise SettingsError(f"PSEUDONYMIZE_FIELDS[{data_type!r}]: {path!r} is not a dotted field path")
            if path.split(".")[0] in ENVELOPE_FIELDS:  # the item's key: pseudonymized, it would break
                raise SettingsError(f"PSEUDONYMIZE_FIELDS[{data_type!r}]: {path!r} is part of the item key "
                                    "(id, dataType, timestamp), which cannot be pseudonymized")
        if paths:
            fields.append((data_type, tuple(dict.fromkeys(paths))))
    if fields and not secret_id:
        raise SettingsError("PSEUDONYMIZE_FIELDS is set but PSEUDONYMIZATION_SECRET_ID is not: the template "
                            "sets both (the HMAC key's secret name)")
    return secret_id, tuple(fields)


@functools.cache
def current() -> Settings:
    """The settings of this container, read at the first call. ``current.cache_clear()`` forgets them."""
    return load_settings()
