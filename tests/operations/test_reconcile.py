"""reconcile against files the real handler processed in the emulator: each status found where it is, the
table replicas compared, and a backfill that the processor then really processes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from handlers.contracts import ledger_id, ledger_key
from tap_templates.errors import ConfigError
from tap_templates.operations import reconcile
from tests.deploy.helpers import ROOT
from tests.operations.conftest import CFG
from tests.operations.helpers import file_items, jsonl, ledger_item

PRIMARY, SECONDARY = CFG.primary_region, CFG.secondary_regions[0]
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2h", NOW - dt.timedelta(hours=2)),
    ("90s", NOW - dt.timedelta(seconds=90)),
    ("7d", NOW - dt.timedelta(days=7)),
    ("1w", NOW - dt.timedelta(days=7)),
    ("2025-02-28T10:00Z", dt.datetime(2025, 2, 28, 10, 0, tzinfo=dt.UTC)),
    ("2025-02-28T10:00:00+01:00", dt.datetime(2025, 2, 28, 9, 0, tzinfo=dt.UTC)),
    ("2025-02-28", dt.datetime(2025, 2, 28, tzinfo=dt.UTC)),
])
def test_times_are_iso_8601_or_a_duration_ago(text, expected):
    assert reconcile.parse_time(text, "--since", NOW) == expected


@pytest.mark.parametrize(("since", "until", "message"), [
    ("yesterday", None, "--since 'yesterday' is not a time: give ISO 8601"),
    ("2h", "3h", "--since (2025-03-01T10:00:00+00:00) must be before --until (2025-03-01T09:00:00+00:00)"),
    ("2h", "2025-13-01", "--until '2025-13-01' is not a time"),
    ("2030-01-01", "2031-01-01", "--since '2030-01-01' is in the future"),
    ("-2h", None, "is not a time"),
])
def test_bad_times_are_one_line(since, until, message):
    with pytest.raises(ConfigError) as error:
        reconcile.window(since, until, NOW)
    assert message in str(error.value) and "\n" not in str(error.value)


def lid_of(pipeline, region: str, key: str, version_id: str) -> str:
    head = pipeline.client("s3", region).head_object(Bucket=pipeline.bucket(region), Key=key, VersionId=version_id)
    return ledger_id(key, version_id, head["ETag"].strip('"'))


def since_start() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def test_every_status_is_found_in_every_bucket(env, pipeline):
    start = since_start()
    pipeline.upload(PRIMARY, "good.jsonl", jsonl("g", 4))
    pipeline.upload(PRIMARY, "corrupt.jsonl.gz", (ROOT / "samples" / "corrupt-truncated.jsonl.gz").read_bytes())
    pipeline.upload(PRIMARY, "notes.txt", b"not a data file: no notification, not counted")
    pipeline.drain(PRIMARY)
    pipeline.upload(PRIMARY, "late.jsonl", jsonl("l", 2))  # its event waits: the primary has not run yet
    pipeline.replicate()  # S3 and global-table replication, which moto does not do (say so: LocalPipeline)

    report = reconcile.run(env, start, dt.datetime.now(dt.UTC))
    counts = {r.region: dict(r.counts) for r in report.regions}
    assert counts == {region: {"COMPLETED": 1, "FAILED": 1, "MISSING": 1} for region in CFG.regions}
    assert {r.region: r.ignored for r in report.regions} == {PRIMARY: 1, SECONDARY: 1}
    assert (report.ledger_region, report.active) == (PRIMARY, PRIMARY)
    failed, missing = (report.by_status(s)[0] for s in ("FAILED", "MISSING"))
    assert failed.describe().startswith("FAILED CORRUPT_GZIP: corrupt.jsonl.gz version ")
    assert missing.describe().endswith(f"in {PRIMARY}, {SECONDARY}")
    assert report.discrepancies == [missing.describe()], "a failed file is recorded, not a discrepancy"
    assert report.sampled >= 2 and report.replica_differences == []

    assert reconcile.run(env, start, start + dt.timedelta(minutes=1)).findings == [], "outside the window"
    assert [f.key for f in reconcile.run(env, start, dt.datetime.now(dt.UTC), prefix="go").findings] == []


def test_replicas_that_differ_are_a_discrepancy(env, pipeline):
    version = pipeline.upload(PRIMARY, "good.jsonl", jsonl("g", 3))
    pipeline.drain(PRIMARY)
    pipeline.replicate()
    lid = lid_of(pipeline, PRIMARY, "good.jsonl", version)
    # the secondary replica lags: its copy of the ledger item is still the one of the first attempt
    pipeline.client("dynamodb", SECONDARY).update_item(
        TableName=pipeline.table, Key=ledger_key(lid), UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "IN_PROGRESS"}})
    report = reconcile.run(env, since_start(), dt.datetime.now(dt.UTC))
    (difference,) = report.replica_differences
    assert difference.startswith(f"replicas differ on {lid}/LEDGER: {PRIMARY} COMPLETED (records 3")
    assert f"{SECONDARY} IN_PROGRESS" in difference
    assert report.discrepancies == [difference]


def test_an_unreachable_region_is_a_discrepancy_not_a_crash(env, pipeline, outage):
    outage.down.add(SECONDARY)
    report = reconcile.run(env, since_start(), dt.datetime.now(dt.UTC))
    assert [d for d in report.discrepancies if d.startswith(f"{SECONDARY}: bucket ")]
    assert report.ledger_region == PRIMARY


def test_backfill_sends_a_lost_event_again_and_the_processor_completes_the_file(env, pipeline):
    start = since_start()
    version = pipeline.upload(PRIMARY, "lost/event.jsonl", jsonl("e", 5))
    sqs = pipeline.client("sqs", PRIMARY)
    pipeline.empty_queue(PRIMARY)  # the notification is lost
    assert pipeline.drain(PRIMARY).files == []

    report = reconcile.run(env, start, dt.datetime.now(dt.UTC))
    (plan,) = reconcile.backfill_plan(report)
    assert (plan.region, plan.version.key, plan.version.version_id) == (PRIMARY, "lost/event.jsonl", version)
    assert reconcile.backfill(env, [plan]) == 1
    (message,) = sqs.receive_message(QueueUrl=pipeline.queue_url(PRIMARY), VisibilityTimeout=0)["Messages"]
    (record,) = json.loads(message["Body"])["Records"]
    assert (record["eventSource"], record["eventName"], record["s3"]["object"]["versionId"]) == (
        "aws:s3", "ObjectCreated:Put", version)

    drained = pipeline.drain(PRIMARY)
    assert drained.file("lost/event.jsonl").status == "COMPLETED"
    lid = lid_of(pipeline, PRIMARY, "lost/event.jsonl", version)
    assert file_items(pipeline, PRIMARY, lid) == 5 and ledger_item(pipeline, PRIMARY, lid)["attempts"] == 1
    pipeline.replicate()
    assert reconcile.run(env, start, dt.datetime.now(dt.UTC)).discrepancies == []


def test_a_file_only_in_a_passive_region_is_backfilled_there(env, pipeline):
    """The processor may read only its own region's bucket: such a file waits in that region's queue."""
    pipeline.upload(SECONDARY, "stray.jsonl", jsonl("s", 1))
    report = reconcile.run(env, since_start(), dt.datetime.now(dt.UTC))
    (plan,) = reconcile.backfill_plan(report)
    assert plan.region == SECONDARY
    assert plan.describe().endswith(f"(not in {PRIMARY}'s bucket: processed once {SECONDARY} is active)")
