"""redrive against dead letters the real handler wrote (and one SQS moved) in the emulator: filtered by
reason, limited, counted, and the redriven files really processed again."""

from __future__ import annotations

import json

from handlers.contracts import ledger_id
from tap_templates.operations import redrive
from tests.deploy.helpers import ROOT
from tests.operations.conftest import CFG
from tests.operations.helpers import jsonl, ledger_item

PRIMARY = CFG.primary_region
SAMPLES = ROOT / "samples"


def fail_two_files(pipeline) -> dict[str, str]:
    """Two files the handler dead-letters (NOT_JSON and CORRUPT_GZIP); their ledger IDs by reason."""
    found = {}
    for key, sample in (("bad/not-json.json", "not-json.json"), ("bad/cut.jsonl.gz", "corrupt-truncated.jsonl.gz")):
        version = pipeline.upload(PRIMARY, key, (SAMPLES / sample).read_bytes())
        etag = pipeline.client("s3", PRIMARY).head_object(Bucket=pipeline.bucket(PRIMARY), Key=key)["ETag"]
        found[key] = ledger_id(key, version, etag.strip('"'))
    drained = pipeline.drain(PRIMARY)
    assert {f.key: f.dlq_reason for f in drained.files if f.dlq_reason} == {
        "bad/not-json.json": "NOT_JSON", "bad/cut.jsonl.gz": "CORRUPT_GZIP"}
    return found


def test_a_dry_run_counts_by_reason_and_moves_nothing(env, pipeline):
    fail_two_files(pipeline)
    result = redrive.redrive(env, PRIMARY, {"NOT_JSON"}, dry_run=True, wait_seconds=0)
    assert (dict(result.found), dict(result.left), dict(result.moved)) == (
        {"NOT_JSON": 1, "CORRUPT_GZIP": 1}, {"NOT_JSON": 1}, {})
    assert result.before == result.after and result.before.dead_letters == 2
    assert pipeline.queue_depth(PRIMARY, dead_letter=True) == 2, "every message visible again"


def test_redrive_by_reason_resets_the_ledger_and_the_file_is_processed_again(env, pipeline):
    lids = fail_two_files(pipeline)
    result = redrive.redrive(env, PRIMARY, {"NOT_JSON"}, wait_seconds=0)
    assert dict(result.moved) == {"NOT_JSON": 1} and result.ledger_reset == 1
    assert (result.before.dead_letters, result.after.dead_letters) == (2, 1)
    assert result.after.ingest == result.before.ingest + 1
    assert ledger_item(pipeline, PRIMARY, lids["bad/not-json.json"])["status"] == "RETRY"
    assert ledger_item(pipeline, PRIMARY, lids["bad/cut.jsonl.gz"])["status"] == "FAILED", "other reason left"

    # the object is still not JSON, so it fails again: but it was claimed and tried (attempt 2), not skipped
    drained = pipeline.drain(PRIMARY)
    assert drained.file("bad/not-json.json").duplicate_deliveries == 0
    item = ledger_item(pipeline, PRIMARY, lids["bad/not-json.json"])
    assert (item["status"], item["attempts"], item["failureReason"]) == ("FAILED", 2, "NOT_JSON")


def test_max_and_messages_sqs_moved_after_too_many_receives(env, pipeline):
    """SQS moves the original S3 event (no reason attribute) after maxReceiveCount: RETRIES_EXHAUSTED."""
    versions = [pipeline.upload(PRIMARY, f"slow/{i}.jsonl", jsonl(f"s{i}", 2)) for i in range(3)]
    sqs = pipeline.client("sqs", PRIMARY)
    ingest, dlq = pipeline.queue_url(PRIMARY), pipeline.queue_url(PRIMARY, dead_letter=True)
    moved = 0
    while moved < 3:  # stand in for SQS's redrive policy: the original bodies, unchanged, into the DLQ
        for m in sqs.receive_message(QueueUrl=ingest, MaxNumberOfMessages=10).get("Messages", []):
            if json.loads(m["Body"]).get("Records"):
                sqs.send_message(QueueUrl=dlq, MessageBody=m["Body"])
                moved += 1
            sqs.delete_message(QueueUrl=ingest, ReceiptHandle=m["ReceiptHandle"])
    result = redrive.redrive(env, PRIMARY, {redrive.RETRIES_EXHAUSTED}, limit=2, wait_seconds=0)
    assert (dict(result.moved), dict(result.left), result.ledger_reset) == ({"RETRIES_EXHAUSTED": 2},
                                                                            {"RETRIES_EXHAUSTED": 1}, 0)
    assert (result.before.dead_letters, result.after.dead_letters) == (3, 1)
    drained = pipeline.drain(PRIMARY)
    assert sorted(f.status for f in drained.files) == ["COMPLETED", "COMPLETED"]
    assert {f.version_id for f in drained.files} <= set(versions)


def test_an_invalid_notification_stays_in_the_dlq(env, pipeline):
    sqs = pipeline.client("sqs", PRIMARY)
    sqs.send_message(QueueUrl=pipeline.queue_url(PRIMARY), MessageBody="this is not an S3 event")
    assert pipeline.drain(PRIMARY).dead_letters == 1
    lines = []
    result = redrive.redrive(env, PRIMARY, wait_seconds=0, on_line=lines.append)
    assert dict(result.not_redrivable) == {"INVALID_NOTIFICATION": 1} and not result.moved
    assert result.after.dead_letters == 1
    assert "inspect and delete it by hand" in lines[0]

