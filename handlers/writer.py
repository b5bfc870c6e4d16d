"""Table writes: BatchWriteItem requests of 25 pre-serialized items, a few in flight at once.

Why it looks like this: with boto3's defaults (``Table.batch_writer()``), turning an item into a request
costs several hundred microseconds of CPU (TypeSerializer, parameter validation, botocore's serializer),
far more than parsing and validating the record. Here items arrive already serialized (``items``), and
the request body is concatenated from them. botocore still does everything else (endpoint, signing, its
retries of throttling/5xx/timeouts in ``standard`` mode, response parsing): the body is handed over
through two documented client events. ``provide-client-params`` moves it from the call's parameters into
the request context (so botocore serializes only a tiny placeholder), and ``before-call`` puts it in the
serialized request, before signing. Each retry re-signs the same body.

``UnprocessedItems`` are retried with capped, jittered exponential backoff; a batch that still fails
raises ``TableUnavailable``, and a ``CircuitBreaker`` counts such failures so an invocation stops early
when the table keeps failing. Batches complete in any order but are committed (``on_commit``) strictly in
submission order, so a checkpoint never claims a record whose batch has not been written.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from handlers.items import Key

BATCH_SIZE = 25  # DynamoDB's maximum per BatchWriteItem
BODY_PARAM = "TapPreserializedBody"
_CONTEXT_KEY = "tap_preserialized_body"
MAX_UNPROCESSED_RETRIES = 8
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 5.0


class InlineExecutor:
    """Runs each request on the calling thread (``WRITE_CONCURRENCY=0``): no concurrency, and no thread
    hand-off either, for measuring the write path's CPU cost with the network stubbed out."""

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        try:
            future.set_result(fn())
        except Exception as exc:
            future.set_exception(exc)
        return future


class TableUnavailable(Exception):
    """The table kept refusing a batch after every retry (throttling, errors, unprocessed items)."""


def _take_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    body = params.pop(BODY_PARAM, None)
    if body is not None:
        context[_CONTEXT_KEY] = body


def _put_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    body = context.get(_CONTEXT_KEY)
    if body is not None:
        params["body"] = body


def install(client: Any) -> Any:
    """Teach a DynamoDB client to send pre-serialized BatchWriteItem bodies (idempotent)."""
    events = client.meta.events
    events.register("provide-client-params.dynamodb.BatchWriteItem", _take_body, unique_id="tap-take-body")
    events.register("before-call.dynamodb.BatchWriteItem", _put_body, unique_id="tap-put-body")
    return client


_PUT = b'{"PutRequest":{"Item":'
_NEXT_PUT = b"}}," + _PUT


def request_body(table: str, items: Any) -> bytes:
    """The JSON body of a BatchWriteItem putting ``items`` (serialized attribute maps) into ``table``.
    Each item's bytes are copied once, by the join (no per-item wrapping)."""
    puts = (_PUT, _NEXT_PUT.join(items), b"}}") if items else ()
    return b"".join((b'{"RequestItems":{', orjson.dumps(table), b":[", *puts, b"]}}"))


class CircuitBreaker:
    """Opens after ``threshold`` consecutive table failures; stays open for the rest of the invocation."""

    def __init__(self, threshold: int = 2) -> None:
        self.threshold = threshold
        self.failures = 0
        self.open = False
        self._lock = threading.Lock()

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            self.open = self.open or self.failures >= self.threshold

    def success(self) -> None:
        with self._lock:
            self.failures = 0


@dataclass(slots=True)
class Batch:
    """Up to 25 items with distinct keys, and what committing them means for the file's progress."""

    items: dict[Key, bytes] = field(default_factory=dict)
    processed: int = 0
    rejected: int = 0
    checkpoint: Any = None  # the file's resume point once this batch and all before it are written


@dataclass(slots=True)
class WriteStats:
    requests: int = 0
    unprocessed_retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class BatchWriter:
    """Sends batches concurrently and commits them in order. One per file; the executor is shared."""

    def __init__(
        self,
        client: Any,
        table: str,
        executor: ThreadPoolExecutor | InlineExecutor,
        breaker: CircuitBreaker,
        on_commit: Callable[[Batch], None],
        max_in_flight: int = 8,
        time_left_ms: Callable[[], int] | None = None,
        wrap: Callable[[Callable[[], None]], Callable[[], None]] | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.executor = executor
        self.breaker = breaker
        self.on_commit = on_commit
        self.max_in_flight = max_in_flight
        self.time_left_ms = time_left_ms or (lambda: 1 << 30)
        self.wrap = wrap or (lambda fn: fn)
        self.stats = WriteStats()
        self._pending: collections.deque[tuple[Batch, Future[None]]] = collections.deque()

    def submit(self, batch: Batch) -> None:
        """Queue a batch; commits finished ones, and blocks while too many are in flight."""
        self._pending.append((batch, self.executor.submit(self.wrap(lambda: self._send(batch)))))
        self._commit_done(block=len(self._pending) >= self.max_in_flight)

    def flush(self) -> None:
        """Wait for every batch; raise ``TableUnavailable`` if one failed (later ones are not committed)."""
        self._commit_done(block=True, everything=True)

    def _commit_done(self, block: bool, everything: bool = False) -> None:
        while self._pending:
            batch, future = self._pending[0]
            if not (block or future.done()):
                return
            try:
                future.result()
            except Exception as exc:
                for _, other in self._pending:  # let the rest finish; none of them is committed
                    other.exception()
                self._pending.clear()
                if isinstance(exc, TableUnavailable):
                    raise
                raise TableUnavailable(f"writing a batch failed: {exc}") from exc
            self._pending.popleft()
            self.on_commit(batch)
            block = everything

    def _send(self, batch: Batch) -> None:
        items = dict(batch.items)
        attempt = 0
        while True:
            try:
                response = self.client.batch_write_item(
                    RequestItems={}, **{BODY_PARAM: request_body(self.table, items.values())}
                )
            except Exception as exc:
                self.breaker.failure()
                raise TableUnavailable(f"BatchWriteItem failed after the SDK's retries: {exc}") from exc
            with self.stats.lock:
                self.stats.requests += 1
            unprocessed = response.get("UnprocessedItems", {}).get(self.table)
            if not unprocessed:
                self.breaker.success()
                return
            items = {_key(request): items[_key(request)] for request in unprocessed}
            attempt += 1
            with self.stats.lock:
                self.stats.unprocessed_retries += 1
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            if attempt > MAX_UNPROCESSED_RETRIES or self.time_left_ms() < delay * 1000 + 1000:
                self.breaker.failure()
                raise TableUnavailable(f"{len(items)} items still unprocessed after {attempt} tries")
            time.sleep(delay)


def _key(request: dict[str, Any]) -> Key:
    item = request["PutRequest"]["Item"]
    return item["recordId"]["S"], item["timestamp"]["S"]
