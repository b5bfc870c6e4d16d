"""Reindex: give ``timeShard`` to the record items that lack it, so the time index reaches them.

Items written before the time index existed (or while ``[table] index_data_types`` was off) have no ``timeShard``:
DynamoDB's backfill of a new index only takes items that have its key, so queries by data type and of rejected
records miss them. This operation scans the table (``Segment``/``TotalSegments``: segments read in parallel),
and sets on each record item without one the value the handler gives it now (``contracts.item_time_shard``: the
file's seed plus the record's position, over the configured shard count):

- idempotent: each write is conditional on the item still lacking ``timeShard`` (an item the handler rewrote
  meanwhile is left alone), so running it twice, or alongside the pipeline, writes each item at most once;
- rate-limited: at most ``rate`` writes per second over all segments (each costs a write unit or more in the
  table and in the index, and its replication);
- resumable: with a state file, each segment's position is saved after every page, and a new run with the same
  file carries on from there (a finished segment is not read again);
- a dry run reads and counts, by ``timeShard`` prefix, what it would write.

It writes in one region (the primary by default); the global table replicates the attribute to the others.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from handlers.contracts import REJECTED_PREFIX, TIME_SHARD, item_time_shard
from tap_templates.errors import ConfigError
from tap_templates.operations.environment import Environment, error_code, reaching

# What the computation needs of an item (the scan reads whole items, but returns only these).
NAMES = {"#r": "recordId", "#t": "timestamp", "#f": "sourceFile", "#l": "sourceLine", "#i": "sourceIndex",
         "#p": "processingStatus", "#s": TIME_SHARD}
PROJECTION = "#r, #t, #f, #l, #i, #p"
FILTER = "attribute_not_exists(#s) AND attribute_exists(#p) AND attribute_exists(#f)"


@dataclass
class Progress:
    """Counts so far, over every segment."""

    scanned: int = 0
    written: int = 0
    skipped: int = 0  # already indexed by the time the write came (the handler rewrote it), or not indexed
    by_prefix: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class RateLimiter:
    """At most ``rate`` calls of ``wait`` return per second, over every thread."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        if start > now:
            time.sleep(start - now)


class State:
    """Each segment's next start key (``None``: from the beginning; ``"done"``), saved to ``path`` if given."""

    def __init__(self, path: Path | None, segments: int) -> None:
        self.path, self.lock = path, threading.Lock()
        self.positions: dict[str, Any] = {str(n): None for n in range(segments)}
        if path is not None and path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                raise ConfigError(f"{path} is not a reindex state file") from None
            if saved.get("segments") != segments:
                raise ConfigError(f"{path} was written by a run with --segments {saved.get('segments')}: resume with "
                                  f"the same number, or start over with another state file")
            self.positions = saved["positions"]

    def set(self, segment: int, position: Any) -> None:
        with self.lock:
            self.positions[str(segment)] = position
            if self.path is not None:
                body = json.dumps({"segments": len(self.positions), "positions": self.positions}, sort_keys=True)
                temporary = self.path.with_suffix(self.path.suffix + ".tmp")
                temporary.write_text(body, encoding="utf-8")
                temporary.replace(self.path)

    @property
    def finished(self) -> bool:
        return all(p == "done" for p in self.positions.values())


def target(item: dict[str, Any], env: Environment) -> str | None:
    """The ``timeShard`` the item gets, or None when it stays out of the index (a valid record while data types
    are not indexed, or an item that is not a record's)."""
    table = env.cfg.table
    rejected = item.get("recordId", {}).get("S", "").startswith(f"{REJECTED_PREFIX}#")
    if not rejected and not table.index_data_types:
        return None
    return item_time_shard(item, table.rejected_shards if rejected else table.data_type_shards)


def reindex(env: Environment, region: str, segments: int = 4, rate: float = 500.0, state_path: Path | None = None,
            dry_run: bool = False, on_page: Callable[[Progress], None] | None = None) -> Progress:
    """Scan and index (see the module docstring); returns the counts. Safe to stop at any point."""
    state = State(state_path, segments)
    progress = Progress()
    limiter = RateLimiter(rate)
    dynamodb = env.client("dynamodb", region)
    try:
        with reaching(region):
            dynamodb.describe_table(TableName=env.table)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ConfigError(f"table {env.table} does not exist in {region}: deploy the environment first") from None
        raise
    with ThreadPoolExecutor(max_workers=segments) as pool:
        for done in [pool.submit(_segment, env, dynamodb, region, n, segments, state, progress, limiter, dry_run,
                                 on_page) for n in range(segments)]:
            done.result()
    return progress


def _segment(env: Environment, dynamodb: Any, region: str, number: int, segments: int, state: State,
             progress: Progress, limiter: RateLimiter, dry_run: bool, on_page: Callable[[Progress], None] | None
             ) -> None:
    start = state.positions[str(number)]
    while start != "done":
        request: dict[str, Any] = {"TableName": env.table, "Segment": number, "TotalSegments": segments,
                                   "FilterExpression": FILTER, "ProjectionExpression": PROJECTION,
                                   "ExpressionAttributeNames": NAMES}
        if start is not None:
            request["ExclusiveStartKey"] = start
        with reaching(region):
            page = dynamodb.scan(**request)
        for item in page.get("Items", []):
            _one(env, dynamodb, region, item, progress, limiter, dry_run)
        with progress.lock:
            progress.scanned += page.get("ScannedCount", 0)
        start = page.get("LastEvaluatedKey") or "done"
        if not dry_run:
            state.set(number, start)
        if on_page is not None:
            on_page(progress)


def _one(env: Environment, dynamodb: Any, region: str, item: dict[str, Any], progress: Progress,
         limiter: RateLimiter, dry_run: bool) -> None:
    shard = target(item, env)
    if shard is None:
        with progress.lock:
            progress.skipped += 1
        return
    if not dry_run:
        limiter.wait()
        try:
            with reaching(region):
                dynamodb.update_item(
                    TableName=env.table, Key={"recordId": item["recordId"], "timestamp": item["timestamp"]},
                    UpdateExpression="SET #s = :s",
                    ConditionExpression="attribute_exists(#r) AND attribute_not_exists(#s)",
                    ExpressionAttributeNames={"#s": TIME_SHARD, "#r": "recordId"},
                    ExpressionAttributeValues={":s": {"S": shard}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            with progress.lock:
                progress.skipped += 1
            return
    with progress.lock:
        progress.written += 1
        progress.by_prefix[shard.rsplit("#", 1)[0]] += 1
