"""Re-uploads and odd notifications: a file's outcome never depends on how (or how often) it arrived.

Every test runs the real handler against moto through real boto3 clients (see ``conftest``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import urllib.parse

import boto3
import pytest
from botocore.config import Config

from handlers import contracts
from tests.handlers.helpers import BUCKET, REGION, FakeContext, Pipeline, client, jsonl, sensor


@pytest.mark.parametrize("event_time", ["2024-05-01T12:00:00", "2024-05-01T12:00:00.123456", "2024-05-01"])
def test_a_zone_less_event_time_is_read_as_utc_and_the_file_completes(pipeline: Pipeline, emf, event_time):
    """A hand-made or backfilled event without ``Z`` or an offset: the latency is measured from UTC, and the
    completed file is acknowledged (before the fix, subtracting a naive time raised and the file retried)."""
    record = pipeline.put("naive/time.jsonl", jsonl([sensor(1), sensor(2)]))
    record["eventTime"] = event_time
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert pipeline.ledger()["status"] == "COMPLETED"
    metrics = emf()
    assert metrics["FilesCompleted"] == 1 and metrics["FileLatency"] > 0


# -- re-uploading the same bytes (a new object version) -------------------------------------------------------

KEY = "drop/readings.jsonl"


def raw_table(pipeline: Pipeline) -> dict[tuple[str, str], dict]:
    """Every item exactly as DynamoDB holds it (typed attribute values), by key: equal means byte-identical."""
    found, kwargs = {}, {"TableName": pipeline.table}
    while True:
        page = pipeline.dynamodb.scan(**kwargs)
        found.update({(i["recordId"]["S"], i["timestamp"]["S"]): i for i in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def lid_of(record: dict) -> str:
    obj = record["s3"]["object"]
    return contracts.ledger_id(urllib.parse.unquote_plus(obj["key"]), obj.get("versionId"), obj.get("eTag"))


def stored_crc32(key: str, version_id: str) -> str:
    head = client("s3").head_object(Bucket=BUCKET, Key=key, VersionId=version_id, ChecksumMode="ENABLED")
    return head["ChecksumCRC32"]


def candidate_key(key: str, size: int, algorithm: str, checksum: str) -> str:
    """The content item's key as the ledger docstring defines it, computed here independently."""
    return "CONTENT#" + hashlib.sha256(f"{key}\0{size}\0{algorithm}:{checksum}".encode()).hexdigest()


def body(n: int = 30, bad: int = 2) -> bytes:
    return jsonl([sensor(i) for i in range(n)] + [{"id": f"bad-{i}"} for i in range(bad)])


def test_an_identical_re_upload_changes_nothing_and_counts_as_a_duplicate(pipeline: Pipeline, emf):
    data = body()
    first = pipeline.put(KEY, data)
    assert pipeline.run(pipeline.event(first)) == {"batchItemFailures": []}
    before = raw_table(pipeline)
    content = before[(candidate_key(KEY, len(data), "CRC32", stored_crc32(KEY, first["s3"]["object"]["versionId"])),
                      "CONTENT")]
    assert content["ledgerId"]["S"] == lid_of(first)
    assert content["contentSha256"]["S"] == hashlib.sha256(data).hexdigest()
    assert "dataType" not in content and "processingStatus" not in content, "outside both GSIs"
    emf()

    second = pipeline.put(KEY, data)
    assert second["s3"]["object"]["versionId"] != first["s3"]["object"]["versionId"]
    assert pipeline.run(pipeline.event(second)) == {"batchItemFailures": []}
    after = raw_table(pipeline)
    assert {k: after[k] for k in before} == before, "every item byte-identical"
    (added,) = set(after) - set(before)
    assert added == (lid_of(second), "LEDGER"), "only the new version's ledger item"
    entry = after[added]
    assert entry["status"] == {"S": "COMPLETED"} and entry["duplicateOf"] == {"S": lid_of(first)}
    assert (entry["processed"], entry["rejected"], entry["records"], entry["offset"]) == (
        {"N": "30"}, {"N": "2"}, {"N": "32"}, {"N": "32"})
    metrics = emf()
    assert metrics["FilesDuplicate"] == 1
    assert "RecordsProcessed" not in metrics and "RecordsRejected" not in metrics and "FilesCompleted" not in metrics

    # re-delivering the duplicate version is the ordinary duplicate delivery: again nothing changes
    assert pipeline.run(pipeline.event(second)) == {"batchItemFailures": []}
    assert raw_table(pipeline) == after
    assert emf()["FilesDuplicate"] == 1


