"""The flow of scripts/simulate.py in pytest: upload, the bucket's notification, the event source mapping,
the handler, the table, the ledger and the DLQ, with the invariants every file must keep."""

from __future__ import annotations

import dataclasses
import json

import pytest

from handlers.contracts import Reason
from tap_templates.local import simulate
from tap_templates.local.inputs import collect_inputs, count_records
from tests.local.pipeline.conftest import PRIMARY
from tests.local.pipeline.helpers import (
    assert_completed,
    assert_failed,
    event,
    gz,
    jsonl,
    ledger,
    records_of,
    sensor,
    table,
)

# What each shipped sample must become (samples/README.md says the same to a reader).
SAMPLE_OUTCOMES = {
    "sensors-warehouse.jsonl": (40, 0), "sensors-lab.csv": (30, 0), "sensors-roof.csv.gz": (35, 0),
    "events-lobby.json": (25, 0), "events-office.json.gz": (12, 0), "events-garage.jsonl.gz": (50, 0),
    "sensors-with-bad-records.jsonl": (12, 6), "events-with-bad-rows.csv": (8, 3),
    "not-json.json": Reason.NOT_JSON, "corrupt-truncated.jsonl.gz": Reason.CORRUPT_GZIP,
    "unsupported-format.xml": Reason.UNSUPPORTED_FORMAT,
}


def upload_all(pipeline, prefix, files: dict[str, bytes]) -> dict[str, str]:
    return {key: pipeline.upload(PRIMARY, prefix + key, body) for key, body in files.items()}


def test_the_samples_show_every_outcome_and_every_record_is_accounted_for(pipeline, prefix, samples_dir):
    inputs = [dataclasses.replace(i, key=prefix + i.key) for i in collect_inputs([samples_dir])]
    assert sorted(i.key.removeprefix(prefix) for i in inputs) == sorted(SAMPLE_OUTCOMES)
    result = simulate.run(pipeline, inputs)
    assert result.unaccounted == 0 and result.drain.messages_left == 0
    items, letters = table(pipeline, PRIMARY), pipeline.dead_letters(PRIMARY)
    for a in result.files:
        expected = SAMPLE_OUTCOMES[a.input.key.removeprefix(prefix)]
        if isinstance(expected, tuple):
            assert a.input.expected == sum(expected), "the independent count agrees with the sample's design"
            assert_completed(pipeline, PRIMARY, a.input.key, a.file.version_id, *expected, items=items,
                             letters=letters)
        else:
            letter = assert_failed(pipeline, PRIMARY, a.input.key, a.file.version_id, expected, items=items,
                                   letters=letters)
            written = records_of(items, a.input.key, a.file.version_id)
            assert len(written) == letter["body"]["processed"] + letter["body"]["rejected"]
    by_key = {a.input.key.removeprefix(prefix): a for a in result.files}
    assert by_key["corrupt-truncated.jsonl.gz"].file.processed > 0, "records before the cut stay stored"
    assert [k for k, a in by_key.items() if not a.input.notified] == ["unsupported-format.xml"]


def test_rejected_records_keep_their_reasons_and_raw_input(pipeline, prefix):
    body = jsonl([sensor(f"{prefix}ok", 1), sensor(f"{prefix}late", 2, timestamp="tomorrow"),
                  b'{"id": "x", "dataType": ', {"id": f"{prefix}w", "dataType": "weather", "timestamp": 1}])
    version = pipeline.upload(PRIMARY, prefix + "reasons.jsonl", body)
    pipeline.drain(PRIMARY)
    assert_completed(pipeline, PRIMARY, prefix + "reasons.jsonl", version, 1, 3)
    rejected = sorted((i for i in records_of(table(pipeline, PRIMARY), prefix + "reasons.jsonl", version)
                       if i["processingStatus"] == "REJECTED"), key=lambda i: i["sourceLine"])
    assert [int(i["sourceLine"]) for i in rejected] == [2, 3, 4]
    assert [e["field"] for e in rejected[0]["errors"]] == ["timestamp"]
    assert rejected[1]["raw"] == '{"id": "x", "dataType": '
    assert rejected[2]["claimedDataType"] == "weather"


@pytest.mark.parametrize("name", ["in box/mesures été 2024 (1).jsonl", "東京/センサー データ.csv",
                                  "a+b%20c/100% sure &= ok.json.gz"])
def test_keys_with_spaces_and_non_ascii_characters_work(pipeline, prefix, name):
    rid = f"{prefix}{name}"
    if name.endswith(".csv"):
        body = b"id,dataType,timestamp,name\n" + f"{rid},event,1714550400,ouverture\n".encode()
    elif name.endswith(".gz"):
        body = gz(json.dumps([event(rid, 1), event(rid, 2)], ensure_ascii=False).encode())
    else:
        body = jsonl([sensor(rid, 1), sensor(rid, 2)])
    version = pipeline.upload(PRIMARY, prefix + name, body)
    report = pipeline.drain(PRIMARY)
    assert report.file(prefix + name).status == "COMPLETED"
    assert_completed(pipeline, PRIMARY, prefix + name, version, count_records(name, body), 0)


