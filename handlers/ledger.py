"""The file ledger: one item per object version in the records table, saying how far processing got.

Key: ``recordId`` = ``"FILE#" + sha256(key + "\\0" + versionId)`` (the ETag stands in for the version ID
of an unversioned object), ``timestamp`` = ``"LEDGER"``. The bucket is not part of the key: replication
keeps key and version ID, so every region's copy of an object has the same ledger item, and a promoted
secondary region skips the files the primary already completed (the global table replicates the ledger).

Attributes (operations tools read these; keep them stable)::

    itemType      S  "FILE_LEDGER"
    status        S  IN_PROGRESS | COMPLETED | FAILED
    bucket, objectKey, versionId, etag   S  the object (bucket: the last region's bucket that processed it)
    objectSize    N  object size in bytes;   format  S  json | jsonl | csv, with ".gz" when gzipped
    processed     N  records written as PROCESSED      } both only up to ``offset``: always
    rejected      N  records written as REJECTED       } processed + rejected = records = offset
    records       N  processed + rejected
    offset        N  records accounted for, in file order: a retry resumes after them
    byteOffset    N  byte where record ``offset + 1`` starts (uncompressed JSONL; 0 otherwise)
    lineOffset    N  line of record ``offset`` (uncompressed JSONL; 0 otherwise)
    bytes         N  bytes read from S3, summed over attempts
    attempts      N  invocations that worked on the file
    durationMs    N  processing time summed over attempts
    startedAt     S  first attempt (ISO 8601 UTC); also ``processedAt`` of the file's items
    updatedAt     S  last change;  completedAt  S  when COMPLETED or FAILED
    region        S  region of the last invocation that worked on it
    leaseOwner    S  "<requestId>/<messageId>" of the invocation processing it;  leaseUntil  N  epoch ms
    failureReason S  a DLQ reason code (FAILED);  failureMessage  S
    expiresAt     N  TTL, epoch seconds (same retention as records)
    duplicateOf   S  COMPLETED as a re-upload of identical bytes: the ``recordId`` of the ledger item of
                     the version that was processed (its items say ``sourceFile`` = that id). processed,
                     rejected, records and offset are copied from it, so records in = processed + rejected
                     holds for this version too; nothing else was written for it.

The ledger item has no ``dataType`` or ``processingStatus``, so it stays out of both GSIs.

Content items: re-uploading the same bytes makes a new object version (a new ledger item) but must change
nothing. S3 returns an object's stored checksum with GetObject (``ChecksumMode=ENABLED``; SDKs send CRC32 by
default, S3 computes CRC64NVME when none is sent), so the content is known before anything is written. A
completed file leaves one item under a *candidate* key derived from that checksum::

    recordId      S  "CONTENT#" + sha256(objectKey + "\\0" + size + "\\0" + algorithm + ":" + checksum)
    timestamp     S  "CONTENT" (not "LEDGER": tools that count ledger items by sort key must not see it)
    itemType      S  "FILE_CONTENT"
    ledgerId      S  ``recordId`` of the COMPLETED ledger item that processed these bytes
    contentSha256 S  hex SHA-256 of the object's raw (stored, still compressed) bytes
    objectKey, checksumAlgorithm, checksum   S;   objectSize  N
    processed, rejected, records   N  the counts of that ledger item
    updatedAt     S;   expiresAt  N  the records' TTL (when the records go, so does the shortcut)

A 32-bit CRC is no identity (a collision would silently drop a file), so a new version whose candidate
item exists is streamed once more and hashed with SHA-256 (nothing parsed, nothing written): only when that
equals ``contentSha256`` and the original ledger item is COMPLETED is it marked COMPLETED with
``duplicateOf``. Otherwise (a collision, no SHA-256 recorded, the original no longer COMPLETED) it is
processed as any file, and its own completion replaces the content item. Limits: an object without a stored
checksum is always processed; a file resumed from a byte offset (JSONL past a deadline) is never hashed
whole, so it records no content item and a re-upload of it is processed again (same item keys for valid
records, new ones for rejected records); FAILED files record none either. No item type here has
``dataType`` or ``processingStatus``.

A file is claimed with a conditional write that takes a lease: only one invocation works on a file at a
time, COMPLETED and FAILED files are never claimed again (a re-delivery is a counted no-op; to reprocess a
FAILED file, an operator deletes its ledger item or sets ``status`` to ``RETRY``), and an expired lease
(a crashed invocation) can be taken over. Every later write is fenced on the lease owner.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

from handlers.contracts import (
    CONTENT_ITEM_TYPE,
    CONTENT_SORT_KEY,
    LEDGER_ITEM_TYPE,
    LedgerStatus,
    Reason,
    ledger_key,
)

# A file that reached one of these is never claimed again (see ``Ledger.claim``).
FINAL = (LedgerStatus.COMPLETED, LedgerStatus.FAILED)


def content_id(key: str, size: int, algorithm: str, checksum: str) -> str:
    """The candidate ``recordId`` of a content item: object key, size and S3's stored checksum. Only a
    candidate: the SHA-256 stored in the item decides (see the module docstring)."""
    text = f"{key}\0{size}\0{algorithm}:{checksum}"
    return "CONTENT#" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Content:
    """A content item: which completed ledger item processed these bytes, and their SHA-256."""

    ledger_id: str
    sha256: str
    expires_at: int


@dataclass(slots=True)
class Progress:
    """How far a file got. Counts only cover records whose items are written (up to ``offset``)."""

    processed: int = 0
    rejected: int = 0
    offset: int = 0
    byte_offset: int = 0
    line_offset: int = 0
    bytes: int = 0
    duration_ms: int = 0
    attempts: int = 0
    started_at: str = ""
    status: LedgerStatus | None = LedgerStatus.IN_PROGRESS  # None: an item without a status the handler knows

    @property
    def records(self) -> int:
        return self.processed + self.rejected


class ClaimResult(Enum):
    """What trying to take a file found."""

    CLAIMED = "claimed"  # the lease is ours: process the file from its progress
    DONE = "done"  # COMPLETED or FAILED already: a duplicate delivery
    BUSY = "busy"  # another live invocation holds the lease: retry later


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of trying to take a file, and the file's progress as the ledger holds it."""

    result: ClaimResult
    progress: Progress


