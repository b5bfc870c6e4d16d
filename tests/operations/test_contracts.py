"""The operations tools restate the handler's contracts instead of importing ``handlers``: these tests hold
the two sides together (ledger key, reason codes, dead-letter body, S3 event shape)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from handlers import events, failures
from handlers import ledger as handler_ledger
from tap_templates.operations import ledger, reconcile, redrive

OBJECTS = [
    ("in/readings.jsonl", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "9b2cf535f27731c974343645a3985328"),
    ("dir with spaces/ünïcode €.csv.gz", "null", "d41d8cd98f00b204e9800998ecf8427e"),
    ("plain.json", None, "5d41402abc4b2a76b9719d911017c592"),
    ("plain.json", "", None),
    ("a/b/c.ndjson", "v1", "5d41402abc4b2a76b9719d911017c592-3"),
]


@pytest.mark.parametrize(("key", "version_id", "etag"), OBJECTS)
def test_ledger_key_matches_the_handler(key, version_id, etag):
    assert ledger.ledger_id(key, version_id, etag) == handler_ledger.ledger_id(key, version_id, etag)


def test_ledger_constants_match_the_handler():
    assert (ledger.LEDGER_SORT_KEY, ledger.ITEM_TYPE) == (handler_ledger.LEDGER_SORT_KEY, handler_ledger.ITEM_TYPE)
    assert (ledger.IN_PROGRESS, ledger.COMPLETED, ledger.FAILED) == (
        handler_ledger.IN_PROGRESS, handler_ledger.COMPLETED, handler_ledger.FAILED)


def test_reason_codes_match_the_handler():
    assert redrive.HANDLER_REASONS == failures.REASONS
    assert redrive.RETRIES_EXHAUSTED not in failures.REASONS


def _version(key: str, version_id: str | None = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY") -> reconcile.Version:
    return reconcile.Version("us-west-2", "tap-dev-ingest-123456789012-us-west-2", key, version_id,
                             "9b2cf535f27731c974343645a3985328", 1234, dt.datetime(2025, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("key", ["in/readings.jsonl", "dir with spaces/ünïcode €+plus.csv.gz", "a%20b.json"])
def test_a_backfilled_event_reads_as_the_original_to_the_handler(key):
    """The handler parses the backfill's body into exactly the object version reconcile found."""
    version = _version(key)
    message = events.parse_message("m-1", json.dumps(reconcile.s3_event(version)))
    (ref,) = message.objects
    assert (ref.bucket, ref.key, ref.version_id, ref.etag, ref.size, ref.is_creation) == (
        version.bucket, key, version.version_id, version.etag, version.size, True)
    assert handler_ledger.ledger_id(ref.key, ref.version_id, ref.etag) == version.ledger_id


def test_an_unversioned_object_is_backfilled_without_a_version_id():
    (ref,) = events.parse_message("m-1", json.dumps(reconcile.s3_event(_version("x.json", "null")))).objects
    assert ref.version_id is None
    assert handler_ledger.ledger_id(ref.key, ref.version_id, ref.etag) == _version("x.json", "null").ledger_id


def _dlq_message(body: str, reason: str | None) -> dict:
    attributes = {"reason": {"DataType": "String", "StringValue": reason}} if reason else {}
    return {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": body, "MessageAttributes": attributes}


def test_a_handler_dead_letter_is_redriven_as_its_original_s3_record():
    record = json.loads(json.dumps(reconcile.s3_event(_version("in/readings.jsonl"))))["Records"][0]
    letter = failures.DeadLetter(reason=failures.CORRUPT_GZIP, message="bad gzip", region="us-east-1",
                                 s3_record=record, sqs_message_id="m-0", request_id="r", key="in/readings.jsonl",
                                 ledger_id="FILE#abc")
    parsed = redrive.parse(_dlq_message(letter.body(), failures.CORRUPT_GZIP))
    assert (parsed.reason, parsed.ledger_id) == (failures.CORRUPT_GZIP, "FILE#abc")
    (ref,) = events.parse_message("m-2", parsed.body).objects
    assert (ref.key, ref.version_id) == ("in/readings.jsonl", record["s3"]["object"]["versionId"])


def test_an_invalid_notification_is_never_redriven():
    letter = failures.DeadLetter(reason=failures.INVALID_NOTIFICATION, message="not JSON", region="us-east-1",
                                 s3_record="{not json", sqs_message_id="m-0", request_id="r")
    parsed = redrive.parse(_dlq_message(letter.body(), failures.INVALID_NOTIFICATION))
    assert parsed.body is None and "inspect" in parsed.why_not


def test_a_message_sqs_moved_is_redriven_as_it_is():
    body = json.dumps(reconcile.s3_event(_version("in/readings.jsonl")))
    parsed = redrive.parse(_dlq_message(body, None))
    assert (parsed.reason, parsed.body, parsed.ledger_id) == (redrive.RETRIES_EXHAUSTED, body, None)