def test_a_re_upload_with_one_byte_changed_is_processed(pipeline: Pipeline):
    data = body()
    first = pipeline.put(KEY, data)
    pipeline.run(pipeline.event(first))
    changed = data.replace(b'"value": 20.0', b'"value": 21.0', 1)
    assert len(changed) == len(data) and changed != data
    second = pipeline.put(KEY, changed)
    assert pipeline.run(pipeline.event(second)) == {"batchItemFailures": []}
    v2 = second["s3"]["object"]["versionId"]
    entries = {e["recordId"]: e for e in pipeline.ledgers()}
    assert "duplicateOf" not in entries[lid_of(second)]
    assert (entries[lid_of(second)]["processed"], entries[lid_of(second)]["rejected"]) == (30, 2)
    valid = pipeline.records("PROCESSED")
    assert len(valid) == 30 and all(i["sourceVersionId"] == v2 for i in valid), "rewritten by the new version"
    assert next(i for i in valid if i["id"] == "s-0")["value"] == 21
    assert len([i for i in pipeline.records("REJECTED") if i["sourceFile"] == lid_of(second)]) == 2


def test_a_checksum_collision_is_caught_by_sha256_and_the_file_is_processed(pipeline: Pipeline, emf):
    """A 32-bit CRC can collide: forge a content item under the new file's candidate key that points at a
    COMPLETED file with other bytes. The new file must still be processed whole, nothing dropped."""
    original = body()
    first = pipeline.put(KEY, original)
    pipeline.run(pipeline.event(first))
    other = jsonl([sensor(i, metric="humidity") for i in range(100, 130)] + [{"id": "bad-x"}])
    second = pipeline.put(KEY, other)
    v2 = second["s3"]["object"]["versionId"]
    forged = candidate_key(KEY, len(other), "CRC32", stored_crc32(KEY, v2))
    pipeline.dynamodb.put_item(TableName=pipeline.table, Item={
        "recordId": {"S": forged}, "timestamp": {"S": "CONTENT"}, "itemType": {"S": "FILE_CONTENT"},
        "ledgerId": {"S": lid_of(first)}, "contentSha256": {"S": hashlib.sha256(original).hexdigest()},
        "processed": {"N": "30"}, "rejected": {"N": "2"}, "records": {"N": "32"}, "expiresAt": {"N": str(2**40)},
    })
    emf()
    assert pipeline.run(pipeline.event(second)) == {"batchItemFailures": []}
    entry = next(e for e in pipeline.ledgers() if e["recordId"] == lid_of(second))
    assert entry["status"] == "COMPLETED" and "duplicateOf" not in entry
    assert (entry["processed"], entry["rejected"]) == (30, 1)
    mine = [i for i in pipeline.records() if i["sourceFile"] == lid_of(second)]
    assert len(mine) == 31 and sum(i["processingStatus"] == "PROCESSED" for i in mine) == 30
    assert {i["id"] for i in mine if "id" in i} == {f"s-{i}" for i in range(100, 130)}
    metrics = emf()
    assert metrics["ContentChecksumCollisions"] == 1 and metrics["RecordsProcessed"] == 30
    assert "FilesDuplicate" not in metrics
    # the completed file now owns the candidate key, with its own SHA-256
    content = raw_table(pipeline)[(forged, "CONTENT")]
    assert content["ledgerId"]["S"] == lid_of(second)
    assert content["contentSha256"]["S"] == hashlib.sha256(other).hexdigest()


