"""What the handler promises to everything outside the function: the fields every record carries, the
ledger key, the failure reasons, the S3 event shape.

The operations tools (reconcile, redrive), the deploy's smoke check and the local simulation read the ledger
the handler writes, filter the dead letters it sends by reason, and send it S3 events of their own. They
import these definitions from here instead of restating them, so the contract has one source. The module
imports only the standard library: it ships in the Lambda zip with the rest of ``handlers/`` and costs the
tools nothing to import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from enum import StrEnum
from typing import Any
from urllib.parse import quote_plus

# --- records ---------------------------------------------------------------------------------------------------

# Every record carries these (its item's key is built from them); a CSV header must name them.
ENVELOPE_FIELDS = ("id", "dataType", "timestamp")

# --- the records' item keys and the time index -------------------------------------------------------------
# A valid record's item: ``recordId`` = "<dataType>#<id>", ``timestamp`` = the record's time (UTC, ms, "Z").
# A rejected record's: ``recordId`` = "REJECTED#" + 40 hex digits of sha256(ledger ID, position), ``timestamp`` =
# ``processedAt`` of its file version (the same on every retry). Both carry ``timeShard``, the partition key of
# the time index (sort key ``timestamp``): "<dataType>#NNN" or "REJECTED#NNN".
#
# NNN is ``shard_number``: the record's position in its file (line or array index) plus a seed of the file, modulo
# the shard count. A replay writes the same value (same file version, same position), and the records of a file
# go round the shards in turn: whatever the mix of data types, no ``timeShard`` value receives more than
# 1/shards of the records written per second (a hash of the key would only spread them on average, and cost a
# CRC of the key per record). DynamoDB serves at most 1,000 write units per second per partition key value, in
# a table and in each index (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html).
TIME_SHARD = "timeShard"
REJECTED_PREFIX = "REJECTED"
SHARD_DIGITS = 3
MAX_SHARDS = 10**SHARD_DIGITS
DEFAULT_DATA_TYPE_SHARDS = 128  # 50,000 records/s: at most 391 writes per second on any one shard
DEFAULT_REJECTED_SHARDS = 16


def record_id(data_type: str, record: str) -> str:
    """A valid record's ``recordId``."""
    return f"{data_type}#{record}"


def rejected_record_id(lid: str, position: int) -> str:
    """A rejected record's ``recordId``: where it was in its file (line or array index), never what it said, so
    it cannot overwrite a valid record and a replay writes the same item."""
    return f"{REJECTED_PREFIX}#" + hashlib.sha256(f"{lid}\0{position}".encode()).hexdigest()[:40]


def shard_seed(lid: str) -> int:
    """Where a file's records start going round the shards: CRC-32 of its ledger ID (stable across processes and
    Python versions, unlike ``hash()``), so files processed side by side do not write the same shard at once."""
    return zlib.crc32(lid.encode())


def shard_number(lid: str, position: int, shards: int) -> int:
    """The shard of the record at ``position`` (``sourceLine`` or ``sourceIndex``) of file ``lid``."""
    return (shard_seed(lid) + position) % shards


def time_shard(prefix: str, number: int) -> str:
    """A ``timeShard`` value: "<prefix>#NNN"; the prefix is a data type or ``REJECTED_PREFIX``."""
    return f"{prefix}#{number:0{SHARD_DIGITS}d}"


def time_shards(prefix: str, shards: int) -> tuple[str, ...]:
    """Every ``timeShard`` value of a prefix with ``shards`` shards; a query fans out over them. A smaller
    count's values are among them, so shard counts may grow but never shrink."""
    return tuple(time_shard(prefix, n) for n in range(shards))


def item_time_shard(item: dict[str, Any], shards: int) -> str | None:
    """The ``timeShard`` the handler gives a record's item (wire format), from its ``recordId``, ``sourceFile``
    and position; None for an item that is not a record's (the ledger's, a content item)."""
    rid = item.get("recordId", {}).get("S", "")
    lid = item.get("sourceFile", {}).get("S")
    position = item.get("sourceLine", item.get("sourceIndex", {})).get("N")
    if "#" not in rid or lid is None or position is None or "processingStatus" not in item:
        return None
    prefix = REJECTED_PREFIX if rid.startswith(f"{REJECTED_PREFIX}#") else rid.split("#", 1)[0]
    return time_shard(prefix, shard_number(lid, int(position), shards))


