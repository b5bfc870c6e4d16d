"""DynamoDB items, built directly as the JSON bytes of their attribute values.

Every item is serialized once, by orjson, into the exact bytes that go into the BatchWriteItem request
body (see ``writer``): no TypeSerializer, no Decimal, no second serialization by botocore. The attributes
that are the same for every item of a file (source, times, region, TTL) are serialized once per file
and appended to each item's own attributes. The key layout is ``contracts``' (the tools read it there).

Valid record (``processingStatus`` = ``PROCESSED``)::

    recordId          S  "<dataType>#<id>"                       (partition key)
    timestamp         S  record time in UTC, YYYY-MM-DDTHH:MM:SS.sssZ   (sort key; the time index's too)
    timeShard         S  "<dataType>#NNN"                         (the time index's partition key; absent
                                                                   when data types are not indexed)
    dataType          S  the record's data type
    processingStatus  S  PROCESSED
    id, <fields>         the validated fields as sent
    sourceLine | sourceIndex  N  1-based line (JSONL, CSV) or 0-based array index (JSON)

Rejected record (``processingStatus`` = ``REJECTED``; keyed by its source location, so it can never
overwrite a valid record, and a replay rewrites the same item)::

    recordId          S  "REJECTED#" + sha256(ledgerId, position)[:40]
    timestamp         S  processedAt (so the time index lists rejections by time)
    timeShard         S  "REJECTED#NNN"
    processingStatus  S  REJECTED
    errors            L  [{field S, message S}, ...]   every problem found
    raw               S  the input as received, first RAW_LIMIT characters
    rawBytes          N  length of the input;  rawTruncated BOOL
    claimedId, claimedDataType  S  the record's id and dataType, when they were strings
    sourceLine | sourceIndex    N

Both also carry ``sourceBucket``, ``sourceKey``, ``sourceVersionId`` (when versioned), ``sourceFile`` (the
file's ledger ``recordId``), ``processedAt`` (when processing of the file version began: identical on every
retry, so replays write identical items), ``processedRegion`` and ``expiresAt`` (TTL, epoch seconds).
Ledger and content items have no ``timeShard`` and so stay out of the time index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from handlers.contracts import (
    DEFAULT_DATA_TYPE_SHARDS,
    DEFAULT_REJECTED_SHARDS,
    REJECTED_PREFIX,
    TIME_SHARD,
    rejected_record_id,
    shard_seed,
    time_shards,
)

if TYPE_CHECKING:
    from handlers.records import Accepted

MAX_ITEM_BYTES = 400 * 1024
MAX_KEY_BYTES = 2048  # DynamoDB's limit for a partition key value
RAW_LIMIT = 4096
MAX_MESSAGE = 1000
PROCESSED = {"S": "PROCESSED"}
REJECTED = {"S": "REJECTED"}

Key = tuple[str, str]
# Item attributes the processor sets itself; a record field with one of these names would overwrite them.
RESERVED = frozenset({
    "recordId", "processingStatus", "processedAt", "processedRegion", "expiresAt", "sourceBucket",
    "sourceKey", "sourceVersionId", "sourceFile", "sourceLine", "sourceIndex", "errors", "raw", "rawBytes",
    "rawTruncated", "claimedId", "claimedDataType", TIME_SHARD,
})


@dataclass(frozen=True, slots=True)
class Sharding:
    """How items spread over the time index: shards per data type, shards of rejected records, and whether
    valid records are in the index at all (without, a valid record costs one write unit, not two)."""

    data_type_shards: int = DEFAULT_DATA_TYPE_SHARDS
    rejected_shards: int = DEFAULT_REJECTED_SHARDS
    index_data_types: bool = True


DEFAULT_SHARDING = Sharding()


@dataclass(frozen=True, slots=True)
class FileSource:
    """What every item of one file version says about where it came from."""

    bucket: str
    key: str
    version_id: str | None
    ledger_id: str
    processed_at: str
    expires_at: int
    region: str


class ItemFactory:
    """Builds the items of one file. ``position_name`` is ``sourceLine`` or ``sourceIndex``."""

    # Whether a valid record's item is exactly what ``accepted`` below makes of its ``Accepted``, so that the
    # pipeline may have the generated fast path (``codegen``) build it instead. A factory that changes
    # valid records' items says False, or its change would be skipped.
    supports_fast_path: ClassVar[bool] = True

    def __init__(self, source: FileSource, position_name: str, sharding: Sharding = DEFAULT_SHARDING) -> None:
        self.source = source
        self.position_name = position_name
        self.sharding = sharding
        self._seed = shard_seed(source.ledger_id)
        self._shards: dict[str, tuple[str, ...]] = {}
        self._rejected_shards = self._rotated(time_shards(REJECTED_PREFIX, sharding.rejected_shards))
        common: dict[str, Any] = {
            "sourceBucket": {"S": source.bucket},
            "sourceKey": {"S": source.key},
            "sourceFile": {"S": source.ledger_id},
            "processedAt": {"S": source.processed_at},
            "processedRegion": {"S": source.region},
            "expiresAt": {"N": str(source.expires_at)},
        }
        if source.version_id:
            common["sourceVersionId"] = {"S": source.version_id}
        # ',"sourceBucket":...}' closes every item (also read by the pipeline, which serializes the items of
        # the generated fast path itself)
        self.tail = b"," + orjson.dumps(common)[1:]

    def _rotated(self, values: tuple[str, ...]) -> tuple[str, ...]:
        """``values`` turned by the file's seed: the record at ``position`` has ``rotated[position % len]``,
        which is ``values[contracts.shard_number(...)]``."""
        turn = self._seed % len(values)
        return values[turn:] + values[:turn]

    def shards(self, data_type: str) -> tuple[str, ...]:
        """The ``timeShard`` values of a data type's valid records in this file, turned by its seed (the record
        at ``position`` has ``shards[position % len(shards)]``); empty when data types are not indexed."""
        found = self._shards.get(data_type)
        if found is None:
            sharding = self.sharding
            found = self._shards[data_type] = (
                self._rotated(time_shards(data_type, sharding.data_type_shards)) if sharding.index_data_types
                else ())
        return found

    def accepted(self, record: Accepted, position: int) -> tuple[Key, bytes]:
        """The item of a valid record: its key and its serialized attribute map."""
        attributes = record.attributes
        attributes[self.position_name] = {"N": str(position)}
        shards = self.shards(record.data_type)
        if shards:
            attributes[TIME_SHARD] = {"S": shards[position % len(shards)]}
        return (record.record_id, record.timestamp), orjson.dumps(attributes)[:-1] + self.tail

    def rejected(
        self,
        errors: Sequence[tuple[str, str]],
        raw: Any,
        position: int,
        claimed_id: str | None = None,
        claimed_type: str | None = None,
    ) -> tuple[Key, bytes]:
        """The item of a rejected record: every error and the raw input, truncated, keyed by position."""
        text, size = raw_text(raw)
        key = (rejected_record_id(self.source.ledger_id, position), self.source.processed_at)
        shards = self._rejected_shards
        head: dict[str, Any] = {
            "recordId": {"S": key[0]},
            "timestamp": {"S": key[1]},
            TIME_SHARD: {"S": shards[position % len(shards)]},
            "processingStatus": REJECTED,
            self.position_name: {"N": str(position)},
            "errors": {"L": [
                {"M": {"field": {"S": (field or "(record)")[:MAX_MESSAGE]}, "message": {"S": message[:MAX_MESSAGE]}}}
                for field, message in errors
            ]},
            "raw": {"S": text},
            "rawBytes": {"N": str(size)},
            "rawTruncated": {"BOOL": len(text) < size},
        }
        if claimed_id:
            head["claimedId"] = {"S": claimed_id[:RAW_LIMIT]}
        if claimed_type:
            head["claimedDataType"] = {"S": claimed_type[:RAW_LIMIT]}
        return key, orjson.dumps(head)[:-1] + self.tail


def raw_text(raw: Any) -> tuple[str, int]:
    """The first ``RAW_LIMIT`` characters of a record's input as text, and the input's full size."""
    if isinstance(raw, (bytes, bytearray)):
        data = bytes(raw)
    elif isinstance(raw, str):
        data = raw.encode("utf-8", "replace")
    else:
        try:
            data = orjson.dumps(raw, default=str)
        except (TypeError, orjson.JSONEncodeError):
            data = repr(raw).encode("utf-8", "replace")
    text = data[: RAW_LIMIT + 4].decode("utf-8", "replace")[:RAW_LIMIT]
    return text, len(data)


def item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB counts for an item (attribute names plus values), for the 400 KB limit."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    return len(str(inner))


def oversized(item_bytes: bytes) -> int:
    """0 if the item fits DynamoDB's 400 KB, else its size. The JSON text is never smaller than the size
    DynamoDB counts, so only items whose text is over the limit are measured."""
    if len(item_bytes) <= MAX_ITEM_BYTES:
        return 0
    size = item_size(orjson.loads(item_bytes))
    return size if size > MAX_ITEM_BYTES else 0
