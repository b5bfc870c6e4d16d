"""Parsing the function's input: an SQS batch whose message bodies are S3 event notifications.

Pure functions, no AWS calls. Object keys in notifications are URL-encoded with ``+`` for spaces; they are
decoded here once, so everything downstream sees the real key. ``s3:TestEvent`` messages (sent when a
notification configuration is saved) carry no object and are skipped; so are records of events other than
object creation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson


class InvalidNotification(ValueError):
    """A message body that is not an S3 event notification."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One object version named by an S3 notification record."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None
    event_name: str
    event_time: str | None
    s3_record: dict[str, Any]

    @property
    def is_creation(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")


@dataclass(frozen=True, slots=True)
class Message:
    """One SQS message: its ID, raw body, and the objects it names (empty for a test event)."""

    message_id: str
    body: str
    objects: tuple[ObjectRef, ...]
    test_event: bool = False


def sqs_messages(event: dict[str, Any]) -> list[tuple[str, str]]:
    """``(messageId, body)`` of every SQS record in a Lambda event."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvalidNotification("the event has no Records list: not an SQS event")
    return [(str(r.get("messageId", "")), str(r.get("body", ""))) for r in records if isinstance(r, dict)]


def parse_message(message_id: str, body: str) -> Message:
    """Decode one message body into the object versions it names; raise ``InvalidNotification``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidNotification(f"message body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidNotification("message body is not a JSON object")
    if doc.get("Event") == "s3:TestEvent":
        return Message(message_id, body, (), test_event=True)
    records = doc.get("Records")
    if not isinstance(records, list):
        raise InvalidNotification("message body has no Records list: not an S3 event notification")
    return Message(message_id, body, tuple(object_ref(r) for r in records))


def object_ref(record: Any) -> ObjectRef:
    """The object version of one S3 notification record, with its key URL-decoded."""
    try:
        s3 = record["s3"]
        bucket = s3["bucket"]["name"]
        obj = s3["object"]
        raw_key = obj["key"]
    except (KeyError, TypeError):
        raise InvalidNotification("S3 record lacks s3.bucket.name or s3.object.key") from None
    if not isinstance(bucket, str) or not isinstance(raw_key, str) or not bucket or not raw_key:
        raise InvalidNotification("S3 record has an empty or non-string bucket name or key")
    try:
        key = unquote_plus(raw_key, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidNotification(f"object key {raw_key!r} does not URL-decode to UTF-8") from None
    size = obj.get("size")
    return ObjectRef(
        bucket=bucket,
        key=key,
        version_id=obj.get("versionId") or None,
        etag=(obj.get("eTag") or "").strip('"') or None,
        size=size if isinstance(size, int) else None,
        event_name=str(record.get("eventName", "")),
        event_time=record.get("eventTime"),
        s3_record=record,
    )
