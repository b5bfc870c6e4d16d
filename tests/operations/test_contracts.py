"""The operations tools and the handler share their contracts through ``handlers.contracts``: these tests
check that what the tools send (backfilled S3 events, redriven dead letters) reads to the handler as the
originals do."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from handlers import events, failures
from handlers.contracts import RETRIES_EXHAUSTED, Reason, ledger_id
from tap_templates.operations import reconcile, redrive


def _version(key: str, version_id: str | None = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY") -> reconcile.Version:
    return reconcile.Version("us-west-2", "tap-dev-ingest-123456789012-us-west-2", key, version_id,
                             "9b2cf535f27731c974343645a3985328", 1234, dt.datetime(2025, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("key", ["in/readings.jsonl", "dir with spaces/ünïcode €+plus.csv.gz", "a%20b.json"])
def test_a_backfilled_event_reads_as_the_original_to_the_handler(key):
    """The handler parses the backfill's body into exactly the object version reconcile found."""
    version = _version(key)
    message = events.parse_message("m-1", json.dumps(reconcile.backfill_event(version)))
    (ref,) = message.objects
    assert (ref.bucket, ref.key, ref.version_id, ref.etag, ref.size, ref.is_creation) == (
        version.bucket, key, version.version_id, version.etag, version.size, True)
    assert ledger_id(ref.key, ref.version_id, ref.etag) == version.ledger_id


def test_an_unversioned_object_is_backfilled_without_a_version_id():
    (ref,) = events.parse_message("m-1", json.dumps(reconcile.backfill_event(_version("x.json", "null")))).objects
    assert ref.version_id is None
    assert ledger_id(ref.key, ref.version_id, ref.etag) == _version("x.json", "null").ledger_id


def _dlq_message(body: str, reason: str | None) -> dict:
    attributes = {"reason": {"DataType": "String", "StringValue": reason}} if reason else {}
    return {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": body, "MessageAttributes": attributes}


def test_a_handler_dead_letter_is_redriven_as_its_original_s3_record():
    record = json.loads(json.dumps(reconcile.backfill_event(_version("in/readings.jsonl"))))["Records"][0]
    letter = failures.DeadLetter(reason=Reason.CORRUPT_GZIP, message="bad gzip", region="us-east-1",
                                 s3_record=record, sqs_message_id="m-0", request_id="r", key="in/readings.jsonl",
                                 ledger_id="FILE#abc")
    parsed = redrive.parse(_dlq_message(letter.body(), Reason.CORRUPT_GZIP))
    assert (parsed.reason, parsed.ledger_id) == (Reason.CORRUPT_GZIP, "FILE#abc")
    (ref,) = events.parse_message("m-2", parsed.body).objects
    assert (ref.key, ref.version_id) == ("in/readings.jsonl", record["s3"]["object"]["versionId"])


def test_an_invalid_notification_is_never_redriven():
    letter = failures.DeadLetter(reason=Reason.INVALID_NOTIFICATION, message="not JSON", region="us-east-1",
                                 s3_record="{not json", sqs_message_id="m-0", request_id="r")
    parsed = redrive.parse(_dlq_message(letter.body(), Reason.INVALID_NOTIFICATION))
    assert parsed.body is None and "inspect" in parsed.why_not


def test_a_message_sqs_moved_is_redriven_as_it_is():
    body = json.dumps(reconcile.backfill_event(_version("in/readings.jsonl")))
    parsed = redrive.parse(_dlq_message(body, None))
    assert (parsed.reason, parsed.body, parsed.ledger_id) == (RETRIES_EXHAUSTED, body, None)