# --- the file ledger -----------------------------------------------------------------------------------------

LEDGER_SORT_KEY = "LEDGER"
LEDGER_ITEM_TYPE = "FILE_LEDGER"
CONTENT_SORT_KEY = "CONTENT"
CONTENT_ITEM_TYPE = "FILE_CONTENT"


class LedgerStatus(StrEnum):
    """A file's ``status`` in its ledger item. The handler writes the first three; ``RETRY`` is the operator's:
    redrive sets it on a FAILED file, because the handler never claims a FAILED file again but does claim a
    RETRY one."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    RETRY = "RETRY"


def ledger_id(key: str, version_id: str | None, etag: str | None) -> str:
    """The ledger ``recordId`` of an object version, the same in every region (the bucket is not part of it,
    so a replica's ledger item is the original's). ``etag`` as S3 events give it (no quotes); the ETag stands
    in for the version of an unversioned object."""
    version = version_id if version_id and version_id != "null" else f"etag:{etag or ''}"
    return "FILE#" + hashlib.sha256(f"{key}\0{version}".encode()).hexdigest()


def ledger_key(lid: str) -> dict[str, dict[str, str]]:
    """The ledger item's primary key in DynamoDB's wire format."""
    return {"recordId": {"S": lid}, "timestamp": {"S": LEDGER_SORT_KEY}}


# --- dead letters ----------------------------------------------------------------------------------------------

DEAD_LETTER_SCHEMA_VERSION = 1
REASON_ATTRIBUTE = "reason"  # the SQS message attribute that carries a dead letter's reason


class Reason(StrEnum):
    """Why a whole file was dead-lettered: the ``reason`` of the handler's DLQ message (body and attribute)."""

    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    CORRUPT_GZIP = "CORRUPT_GZIP"
    OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
    ACCESS_DENIED = "ACCESS_DENIED"
    OBJECT_ARCHIVED = "OBJECT_ARCHIVED"
    NOT_JSON = "NOT_JSON"
    UNDECODABLE = "UNDECODABLE"
    TOO_LARGE = "TOO_LARGE"
    DECOMPRESSION_RATIO = "DECOMPRESSION_RATIO"
    INVALID_CSV_HEADER = "INVALID_CSV_HEADER"
    # The first row of a CSV file does not name every field of ``ENVELOPE_FIELDS``: a file without a header
    # row (whose first row would be taken for it), or a header lacking a column every record needs.
    CSV_HEADER_MISSING_FIELDS = "CSV_HEADER_MISSING_FIELDS"
    INVALID_NOTIFICATION = "INVALID_NOTIFICATION"


# What the operators call a notification SQS itself moved to the DLQ after ``maxReceiveCount`` receives: the
# handler never sent it, so it has no reason of its own.
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"

# Reasons a fix outside the object can cure (a permission, a restore from an archive tier, a setting such as
# the size limit, a transient run of retries): redriving these by default is safe. The others describe the
# bytes of the object version itself, which a redrive sends to the same outcome.
TRANSIENT_REASONS = frozenset({
    Reason.ACCESS_DENIED, Reason.OBJECT_ARCHIVED, Reason.OBJECT_NOT_FOUND, Reason.TOO_LARGE,
    Reason.DECOMPRESSION_RATIO, RETRIES_EXHAUSTED,
})

# --- the S3 event notification ----------------------------------------------------------------------------------

OBJECT_CREATED_PUT = "ObjectCreated:Put"


def s3_event_time(when: dt.datetime) -> str:
    """S3's ``eventTime``: UTC with milliseconds and a ``Z``."""
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def s3_event_record(*, bucket: str, key: str, region: str, size: int, etag: str | None,
                    version_id: str | None, when: dt.datetime, principal: str,
                    configuration_id: str, event_name: str = OBJECT_CREATED_PUT) -> dict[str, Any]:
    """One record of the notification S3 sends for an object version (the handler reads ``s3.bucket``,
    ``s3.object`` and ``eventName``; the rest makes it read like S3's own in logs and dead letters). The key is
    URL-encoded with ``+`` for spaces, as S3 encodes it."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag or "",
                           "sequencer": f"{int(when.timestamp() * 1e6):016X}"}
    if version_id and version_id != "null":
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region,
        "eventTime": s3_event_time(when), "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": configuration_id,
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    """An S3 event notification: the body of one ingest-queue message."""
    return {"Records": list(records)}
