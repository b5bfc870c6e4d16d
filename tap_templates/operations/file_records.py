"""Pattern 4: a file's ledger item and its records, found without an index.

The handler keys every item by what the file holds: a valid record by its data type, id and time, a rejected one
by its file's ledger ID and its position there (``handlers/contracts.py``). So the keys are re-derived from the file
itself: the object version the ledger names is read again and run through the handler's own record path
(``handlers.formats.records`` -> ``handlers.pipeline.FileItems``, the code that built the items), and the items
are fetched by key, 100 to a ``BatchGetItem``. Each record is looked up under both keys it may have (valid and
rejected), so a schema change since the file was processed cannot hide it; an item found under a record's key
that another file wrote since (a valid record's key is its content) is counted, not shown.

A re-upload of identical bytes (``duplicateOf`` in its ledger) has no items of its own: its records are the
original version's, read from that version's object. An object that has been deleted cannot be read, nor one in
an archive tier until it is restored: both are said in one line.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from handlers import formats, objects
from handlers.contracts import Reason, ledger_key, record_id, rejected_record_id
from handlers.events import ObjectRef
from handlers.failures import FileFailure, RetryLater
from handlers.items import FileSource, ItemFactory
from handlers.pipeline import FileItems
from handlers.schemas import Registry, registry
from handlers.settings import Settings
from handlers.timestamps import normalize_timestamp
from tap_templates.operations.environment import OperationError, Unreachable, reaching
from tap_templates.operations.ledger_reads import BATCH_GET_MAX
from tap_templates.operations.queries import TableQueries

Item = dict[str, Any]
Key = tuple[str, str]
RECORDS_PER_REQUEST = BATCH_GET_MAX // 2  # two candidate keys each
IN_FLIGHT = 8
HANDLER_DEFAULTS = Settings(table_name="", dlq_url="", region="")  # the record limits the template leaves as they are


@dataclass
class FileRecords:
    """What the lookup found: the ledger item, then the records' items in file order (a generator: read
    ``items`` to the end before the counts are final)."""

    ledger: Item
    source_file: str  # the ledger ID the records' items name (the original's, for a duplicate)
    items: Iterator[Item]
    records: int = 0
    found: int = 0
    other_file: int = 0  # a record's key holds an item another file wrote since
    notes: list[str] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.records - self.found - self.other_file


def _ledger(queries: TableQueries, lid: str) -> Item:
    with reaching(queries.region):
        item = queries.dynamodb.get_item(TableName=queries.table, Key=ledger_key(lid), ConsistentRead=True).get("Item")
    if item is None:
        raise OperationError(f"no ledger item {lid} in {queries.table} ({queries.region}): no such file was processed")
    return item  # type: ignore[no-any-return]


def _text(item: Item, name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return str(value) if value is not None else None


def file_records(queries: TableQueries, lid: str, limit: int | None = None) -> FileRecords:
    """The ledger item of ``lid`` and (lazily) its records' items, at most ``limit`` of them."""
    ledger = _ledger(queries, lid)
    source = ledger
    result = FileRecords(ledger, lid, iter(()))
    original = _text(ledger, "duplicateOf")
    if original:
        source = _ledger(queries, original)
        result.source_file = original
        result.notes.append(f"{lid} is a re-upload of identical bytes: its records are those of {original}")
    if _text(source, "startedAt") is None or _text(source, "objectKey") is None:
        raise OperationError(f"ledger item {result.source_file} names no object or start time: nothing was processed")
    stream, fmt = _open(queries, source)
    records = formats.records(fmt, stream.chunks(), stream.size, HANDLER_DEFAULTS.max_record_bytes,
                              queries.env.cfg.processor.max_decompression_ratio)
    result.items = _lookups(queries, result, source, fmt.kind, records, limit)
    return result


def _open(queries: TableQueries, ledger: Item) -> tuple[objects.ObjectStream, formats.Format]:
    """The object version the ledger names: in the bucket that processed it, else this region's replica."""
    key = str(_text(ledger, "objectKey"))
    version = _text(ledger, "versionId")
    etag = _text(ledger, "etag")
    places = [(_text(ledger, "region"), _text(ledger, "bucket")), (queries.region, queries.env.bucket(queries.region))]
    fmt = formats.format_for(key)
    limit = queries.env.cfg.processor.max_object_mb * 1024 * 1024
    problems = []
    for region, bucket in dict.fromkeys(places):
        if not region or not bucket:
            continue
        ref = ObjectRef(bucket, key, version if version and version != "null" else None, etag, None, "", None, {})
        try:
            with reaching(region):
                return objects.open_object(queries.env.client("s3", region), ref, limit), fmt
        except FileFailure as exc:
            problems.append(_unreadable(exc, bucket, key, version))
        except (Unreachable, RetryLater, ClientError, BotoCoreError) as exc:
            problems.append(f"s3://{bucket}/{key}: {exc}")
    raise OperationError("; ".join(problems) or f"no bucket to read {key} from")


