"""Dead-letter messages back to the ingest queue, by the reason the handler recorded, once the cause is fixed.

A region's DLQ holds two kinds of message (``handlers.failures`` describes the first):

- the handler's own dead letters (``schemaVersion`` 1): a file failed permanently; the ``reason`` code is
  in the body and in the message attribute ``reason``; ``s3Record`` is the original S3 event record. Its
  ledger item is FAILED, and the handler never claims a FAILED file again, so the redrive first sets the
  item to ``RETRY`` (only if still FAILED) and then sends ``{"Records": [s3Record]}`` to the ingest queue;
- messages SQS moved after ``maxReceiveCount`` receives (the original S3 event, no ``reason`` attribute):
  reason ``RETRIES_EXHAUSTED`` here; the body goes back as it is, and the handler resumes from the ledger.

Which reasons move is the caller's choice (the command moves ``TRANSIENT_REASONS`` by default and asks before
``PERMANENT_REASONS``). ``INVALID_NOTIFICATION`` letters are never redriven: their body is not an S3 event, and
sending it again would fail again (inspect and delete them by hand). A message is deleted from the DLQ only
after its copy was sent; messages left in the DLQ (other reasons, over ``--max``, a dry run) are made visible
again at the end.
Counting by reason needs receiving (SQS cannot filter by attribute), so a dry run, too, hides the DLQ's
messages for the seconds it takes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from handlers.contracts import (
    DEAD_LETTER_SCHEMA_VERSION,
    REASON_ATTRIBUTE,
    RETRIES_EXHAUSTED,
    TRANSIENT_REASONS,
    LedgerStatus,
    Reason,
    ledger_key,
    s3_event,
)
from tap_templates.operations.environment import Environment, OperationError, error_code, reaching

REASONS = frozenset({*Reason, RETRIES_EXHAUSTED})
# The object's own bytes are the problem: a redrive gives the same outcome unless the handler or its settings
# changed, so these move only when asked for (``TRANSIENT_REASONS`` move by default).
PERMANENT_REASONS = REASONS - TRANSIENT_REASONS - {Reason.INVALID_NOTIFICATION}
VISIBILITY_SECONDS = 300
RECEIVE_MAX = 10


@dataclass(frozen=True)
class QueueCounts:
    ingest: int
    dead_letters: int

    def describe(self) -> str:
        return f"DLQ {self.dead_letters}, ingest queue {self.ingest}"


@dataclass(frozen=True)
class Letter:
    """One received DLQ message and what redriving it means."""

    message_id: str
    receipt: str
    reason: str
    body: str | None  # what to send to the ingest queue; None when it cannot be redriven
    ledger_id: str | None
    why_not: str = ""


@dataclass
class Result:
    region: str
    before: QueueCounts
    after: QueueCounts | None = None
    found: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)
    left: Counter[str] = field(default_factory=Counter)
    not_redrivable: Counter[str] = field(default_factory=Counter)
    ledger_reset: int = 0


def parse(message: dict[str, Any]) -> Letter:
    """Classify one DLQ message by its ``reason`` attribute and body."""
    attribute = message.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {}).get("StringValue")
    raw = message.get("Body", "")
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    handler_letter = (isinstance(doc, dict) and doc.get("schemaVersion") == DEAD_LETTER_SCHEMA_VERSION
                      and "reason" in doc)
    reason = attribute or (str(doc["reason"]) if handler_letter else RETRIES_EXHAUSTED)
    ids = (message["MessageId"], message["ReceiptHandle"], reason)
    if reason == Reason.INVALID_NOTIFICATION:
        return Letter(*ids, None, None, "the notification itself is unreadable: inspect and delete it by hand")
    if handler_letter:
        record = doc.get("s3Record")
        if not isinstance(record, dict):
            return Letter(*ids, None, None, "the dead letter has no S3 record to send again")
        return Letter(*ids, json.dumps(s3_event(record)), doc.get("ledgerId"))
    if not (isinstance(doc, dict) and isinstance(doc.get("Records"), list)):
        return Letter(*ids, None, None, "neither a dead letter of the handler nor an S3 event")
    return Letter(*ids, raw, None)


def counts(env: Environment, region: str) -> QueueCounts:
    sqs = env.client("sqs", region)

    def depth(url: str) -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    with reaching(region):
        return QueueCounts(depth(env.ingest_queue_url(region)), depth(env.dead_letter_queue_url(region)))


def reset_ledger(env: Environment, region: str, lid: str) -> bool:
    """FAILED -> RETRY, so the handler claims the file again; False when it is not FAILED (nothing to do)."""
    try:
        with reaching(region):
            env.client("dynamodb", region).update_item(
                TableName=env.table, Key=ledger_key(lid), UpdateExpression="SET #s = :retry",
                ConditionExpression="#s = :failed", ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":retry": {"S": LedgerStatus.RETRY}, ":failed": {"S": LedgerStatus.FAILED}})
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def receive_all(env: Environment, region: str, wait_seconds: int) -> list[Letter]:
    """Receive until the DLQ returns nothing (one long poll at the end: short polls may miss messages)."""
    sqs = env.client("sqs", region)
    url = env.dead_letter_queue_url(region)
    letters: dict[str, Letter] = {}
    while True:
        with reaching(region):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=RECEIVE_MAX,
                                           VisibilityTimeout=VISIBILITY_SECONDS, WaitTimeSeconds=wait_seconds,
                                           MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return list(letters.values())
        for message in messages:
            letters.setdefault(message["MessageId"], parse(message))


def redrive(env: Environment, region: str, reasons: set[str] | None = None, limit: int | None = None,
            dry_run: bool = False, wait_seconds: int = 2,
            on_line: Callable[[str], None] = lambda line: None) -> Result:
    """Move the matching messages of ``region``'s DLQ to its ingest queue; count everything by reason."""
    result = Result(region, counts(env, region))
    sqs = env.client("sqs", region)
    dlq_url, ingest_url = env.dead_letter_queue_url(region), env.ingest_queue_url(region)
    letters = receive_all(env, region, wait_seconds)
    release = []
    try:
        for letter in letters:
            result.found[letter.reason] += 1
            wanted = reasons is None or letter.reason in reasons
            if not wanted:
                release.append(letter)
                continue
            if letter.body is None:
                result.not_redrivable[letter.reason] += 1
                on_line(f"left in the DLQ: {letter.message_id} {letter.reason}: {letter.why_not}")
                release.append(letter)
                continue
            if dry_run or (limit is not None and sum(result.moved.values()) >= limit):
                result.left[letter.reason] += 1
                release.append(letter)
                continue
            if letter.ledger_id and reset_ledger(env, region, letter.ledger_id):
                result.ledger_reset += 1
            with reaching(region):
                sqs.send_message(QueueUrl=ingest_url, MessageBody=letter.body, MessageAttributes={
                    "redrivenReason": {"DataType": "String", "StringValue": letter.reason}})
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter.receipt)
            result.moved[letter.reason] += 1
    finally:
        _release(env, region, dlq_url, release)
    result.after = counts(env, region)
    return result


def _release(env: Environment, region: str, url: str, letters: list[Letter]) -> None:
    """Make the messages left in the DLQ visible again now rather than after the visibility timeout."""
    sqs = env.client("sqs", region)
    for start in range(0, len(letters), RECEIVE_MAX):
        entries = [{"Id": str(i), "ReceiptHandle": letter.receipt, "VisibilityTimeout": 0}
                   for i, letter in enumerate(letters[start:start + RECEIVE_MAX])]
        with reaching(region):
            response = sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            raise OperationError(f"could not make {len(response['Failed'])} DLQ message(s) visible again; they "
                                 f"reappear after {VISIBILITY_SECONDS} s")