def test_an_object_without_a_stored_checksum_is_processed_normally(pipeline: Pipeline, emf):
    plain_s3 = boto3.client("s3", region_name=REGION, config=Config(request_checksum_calculation="when_required"))
    data = body(10, 1)
    versions = []
    for _ in range(2):
        response = plain_s3.put_object(Bucket=BUCKET, Key=KEY, Body=data)
        versions.append(response["VersionId"])
        head = plain_s3.head_object(Bucket=BUCKET, Key=KEY, VersionId=response["VersionId"], ChecksumMode="ENABLED")
        assert not [k for k in head if k.startswith("Checksum")], "the emulator stored no checksum"
        record = pipeline.s3_record(KEY, response["VersionId"], response["ETag"].strip('"'), len(data))
        assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert not [i for i in pipeline.items() if i["recordId"].startswith("CONTENT#")]
    entries = pipeline.ledgers()
    assert len(entries) == 2 and all(e["status"] == "COMPLETED" and "duplicateOf" not in e for e in entries)
    assert all(i["sourceVersionId"] == versions[1] for i in pipeline.records("PROCESSED"))
    assert len(pipeline.records("REJECTED")) == 2, "as before this change: one per version"
    assert emf()["RecordsProcessed"] == 20


def test_a_file_resumed_from_a_byte_offset_records_no_content_identity(pipeline: Pipeline):
    """Documented limit: a JSONL file resumed mid-object was never hashed whole, so it leaves no content
    item, and a re-upload of it is processed again (valid items rewritten, rejected items per version)."""
    data = body(400, 0)
    first = pipeline.put(KEY, data)
    result = pipeline.run(pipeline.event(first), FakeContext(remaining_ms=[60_000], step_ms=5_000))
    assert len(result["batchItemFailures"]) == 1 and pipeline.ledger()["byteOffset"] > 0
    assert pipeline.run(pipeline.event(first)) == {"batchItemFailures": []}
    assert pipeline.ledger()["status"] == "COMPLETED" and pipeline.ledger()["processed"] == 400
    assert not [i for i in pipeline.items() if i["recordId"].startswith("CONTENT#")]

    second = pipeline.put(KEY, data)
    assert pipeline.run(pipeline.event(second)) == {"batchItemFailures": []}
    entry = next(e for e in pipeline.ledgers() if e["recordId"] == lid_of(second))
    assert entry["status"] == "COMPLETED" and "duplicateOf" not in entry and entry["processed"] == 400
    assert all(i["sourceFile"] == lid_of(second) for i in pipeline.records("PROCESSED"))
    # processed in one pass this time, so a third upload of the same bytes is a duplicate
    third = pipeline.put(KEY, data)
    assert pipeline.run(pipeline.event(third)) == {"batchItemFailures": []}
    entry = next(e for e in pipeline.ledgers() if e["recordId"] == lid_of(third))
    assert entry["duplicateOf"] == lid_of(second)


@pytest.mark.parametrize("name,data", [
    ("drop/events.json", json.dumps([{"id": f"e-{i}", "dataType": "event", "timestamp": 1714550400 + i,
                                      "name": "n"} for i in range(5)]).encode() + b"\n\n   \n"),
    ("drop/rows.csv.gz", gzip.compress(b"id,dataType,timestamp,name\ne-1,event,1714550400,n\ne-2,event,x,n\n")),
], ids=["json-trailing-whitespace", "csv-gzip"])
def test_json_with_trailing_whitespace_and_gzip_re_uploads_are_duplicates(pipeline: Pipeline, name, data):
    """The hash covers the raw stored bytes, including what a parser stops short of (a JSON document's
    trailing whitespace) and the compressed form of a .gz file."""
    first = pipeline.put(name, data)
    pipeline.run(pipeline.event(first))
    before = raw_table(pipeline)
    second = pipeline.put(name, data)
    assert pipeline.run(pipeline.event(second)) == {"batchItemFailures": []}
    after = raw_table(pipeline)
    assert {k: after[k] for k in before} == before and len(after) == len(before) + 1
    assert after[(lid_of(second), "LEDGER")]["duplicateOf"]["S"] == lid_of(first)