class LeaseLost(Exception):
    """Another invocation took over the file (our lease expired); stop without writing the ledger."""


class Ledger:
    """Ledger reads and writes for one invocation (``owner``) in one table."""

    def __init__(self, client: Any, table: str, owner: str, region: str) -> None:
        self.client = client
        self.table = table
        self.owner = owner
        self.region = region

    def claim(
        self, lid: str, obj: dict[str, Any], now_iso: str, now_ms: int, lease_ms: int, expires_at: int
    ) -> Claim:
        """Take the lease on a file unless it is COMPLETED, FAILED or leased by a live invocation."""
        values: dict[str, Any] = {
            ":in_progress": {"S": LedgerStatus.IN_PROGRESS.value}, ":completed": {"S": LedgerStatus.COMPLETED.value},
            ":failed": {"S": LedgerStatus.FAILED.value},
            ":owner": {"S": self.owner}, ":until": {"N": str(now_ms + lease_ms)}, ":now_ms": {"N": str(now_ms)},
            ":now": {"S": now_iso}, ":region": {"S": self.region}, ":zero": {"N": "0"}, ":one": {"N": "1"},
            ":type": {"S": LEDGER_ITEM_TYPE}, ":expires": {"N": str(expires_at)},
        }
        sets = [
            "#status = :in_progress", "#leaseOwner = :owner", "#leaseUntil = :until", "#region = :region",
            "#updatedAt = :now", "#itemType = :type", "#startedAt = if_not_exists(#startedAt, :now)",
            "#attempts = if_not_exists(#attempts, :zero) + :one", "#expiresAt = if_not_exists(#expiresAt, :expires)",
        ]
        names = {f"#{n}": n for n in (
            "status", "leaseOwner", "leaseUntil", "region", "updatedAt", "itemType", "startedAt", "attempts",
            "expiresAt", "recordId", "failureReason", "failureMessage",
        )}
        for name, value in obj.items():
            if value is not None:
                values[f":{name}"] = {"N": str(value)} if isinstance(value, int) else {"S": str(value)}
                names[f"#{name}"] = name
                sets.append(f"#{name} = :{name}")
        for name in ("processed", "rejected", "records", "offset", "byteOffset", "lineOffset", "bytes", "durationMs"):
            names[f"#{name}"] = name
            sets.append(f"#{name} = if_not_exists(#{name}, :zero)")
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=ledger_key(lid),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE #failureReason, #failureMessage",
                ConditionExpression=(
                    "attribute_not_exists(#recordId) OR (#status <> :completed AND #status <> :failed AND "
                    "(attribute_not_exists(#leaseUntil) OR #leaseUntil < :now_ms OR #leaseOwner = :owner))"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            current = self.read(lid)
            if current is not None and current.status in FINAL:
                return Claim(ClaimResult.DONE, current)
            return Claim(ClaimResult.BUSY, current or Progress())
        return Claim(ClaimResult.CLAIMED, _progress(response["Attributes"]))

    def content(self, cid: str) -> Content | None:
        """The content item under a candidate key, or ``None``."""
        item = self.client.get_item(TableName=self.table, Key=_content_key(cid), ConsistentRead=True).get("Item")
        if not item or "ledgerId" not in item:
            return None
        return Content(ledger_id=item["ledgerId"].get("S", ""), sha256=item.get("contentSha256", {}).get("S", ""),
                       expires_at=int(item.get("expiresAt", {}).get("N", "0")))

    def record_content(
        self, cid: str, lid: str, sha256: str, progress: Progress, obj: dict[str, Any], now_iso: str, expires_at: int
    ) -> None:
        """Point the content item at a version just COMPLETED (``obj``: objectKey, objectSize,
        checksumAlgorithm, checksum). Unconditional: the last completed version with this checksum wins,
        which is safe both ways, since a match is always confirmed by SHA-256."""
        values: dict[str, Any] = {
            ":type": {"S": CONTENT_ITEM_TYPE}, ":ledgerId": {"S": lid}, ":contentSha256": {"S": sha256},
            ":processed": {"N": str(progress.processed)}, ":rejected": {"N": str(progress.rejected)},
            ":records": {"N": str(progress.records)}, ":updatedAt": {"S": now_iso},
            ":expiresAt": {"N": str(expires_at)},
        }
        for name, value in obj.items():
            values[f":{name}"] = {"N": str(value)} if isinstance(value, int) else {"S": str(value)}
        names = {f"#{n[1:]}": n[1:] for n in values if n != ":type"} | {"#itemType": "itemType"}
        self.client.update_item(
            TableName=self.table,
            Key=_content_key(cid),
            UpdateExpression="SET #itemType = :type, " + ", ".join(f"#{n[1:]} = {n}" for n in values if n != ":type"),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def read(self, lid: str) -> Progress | None:
        """The file's progress as the ledger holds it, or ``None`` without a ledger item."""
        response = self.client.get_item(TableName=self.table, Key=ledger_key(lid), ConsistentRead=True)
        item = response.get("Item")
        return _progress(item) if item else None

    def save(
        self,
        lid: str,
        progress: Progress,
        now_iso: str,
        status: LedgerStatus = LedgerStatus.IN_PROGRESS,
        lease_until: int | None = None,
        failure: tuple[Reason, str] | None = None,
        duplicate_of: str | None = None,
    ) -> None:
        """Write progress (and a new status) if we still hold the lease; ``LeaseLost`` otherwise.
        ``duplicate_of``: the ledger id whose identical bytes this version is (with COMPLETED)."""
        values: dict[str, Any] = {
            ":status": {"S": status.value}, ":owner": {"S": self.owner}, ":now": {"S": now_iso},
            ":processed": {"N": str(progress.processed)}, ":rejected": {"N": str(progress.rejected)},
            ":records": {"N": str(progress.records)}, ":offset": {"N": str(progress.offset)},
            ":byteOffset": {"N": str(progress.byte_offset)}, ":lineOffset": {"N": str(progress.line_offset)},
            ":bytes": {"N": str(progress.bytes)}, ":durationMs": {"N": str(progress.duration_ms)},
        }
        sets = [f"#{n} = :{n}" for n in (
            "status", "processed", "rejected", "records", "offset", "byteOffset", "lineOffset", "bytes", "durationMs",
        )] + ["#updatedAt = :now"]
        removes = []
        if status in FINAL:
            sets.append("#completedAt = :now")
            removes += ["#leaseOwner", "#leaseUntil"]
        elif lease_until is not None:
            values[":until"] = {"N": str(lease_until)}
            sets.append("#leaseUntil = :until")
        if failure is not None:
            values[":reason"], values[":message"] = {"S": str(failure[0])}, {"S": failure[1][:2000]}
            sets += ["#failureReason = :reason", "#failureMessage = :message"]
        if duplicate_of is not None:
            values[":duplicateOf"] = {"S": duplicate_of}
            sets.append("#duplicateOf = :duplicateOf")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        names = {f"#{n}": n for n in (
            "status", "processed", "rejected", "records", "offset", "byteOffset", "lineOffset", "bytes",
            "durationMs", "updatedAt", "completedAt", "leaseOwner", "leaseUntil", "failureReason",
            "failureMessage", "duplicateOf",
        ) if f"#{n}" in expression}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=ledger_key(lid),
                UpdateExpression=expression,
                ConditionExpression="#leaseOwner = :owner",
                ExpressionAttributeNames={**names, "#leaseOwner": "leaseOwner"},
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise LeaseLost(f"ledger {lid} is leased by another invocation") from exc
            raise


def _content_key(cid: str) -> dict[str, dict[str, str]]:
    return {"recordId": {"S": cid}, "timestamp": {"S": CONTENT_SORT_KEY}}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _progress(item: dict[str, Any]) -> Progress:
    def number(name: str) -> int:
        value = item.get(name, {}).get("N")
        return int(value) if value is not None else 0

    return Progress(
        processed=number("processed"), rejected=number("rejected"), offset=number("offset"),
        byte_offset=number("byteOffset"), line_offset=number("lineOffset"), bytes=number("bytes"),
        duration_ms=number("durationMs"), attempts=number("attempts"),
        started_at=item.get("startedAt", {}).get("S", ""), status=_status(item.get("status", {}).get("S", "")),
    )


def _status(text: str) -> LedgerStatus | None:
    try:
        return LedgerStatus(text)
    except ValueError:
        return None

