"""The real handler against moto: formats, keys, ledger, idempotency and every permanent failure path."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest

from handlers.contracts import LedgerStatus, Reason
from tests.handlers.helpers import BUCKET, jsonl, sensor


def test_jsonl_file_is_written_and_ledger_completed(pipeline, emf):
    records = [sensor(i) for i in range(60)]
    response = pipeline.process("in/batch.jsonl", jsonl(records))
    assert response == {"batchItemFailures": []}
    items = pipeline.records("PROCESSED")
    assert len(items) == 60
    item = next(i for i in items if i["recordId"] == "sensor#s-1")
    assert item["timestamp"] == "2024-05-01T12:00:01.001Z"
    assert item["dataType"] == "sensor"
    assert item["deviceId"] == "dev-1" and item["metric"] == "temperature" and float(item["value"]) == 20.1
    assert item["sourceBucket"] == BUCKET and item["sourceKey"] == "in/batch.jsonl"
    assert item["sourceLine"] == 2 and item["sourceVersionId"]
    assert item["processedRegion"] == "us-east-1"
    assert item["expiresAt"] > 1_700_000_000
    entry = pipeline.ledger()
    assert entry["status"] == LedgerStatus.COMPLETED
    assert (entry["processed"], entry["rejected"], entry["records"], entry["offset"]) == (60, 0, 60, 60)
    assert entry["timestamp"] == "LEDGER" and entry["recordId"].startswith("FILE#")
    assert entry["bytes"] == len(jsonl(records))
    assert "leaseOwner" not in entry
    metrics = emf()
    assert metrics["RecordsProcessed"] == 60 and metrics["FilesCompleted"] == 1
    assert metrics["WriteRequests"] == 3  # 25 + 25 + 10


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".json", ".csv"])
def test_every_format_plain_and_gzip_with_bom(pipeline, suffix, gz):
    records = [sensor(i) for i in range(30)]
    if suffix == ".json":
        body = json.dumps(records).encode()
    elif suffix == ".csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(records)
        body = out.getvalue().encode()
    else:
        body = jsonl(records)
    key = "data/file" + suffix + (".gz" if gz else "")
    assert pipeline.process(key, b"\xef\xbb\xbf" + body, gz=gz) == {"batchItemFailures": []}
    items = {i["recordId"]: i for i in pipeline.records("PROCESSED")}
    assert len(items) == 30, pipeline.records("REJECTED")[:2]
    assert float(items["sensor#s-3"]["value"]) == pytest.approx(20.3)
    position = "sourceIndex" if suffix == ".json" else "sourceLine"
    assert items["sensor#s-0"][position] == (0 if suffix == ".json" else 1 if suffix != ".csv" else 2)
    assert pipeline.ledger()["status"] == LedgerStatus.COMPLETED


def test_single_json_object_is_one_record(pipeline):
    assert pipeline.process("one.json", json.dumps(sensor(1)).encode())["batchItemFailures"] == []
    assert [i["recordId"] for i in pipeline.records()] == ["sensor#s-1"]


def test_csv_values_are_coerced_by_schema_types(pipeline):
    body = (
        b"id,dataType,timestamp,deviceId,metric,value,unit\n"
        b"a,sensor,2024-05-01T10:00:00+02:00,007,temp,21.5,C\n"
        b"b,sensor,1714557600,dev,temp,-3,\n"
        b"c,sensor,1714557600,dev,temp,warm,C\n"
        b'd,event,1714557600,,,,\n'
    )
    pipeline.process("typed.csv", body)
    good = {i["recordId"]: i for i in pipeline.records("PROCESSED")}
    assert good["sensor#a"]["deviceId"] == "007"  # a string column stays text
    assert float(good["sensor#a"]["value"]) == 21.5
    assert good["sensor#a"]["timestamp"] == "2024-05-01T08:00:00.000Z"
    assert good["sensor#b"]["value"] == -3 and "unit" not in good["sensor#b"]
    assert good["sensor#b"]["timestamp"] == "2024-05-01T10:00:00.000Z"
    rejected = {i["sourceLine"]: i for i in pipeline.records("REJECTED")}
    assert {(e["field"], e["message"]) for e in rejected[4]["errors"]} == {("value", "'warm' is not of type 'number'")}
    assert {e["field"] for e in rejected[5]["errors"]} == {"name"}  # empty cells are absent fields


@pytest.mark.parametrize("key", ["in/my file+plus.jsonl", "in/résumé ünïcode 数据.jsonl", "in/a%b&c=d.jsonl"])
def test_url_encoded_keys_are_decoded(pipeline, key):
    record = pipeline.put(key, jsonl([sensor(1)]))
    assert "+" in record["s3"]["object"]["key"] or "%" in record["s3"]["object"]["key"]
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    (item,) = pipeline.records("PROCESSED")
    assert item["sourceKey"] == key


def test_s3_test_event_is_acknowledged_and_skipped(pipeline, emf):
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-05-01T00:00:00Z",
                  "Bucket": BUCKET, "RequestId": "x", "HostId": "y"}
    assert pipeline.run(pipeline.event(test_event)) == {"batchItemFailures": []}
    assert pipeline.items() == [] and pipeline.dead_letters() == []
    assert emf()["TestEventsSkipped"] == 1


def test_non_creation_events_are_skipped(pipeline):
    record = pipeline.put("gone.jsonl", jsonl([sensor(1)]))
    record["eventName"] = "ObjectRemoved:Delete"
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert pipeline.items() == []


def test_the_notified_version_is_read_not_the_latest(pipeline):
    first = pipeline.put("v.jsonl", jsonl([sensor(1)]))
    pipeline.put("v.jsonl", jsonl([sensor(2), sensor(3)]))
    pipeline.run(pipeline.event(first))
    assert [i["recordId"] for i in pipeline.records()] == ["sensor#s-1"]
    assert pipeline.records()[0]["sourceVersionId"] == first["s3"]["object"]["versionId"]


def test_two_versions_of_one_key_have_separate_ledgers(pipeline):
    first = pipeline.put("v.jsonl", jsonl([sensor(1)]))
    second = pipeline.put("v.jsonl", jsonl([sensor(2)]))
    pipeline.run(pipeline.event(first, second))
    assert len(pipeline.ledgers()) == 2
    assert {i["recordId"] for i in pipeline.records()} == {"sensor#s-1", "sensor#s-2"}


def test_rejected_records_carry_every_error_and_raw_input(pipeline):
    lines = [
        json.dumps(sensor(1)),
        '{"id": "x", "dataType": "sensor", "timestamp": "2024-05-01T00:00:00Z", "deviceId": 1}',
        "{not json",
        json.dumps({"id": "u", "dataType": "unknown-type", "timestamp": 1714557600}),
        json.dumps([1, 2]),
        json.dumps(sensor(5, timestamp="2024-05-01T00:00:00")),
        '{"id":"n","dataType":"sensor","timestamp":1714557600,"deviceId":"d","metric":"m","value":NaN}',
        '{"id":"big","dataType":"sensor","timestamp":1714557600,"deviceId":"d","metric":"m","value":1e300}',
        '{"id":"long","dataType":"sensor","timestamp":1714557600,"deviceId":"d","metric":"m","value":'
        + "1" * 40 + "}",
    ]
    pipeline.process("mixed.jsonl", "\n".join(lines).encode())
    assert [i["recordId"] for i in pipeline.records("PROCESSED")] == ["sensor#s-1"]
    rejected = {i["sourceLine"]: i for i in pipeline.records("REJECTED")}
    assert sorted(rejected) == [2, 3, 4, 5, 6, 7, 8, 9]
    errors = {line: {(e["field"], e["message"]) for e in item["errors"]} for line, item in rejected.items()}
    assert {f for f, _ in errors[2]} == {"deviceId", "metric", "value"}
    assert any("not valid JSON" in m for _, m in errors[3])
    assert any(f == "dataType" and "unknown data type 'unknown-type'" in m for f, m in errors[4])
    assert any("must be a JSON object" in m for _, m in errors[5])
    assert any(f == "timestamp" and "no UTC offset" in m for f, m in errors[6])
    assert any("NaN" in m for _, m in errors[7])
    assert any(f == "value" and "range" in m for f, m in errors[8])
    assert any(f == "value" and "38 significant digits" in m for f, m in errors[9])
    item = rejected[2]
    assert item["raw"] == lines[1] and item["rawBytes"] == len(lines[1]) and item["rawTruncated"] is False
    assert item["claimedId"] == "x" and item["claimedDataType"] == "sensor"
    assert "dataType" not in item and item["recordId"].startswith("REJECTED#")
    entry = pipeline.ledger()
    assert (entry["processed"], entry["rejected"], entry["records"]) == (1, 8, 9)


def test_duplicate_keys_within_a_file_keep_the_first_and_reject_the_rest(pipeline):
    records = [sensor(1), sensor(2), sensor(1, value=99), *[sensor(i) for i in range(3, 40)], sensor(1)]
    assert pipeline.process("dups.jsonl", jsonl(records)) == {"batchItemFailures": []}
    good = {i["recordId"]: i for i in pipeline.records("PROCESSED")}
    assert float(good["sensor#s-1"]["value"]) == pytest.approx(20.1)
    rejected = pipeline.records("REJECTED")
    assert sorted(i["sourceLine"] for i in rejected) == [3, 41]
    assert all("duplicate key" in i["errors"][0]["message"] for i in rejected)
    entry = pipeline.ledger()
    assert entry["records"] == len(records) == entry["processed"] + entry["rejected"]


def test_items_over_400_kb_are_rejected_records(pipeline):
    huge = {"id": "huge", "dataType": "event", "timestamp": 1714557600, "name": "n",
            "properties": {"blob": "x" * 420_000}}
    pipeline.process("huge.jsonl", jsonl([huge, sensor(1)]))
    (rejected,) = pipeline.records("REJECTED")
    assert "400 KB" in rejected["errors"][0]["message"]
    assert rejected["rawTruncated"] is True and len(rejected["raw"]) == 4096
    assert [i["recordId"] for i in pipeline.records("PROCESSED")] == ["sensor#s-1"]


def test_lines_over_the_length_limit_are_rejected(pipeline, monkeypatch):
    monkeypatch.setenv("MAX_RECORD_BYTES", "2048")
    from handlers import settings

    settings.current.cache_clear()
    long_line = json.dumps(sensor(2, unit="u" * 5000))
    pipeline.process("long.jsonl", (json.dumps(sensor(1)) + "\n" + long_line + "\n" + json.dumps(sensor(3))).encode())
    assert {i["recordId"] for i in pipeline.records("PROCESSED")} == {"sensor#s-1", "sensor#s-3"}
    (rejected,) = pipeline.records("REJECTED")
    assert "over the limit of 2048 bytes" in rejected["errors"][0]["message"]
    assert rejected["sourceLine"] == 2


def test_duplicate_delivery_is_a_counted_no_op(pipeline, emf):
    record = pipeline.put("once.jsonl", jsonl([sensor(i) for i in range(5)]))
    pipeline.run(pipeline.event(record))
    before = pipeline.items()
    emf()
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert pipeline.items() == before
    metrics = emf()
    assert metrics["FilesDuplicate"] == 1 and "RecordsProcessed" not in metrics


def test_a_replayed_file_writes_identical_items(pipeline):
    record = pipeline.put("replay.jsonl", jsonl([sensor(i) for i in range(5)] + ["bad"]))
    pipeline.run(pipeline.event(record))
    before = sorted(pipeline.items(), key=lambda i: i["recordId"])
    entry = pipeline.ledger()
    pipeline.dynamodb.update_item(  # an operator asks for the file to be processed again
        TableName=pipeline.table, Key={"recordId": {"S": entry["recordId"]}, "timestamp": {"S": "LEDGER"}},
        UpdateExpression="SET #s = :retry, #o = :zero, #p = :zero, #r = :zero, #b = :zero, #l = :zero",
        ExpressionAttributeNames={"#s": "status", "#o": "offset", "#p": "processed", "#r": "rejected",
                                  "#b": "byteOffset", "#l": "lineOffset"},
        ExpressionAttributeValues={":retry": {"S": "RETRY"}, ":zero": {"N": "0"}},
    )
    pipeline.run(pipeline.event(record))
    after = sorted(pipeline.items(), key=lambda i: i["recordId"])
    strip = ("status", "updatedAt", "completedAt", "attempts", "durationMs", "bytes")
    assert [{k: v for k, v in i.items() if k not in strip} for i in after] == [
        {k: v for k, v in i.items() if k not in strip} for i in before]
    assert pipeline.ledger()["attempts"] == 2


PERMANENT = [
    ("notes.txt", b"hello", False, Reason.UNSUPPORTED_FORMAT),
    ("broken.jsonl.gz", b"\x1f\x8b\x08\x00garbage-not-deflate", False, Reason.CORRUPT_GZIP),
    ("plain.csv.gz", b"id,dataType\n1,sensor\n", False, Reason.CORRUPT_GZIP),
    ("doc.json", b'[{"id": "a"}, {"id": ', False, Reason.NOT_JSON),
    ("doc2.json", b"{'single': 'quotes'}", False, Reason.NOT_JSON),
    ("latin1.csv", "id,name\n1,caf\xe9\n".encode("latin-1"), False, Reason.UNDECODABLE),
    ("utf16.jsonl", '{"id": "a"}\n'.encode("utf-16"), False, Reason.UNDECODABLE),
    ("binary.jsonl", b"\x00\x01\x02PK\x03\x04", False, Reason.UNDECODABLE),
    ("headers.csv", b"id,id,dataType\n1,2,sensor\n", False, Reason.INVALID_CSV_HEADER),
    ("headerless.csv", b"s-1,sensor,2024-05-01T12:00:00Z,d,m,21.5,C\n", False, Reason.CSV_HEADER_MISSING_FIELDS),
    ("no-time.csv", b"id,dataType,deviceId,metric,value\ns-1,sensor,d,m,1\n", False, Reason.CSV_HEADER_MISSING_FIELDS),
]


@pytest.mark.parametrize(("key", "body", "gz", "reason"), PERMANENT, ids=[p[3] + ":" + p[0] for p in PERMANENT])
def test_permanent_failures_dead_letter_once_and_acknowledge(pipeline, emf, key, body, gz, reason):
    record = pipeline.put(key, body, gz=gz)
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    (letter,) = pipeline.dead_letters()
    assert letter["reason"] == reason and letter["_attributes"] == {"reason": reason}
    assert letter["bucket"] == BUCKET and letter["key"] == key
    assert letter["versionId"] == record["s3"]["object"]["versionId"]
    assert letter["s3Record"] == record and letter["region"] == "us-east-1" and letter["time"]
    assert letter["message"] and letter["ledgerId"].startswith("FILE#")
    entry = pipeline.ledger()
    assert entry["status"] == LedgerStatus.FAILED and entry["failureReason"] == reason
    metrics = emf()
    assert metrics["FilesFailed"] == 1 and metrics["FilesFailedByReason"] == 1
    # a re-delivery of the failed version changes nothing and sends nothing
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert pipeline.dead_letters() == []


@pytest.mark.parametrize("gz", [False, True])
def test_a_one_row_csv_without_a_header_is_a_failed_file_not_an_empty_one(pipeline, emf, gz):
    """Its row would be taken for the header: the file would be COMPLETED with 0 records, the row lost."""
    body = b"s-1,sensor,2024-05-01T12:00:00Z,dev-1,temperature,21.5,C\n"
    record = pipeline.put("in/one-row.csv" + (".gz" if gz else ""), body, gz=gz)
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    (letter,) = pipeline.dead_letters()
    assert letter["reason"] == letter["_attributes"]["reason"] == "CSV_HEADER_MISSING_FIELDS"
    assert "id, dataType, timestamp" in letter["message"] and "dev-1" not in letter["message"]
    assert (letter["processed"], letter["rejected"]) == (0, 0)
    entry = pipeline.ledger()
    assert entry["status"] == LedgerStatus.FAILED and entry["failureReason"] == Reason.CSV_HEADER_MISSING_FIELDS
    assert entry["failureMessage"] == letter["message"] and entry["records"] == 0
    assert pipeline.records() == []
    metrics = emf()
    assert metrics["FilesFailed"] == 1 and "FilesCompleted" not in metrics


def test_a_csv_header_without_timestamp_is_a_failed_file(pipeline):
    body = b"id,dataType,deviceId,metric,value\ns-1,sensor,d,m,1\ns-2,sensor,d,m,2\n"
    assert pipeline.process("in/no-time.csv", body) == {"batchItemFailures": []}
    (letter,) = pipeline.dead_letters()
    assert letter["reason"] == Reason.CSV_HEADER_MISSING_FIELDS and "timestamp" in letter["message"]
    entry = pipeline.ledger()
    assert entry["status"] == LedgerStatus.FAILED and entry["failureReason"] == Reason.CSV_HEADER_MISSING_FIELDS
    assert pipeline.records() == []


def test_missing_object_and_missing_version_are_dead_lettered(pipeline):
    gone = pipeline.s3_record("never-written.jsonl", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd", "abc", 10)
    real = pipeline.put("exists.jsonl", jsonl([sensor(1)]))
    real["s3"]["object"]["versionId"] = "nonexistentversionid000000000000"
    assert pipeline.run(pipeline.event(gone, real)) == {"batchItemFailures": []}
    letters = pipeline.dead_letters()
    assert [x["reason"] for x in letters] == [Reason.OBJECT_NOT_FOUND] * 2


def test_access_denied_is_dead_lettered(pipeline):
    record = pipeline.put("locked.jsonl", jsonl([sensor(1)]))
    record["s3"]["bucket"]["name"] = "someone-elses-bucket"
    pipeline.s3.create_bucket(Bucket="someone-elses-bucket")
    pipeline.s3.put_object(Bucket="someone-elses-bucket", Key="locked.jsonl", Body=b"{}")
    pipeline.s3.put_bucket_policy(Bucket="someone-elses-bucket", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                       "Resource": "arn:aws:s3:::someone-elses-bucket/*"}]}))
    record["s3"]["object"].pop("versionId")
    record["s3"]["object"].pop("eTag")
    pipeline.run(pipeline.event(record))
    (letter,) = pipeline.dead_letters()
    assert letter["reason"] in (Reason.ACCESS_DENIED, Reason.OBJECT_NOT_FOUND)


def test_objects_over_the_size_limit_are_not_read(pipeline, monkeypatch):
    monkeypatch.setenv("MAX_OBJECT_BYTES", "1000")
    from handlers import settings

    settings.current.cache_clear()
    pipeline.process("big.jsonl", jsonl([sensor(i) for i in range(50)]))
    (letter,) = pipeline.dead_letters()
    assert letter["reason"] == Reason.TOO_LARGE
    assert pipeline.records() == []


def test_gzip_bombs_stop_at_the_decompression_ratio(pipeline, monkeypatch):
    monkeypatch.setenv("MAX_DECOMPRESSION_RATIO", "50")
    from handlers import settings

    settings.current.cache_clear()
    bomb = (json.dumps(sensor(1)) + "\n").encode() + b" " * (20 * 1024 * 1024)
    pipeline.process("bomb.jsonl.gz", bomb, gz=True)
    (letter,) = pipeline.dead_letters()
    assert letter["reason"] == Reason.DECOMPRESSION_RATIO
    assert pipeline.ledger()["status"] == LedgerStatus.FAILED


def test_a_message_that_is_not_a_notification_is_dead_lettered(pipeline):
    event = pipeline.event("this is not json", {"unexpected": "shape"})
    assert pipeline.run(event) == {"batchItemFailures": []}
    letters = pipeline.dead_letters()
    assert [x["reason"] for x in letters] == [Reason.INVALID_NOTIFICATION] * 2
    assert letters[0]["s3Record"] == "this is not json"


def test_empty_files_complete_with_zero_records(pipeline):
    pipeline.process("empty.jsonl", b"")
    pipeline.process("blank.csv", b"\n\n")
    assert [e["status"] for e in pipeline.ledgers()] == [LedgerStatus.COMPLETED] * 2
    assert all(e["records"] == 0 for e in pipeline.ledgers())


def test_records_in_equal_processed_plus_rejected(pipeline):
    lines = []
    for i in range(237):
        lines.append(json.dumps(sensor(i)) if i % 5 else "garbage line")
    pipeline.process("mix.jsonl", ("\n".join(lines) + "\n\n\n").encode())
    entry = pipeline.ledger()
    assert entry["records"] == 237 == entry["processed"] + entry["rejected"]
    assert entry["rejected"] == len(pipeline.records("REJECTED")) == 48
    assert entry["processed"] == len(pipeline.records("PROCESSED")) == 189


def test_gzip_with_several_members(pipeline):
    body = gzip.compress(jsonl([sensor(1)])) + gzip.compress(jsonl([sensor(2)]))
    record = pipeline.put("multi.jsonl.gz", body)
    pipeline.run(pipeline.event(record))
    assert {i["recordId"] for i in pipeline.records()} == {"sensor#s-1", "sensor#s-2"}


@pytest.mark.parametrize("concurrency", ["0", "1", "8"])
def test_any_write_concurrency_writes_everything_once(pipeline, monkeypatch, concurrency):
    monkeypatch.setenv("WRITE_CONCURRENCY", concurrency)
    from handlers import settings

    settings.current.cache_clear()
    pipeline.process("c.jsonl", jsonl([sensor(i) for i in range(130)]))
    assert len(pipeline.records("PROCESSED")) == 130 == pipeline.ledger()["processed"]