def _unreadable(exc: FileFailure, bucket: str, key: str, version: str | None) -> str:
    where = f"s3://{bucket}/{key} version {version or '(unversioned)'}"
    if exc.reason is Reason.OBJECT_ARCHIVED:
        return (f"{where} is in an archive storage class: restore it first (aws s3api restore-object --bucket "
                f"{bucket} --key {key} --version-id {version} --restore-request Days=1), then ask again")
    if exc.reason is Reason.OBJECT_NOT_FOUND:
        return f"{where} no longer exists (expired or deleted): its records' keys cannot be derived from it"
    return f"{where}: {exc}"


def candidates(kind: str, items: FileItems, lid: str, processed_at: str,
               records: Iterator[formats.Record]) -> Iterator[list[Key]]:
    """Per record, in file order, the keys its item may have: the one the handler's code gives it now, then the
    other kind's (a valid record's rejected key; a rejected record's valid key, if its id, data type and time
    make one)."""
    for _, position, _, key, _, accepted, payload in _with_payloads(items, records):
        other = (rejected_record_id(lid, position), processed_at) if accepted else _claimed(kind, payload,
                                                                                            items.registry)
        yield [key] + ([other] if other is not None and other != key else [])


def _with_payloads(items: FileItems, records: Iterator[formats.Record]) -> Iterator[tuple[Any, ...]]:
    """``FileItems.outcomes`` with each record's payload beside it."""
    held: deque[Any] = deque()

    def keep() -> Iterator[formats.Record]:
        for record in records:
            held.append(record[2])
            yield record

    for outcome in items.outcomes(keep()):
        yield (*outcome, held.popleft())


def _claimed(kind: str, payload: Any, schemas: Registry) -> Key | None:
    """The valid key a rejected record's content would have: its id, data type and normalized time."""
    try:
        value = orjson.loads(payload) if isinstance(payload, (bytes, str)) else payload
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    data_type, rid = value.get("dataType"), value.get("id")
    if not isinstance(data_type, str) or not isinstance(rid, str) or not data_type or not rid:
        return None
    if kind == "csv" and schemas.get(data_type) is not None:
        value = schemas.get(data_type).coerce_row(value)  # type: ignore[union-attr]
    try:
        return record_id(data_type, rid), normalize_timestamp(value.get("timestamp"))
    except ValueError:
        return None


def _lookups(queries: TableQueries, result: FileRecords, source: Item, kind: str,
             records: Iterator[formats.Record], limit: int | None) -> Iterator[Item]:
    """The records' items in file order, fetched 50 records (100 keys) at a time, a few requests in flight."""
    lid, processed_at = result.source_file, str(_text(source, "startedAt"))
    factory = ItemFactory(FileSource("", "", None, lid, processed_at, 0, queries.region),
                          "sourceIndex" if kind == "json" else "sourceLine")
    file_items = FileItems(factory, kind, registry(), HANDLER_DEFAULTS.duplicate_window)
    groups = _groups(candidates(kind, file_items, lid, processed_at, records))
    pending: deque[tuple[list[list[Key]], Future[dict[Key, Item]]]] = deque()
    emitted = 0
    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        for group in groups:
            pending.append((group, pool.submit(_batch_get, queries, {k for keys in group for k in keys})))
            while pending and (len(pending) >= IN_FLIGHT or pending[0][1].done()):
                for item in _settle(result, lid, *pending.popleft()):
                    emitted += 1
                    yield item
                    if limit is not None and emitted >= limit:
                        return
        while pending:
            for item in _settle(result, lid, *pending.popleft()):
                emitted += 1
                yield item
                if limit is not None and emitted >= limit:
                    return


def _groups(keys: Iterator[list[Key]]) -> Iterator[list[list[Key]]]:
    group: list[list[Key]] = []
    for candidate in keys:
        group.append(candidate)
        if len(group) == RECORDS_PER_REQUEST:
            yield group
            group = []
    if group:
        yield group


def _settle(result: FileRecords, lid: str, group: list[list[Key]], fetched: Future[dict[Key, Item]]
            ) -> Iterator[Item]:
    found = fetched.result()
    for keys in group:
        result.records += 1
        items = [found[k] for k in keys if k in found]
        mine = [i for i in items if _text(i, "sourceFile") == lid]
        if mine:
            result.found += 1
            yield mine[0]
        elif items:
            result.other_file += 1


def _batch_get(queries: TableQueries, keys: set[Key]) -> dict[Key, Item]:
    """Every item among ``keys`` (at most 100), unprocessed keys asked again."""
    table = queries.table
    wanted = [{"recordId": {"S": r}, "timestamp": {"S": t}} for r, t in sorted(keys)]
    request: dict[str, Any] = {table: {"Keys": wanted}}
    found: dict[Key, Item] = {}
    for attempt in range(10):
        with reaching(queries.region):
            response = queries.dynamodb.batch_get_item(RequestItems=request)
        for item in response.get("Responses", {}).get(table, []):
            found[item["recordId"]["S"], item["timestamp"]["S"]] = item
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return found
        time.sleep(min(2.0, 0.05 * 2**attempt))
    raise OperationError(f"BatchGetItem left keys unprocessed after 10 tries ({table} throttled?)")
