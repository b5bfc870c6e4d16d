"""Why a file cannot be processed, and the dead-letter message that records it.

Two kinds of trouble stop a file. A ``FileFailure`` is permanent (retrying cannot help: the object is gone,
is not in a supported format, is corrupt, too large...): the file gets one structured DLQ message, its
ledger entry becomes ``FAILED`` and the SQS message is acknowledged. A ``RetryLater`` is transient (a
read broke off, the table keeps failing, the deadline came, another invocation holds the file): the
message goes back to SQS, which redelivers it and, after ``maxReceiveCount`` tries, moves it to the DLQ.

DLQ message body (JSON, ``schemaVersion`` ``contracts.DEAD_LETTER_SCHEMA_VERSION``)::

    reason        stable code, a ``contracts.Reason`` (also the SQS message attribute ``reason``, so a
                  redrive tool can filter without parsing bodies)
    message       human-readable explanation
    bucket, key, versionId, etag, size     the object (key URL-decoded; versionId/etag null if unknown)
    ledgerId      the file's ledger recordId (null when the notification itself was unreadable)
    processed, rejected                    records already written before the failure was found
    s3Record      the original S3 event record (or the raw SQS body for INVALID_NOTIFICATION)
    sqsMessageId  the SQS message that carried the notification
    time          ISO 8601 UTC time the failure was recorded
    region        region of the function that recorded it
    requestId     the Lambda request ID (find its logs)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

from handlers.contracts import DEAD_LETTER_SCHEMA_VERSION, REASON_ATTRIBUTE, Reason


class FileFailure(Exception):
    """A permanent failure of a whole file: retrying the same object version cannot succeed."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class RetryLater(Exception):
    """A transient stop: the SQS message must be redelivered, and processing resumes where it stopped."""

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(f"{cause}: {message}")
        self.cause = cause
        self.message = message


@dataclass(frozen=True)
class DeadLetter:
    """One DLQ message; ``body()`` is what is sent."""

    reason: Reason
    message: str
    region: str
    s3_record: Any
    sqs_message_id: str
    request_id: str
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    ledger_id: str | None = None
    processed: int = 0
    rejected: int = 0
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))

    def body(self) -> str:
        return orjson.dumps({
            "schemaVersion": DEAD_LETTER_SCHEMA_VERSION,
            "reason": self.reason,
            "message": self.message,
            "bucket": self.bucket,
            "key": self.key,
            "versionId": self.version_id,
            "etag": self.etag,
            "size": self.size,
            "ledgerId": self.ledger_id,
            "processed": self.processed,
            "rejected": self.rejected,
            "s3Record": self.s3_record,
            "sqsMessageId": self.sqs_message_id,
            "time": self.time,
            "region": self.region,
            "requestId": self.request_id,
        }, default=str).decode()


def send(sqs_client: Any, queue_url: str, letter: DeadLetter) -> str:
    """Send ``letter`` to the DLQ and return its message ID; an error propagates (the caller retries)."""
    response = sqs_client.send_message(
        QueueUrl=queue_url,
        MessageBody=letter.body(),
        MessageAttributes={REASON_ATTRIBUTE: {"DataType": "String", "StringValue": str(letter.reason)}},
    )
    return str(response["MessageId"])

