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

The ledger item has no ``dataType`` or ``processingStatus``, so it stays out of both GSIs.

A file is claimed with a conditional write that takes a lease: only one invocation works on a file at a
time, COMPLETED and FAILED files are never claimed again (a re-delivery is a counted no-op; to reprocess a
FAILED file, an operator deletes its ledger item or sets ``status`` to ``RETRY``), and an expired lease
(a crashed invocation) can be taken over. Every later write is fenced on the lease owner.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

LEDGER_SORT_KEY = "LEDGER"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
ITEM_TYPE = "FILE_LEDGER"


def ledger_id(key: str, version_id: str | None, etag: str | None) -> str:
    """The ledger ``recordId`` of an object version, the same in every region."""
    version = version_id if version_id and version_id != "null" else f"etag:{etag or ''}"
    return "FILE#" + hashlib.sha256(f"{key}\0{version}".encode()).hexdigest()


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
    status: str = IN_PROGRESS

    @property
    def records(self) -> int:
        return self.processed + self.rejected


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of trying to take a file: ``claimed`` (with its progress), ``done`` or ``busy``."""

    outcome: str
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

    def _key(self, lid: str) -> dict[str, Any]:
        return {"recordId": {"S": lid}, "timestamp": {"S": LEDGER_SORT_KEY}}

    def claim(
        self, lid: str, obj: dict[str, Any], now_iso: str, now_ms: int, lease_ms: int, expires_at: int
    ) -> Claim:
        """Take the lease on a file unless it is COMPLETED, FAILED or leased by a live invocation."""
        values: dict[str, Any] = {
            ":in_progress": {"S": IN_PROGRESS}, ":completed": {"S": COMPLETED}, ":failed": {"S": FAILED},
            ":owner": {"S": self.owner}, ":until": {"N": str(now_ms + lease_ms)}, ":now_ms": {"N": str(now_ms)},
            ":now": {"S": now_iso}, ":region": {"S": self.region}, ":zero": {"N": "0"}, ":one": {"N": "1"},
            ":type": {"S": ITEM_TYPE}, ":expires": {"N": str(expires_at)},
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
                Key=self._key(lid),
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
            if current is not None and current.status in (COMPLETED, FAILED):
                return Claim("done", current)
            return Claim("busy", current or Progress())
        return Claim("claimed", _progress(response["Attributes"]))

    def read(self, lid: str) -> Progress | None:
        response = self.client.get_item(TableName=self.table, Key=self._key(lid), ConsistentRead=True)
        item = response.get("Item")
        return _progress(item) if item else None

    def save(
        self,
        lid: str,
        progress: Progress,
        now_iso: str,
        status: str = IN_PROGRESS,
        lease_until: int | None = None,
        failure: tuple[str, str] | None = None,
    ) -> None:
        """Write progress (and a new status) if we still hold the lease; ``LeaseLost`` otherwise."""
        values: dict[str, Any] = {
            ":status": {"S": status}, ":owner": {"S": self.owner}, ":now": {"S": now_iso},
            ":processed": {"N": str(progress.processed)}, ":rejected": {"N": str(progress.rejected)},
            ":records": {"N": str(progress.records)}, ":offset": {"N": str(progress.offset)},
            ":byteOffset": {"N": str(progress.byte_offset)}, ":lineOffset": {"N": str(progress.line_offset)},
            ":bytes": {"N": str(progress.bytes)}, ":durationMs": {"N": str(progress.duration_ms)},
        }
        sets = [f"#{n} = :{n}" for n in (
            "status", "processed", "rejected", "records", "offset", "byteOffset", "lineOffset", "bytes", "durationMs",
        )] + ["#updatedAt = :now"]
        removes = []
        if status in (COMPLETED, FAILED):
            sets.append("#completedAt = :now")
            removes += ["#leaseOwner", "#leaseUntil"]
        elif lease_until is not None:
            values[":until"] = {"N": str(lease_until)}
            sets.append("#leaseUntil = :until")
        if failure is not None:
            values[":reason"], values[":message"] = {"S": failure[0]}, {"S": failure[1][:2000]}
            sets += ["#failureReason = :reason", "#failureMessage = :message"]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        names = {f"#{n}": n for n in (
            "status", "processed", "rejected", "records", "offset", "byteOffset", "lineOffset", "bytes",
            "durationMs", "updatedAt", "completedAt", "leaseOwner", "leaseUntil", "failureReason",
            "failureMessage",
        ) if f"#{n}" in expression}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(lid),
                UpdateExpression=expression,
                ConditionExpression="#leaseOwner = :owner",
                ExpressionAttributeNames={**names, "#leaseOwner": "leaseOwner"},
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise LeaseLost(f"ledger {lid} is leased by another invocation") from exc
            raise


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
        started_at=item.get("startedAt", {}).get("S", ""), status=item.get("status", {}).get("S", ""),
    )