def test_a_redelivered_notification_changes_nothing_and_counts_as_a_duplicate(pipeline, prefix):
    good = jsonl([sensor(f"{prefix}{i}", i) for i in range(30)] + [{"id": "bad"}])
    versions = upload_all(pipeline, prefix, {"good.jsonl": good, "broken.json": b"{not json"})
    pipeline.drain(PRIMARY)
    before = table(pipeline, PRIMARY)
    letters_before = len(pipeline.dead_letters(PRIMARY))
    for key, version in versions.items():  # S3 delivers at least once: the same event again, twice
        pipeline.notify(PRIMARY, prefix + key, version)
        pipeline.notify(PRIMARY, prefix + key, version)
    report = pipeline.drain(PRIMARY)
    assert table(pipeline, PRIMARY) == before, "not one item added or changed"
    assert len(pipeline.dead_letters(PRIMARY)) == letters_before, "no second DLQ message"
    for key in versions:
        file = report.file(prefix + key)
        assert (file.deliveries, file.duplicate_deliveries) == (2, 2)
    assert_completed(pipeline, PRIMARY, prefix + "good.jsonl", versions["good.jsonl"], 30, 1)
    assert_failed(pipeline, PRIMARY, prefix + "broken.json", versions["broken.json"], Reason.NOT_JSON)


def test_re_uploading_the_same_file_changes_nothing(pipeline, prefix):
    """A re-upload of the same bytes is a new object version, so it has a ledger item of its own: COMPLETED,
    ``duplicateOf`` the first version, with its counts. Nothing else is added or changed. (The report counts a
    delivery as a duplicate when the version's ledger item was done before it, so the new version's first
    delivery is not one; its re-delivery is.)"""
    key = prefix + "again.jsonl"
    body = jsonl([sensor(f"{prefix}{i}", i) for i in range(10)] + [{"id": "bad"}])
    first = pipeline.upload(PRIMARY, key, body)
    pipeline.drain(PRIMARY)
    before = table(pipeline, PRIMARY)
    second = pipeline.upload(PRIMARY, key, body)
    report = pipeline.drain(PRIMARY)
    assert report.file(key).status == "COMPLETED"
    assert (report.file(key).processed, report.file(key).rejected) == (10, 1), "accounted through duplicateOf"
    after = table(pipeline, PRIMARY)
    assert {k: after[k] for k in before} == before, "not one item changed"
    added = ledger(after, key, second)
    assert set(after) - set(before) == {(added["recordId"], added["timestamp"])}, "only the new version's ledger"
    assert added["duplicateOf"] == ledger(before, key, first)["recordId"]
    assert (added["processed"], added["rejected"]) == (10, 1)
    pipeline.notify(PRIMARY, key, second)
    assert pipeline.drain(PRIMARY).file(key).duplicate_deliveries == 1
    assert table(pipeline, PRIMARY) == after


def test_an_unsupported_format_reaches_the_dlq_when_its_event_arrives(pipeline, prefix):
    """The bucket's filter only notifies INGEST_SUFFIXES, so S3 never sends this event; an event for it can
    still arrive (a filter changed by hand, a redrive), and is sent here directly to show what happens."""
    version = pipeline.upload(PRIMARY, prefix + "export.xml", b"<readings/>")
    assert pipeline.queue_depth(PRIMARY) == 0, "the notification filter skipped the .xml object"
    pipeline.notify(PRIMARY, prefix + "export.xml", version)
    report = pipeline.drain(PRIMARY)
    assert report.file(prefix + "export.xml").dlq_reason == Reason.UNSUPPORTED_FORMAT
    assert_failed(pipeline, PRIMARY, prefix + "export.xml", version, Reason.UNSUPPORTED_FORMAT)


def test_a_message_that_is_not_an_s3_event_goes_to_the_dlq_once(pipeline):
    url = pipeline.queue_url(PRIMARY)
    pipeline.client("sqs", PRIMARY).send_message(QueueUrl=url, MessageBody="hello")
    before = len([d for d in pipeline.dead_letters(PRIMARY) if d["reason"] == Reason.INVALID_NOTIFICATION])
    report = pipeline.drain(PRIMARY)
    assert report.messages_left == 0 and report.messages_deleted == 1
    after = [d for d in pipeline.dead_letters(PRIMARY) if d["reason"] == Reason.INVALID_NOTIFICATION]
    assert len(after) == before + 1 and after[-1]["body"]["s3Record"] == "hello"
