"""Pattern 4, a file's ledger item and its records, on items the real handler wrote into moto: the keys are
derived again from the object by the handler's own record path and fetched by BatchGetItem (both candidate keys
of each record), a re-upload leads to the original's records, and an object that is gone or archived is said in
one line."""

from __future__ import annotations

import random

import orjson
import pytest

from handlers.contracts import ledger_id
from handlers.items import FileSource, ItemFactory
from tap_templates.operations import queries
from tap_templates.operations.environment import OperationError
from tap_templates.operations.file_records import file_records
from tests.handlers.helpers import BUCKET, client
from tests.operations.records import mixed_file, world


@pytest.fixture
def w(monkeypatch):
    with world(monkeypatch) as found:
        yield found


def by_position(items):
    return [(i["recordId"]["S"], i["timestamp"]["S"]) for i in sorted(items, key=lambda i: int(i["sourceLine"]["N"]))]


def test_a_files_ledger_item_then_its_records_in_file_order(w):
    lines = mixed_file(0, 260, random.Random(3))  # 260 records: six BatchGetItem requests
    lid = w.process("in/a.jsonl", lines)
    w.process("in/b.jsonl", mixed_file(1, 30, random.Random(4)))  # another file's records are not listed
    found = file_records(queries.TableQueries(w.env, "us-east-1"), lid)
    items = list(found.items)
    mine = [i for i in w.records() if i["sourceFile"]["S"] == lid]
    assert found.ledger["recordId"]["S"] == lid and found.ledger["status"]["S"] == "COMPLETED"
    assert [(i["recordId"]["S"], i["timestamp"]["S"]) for i in items] == by_position(mine)
    assert (found.records, found.found, found.other_file, found.missing) == (260, 260, 0, 0)
    assert {i["processingStatus"]["S"] for i in items} == {"PROCESSED", "REJECTED"}


def test_a_limit_stops_early(w):
    lid = w.process("in/a.jsonl", mixed_file(0, 120, random.Random(3)))
    found = file_records(queries.TableQueries(w.env, "us-east-1"), lid, limit=7)
    assert len(list(found.items)) == 7


def test_a_record_the_code_now_judges_otherwise_is_found_under_its_other_key(w):
    """As after a schema change: the item was written as rejected, the current code accepts the record."""
    record = {"id": "x-1", "dataType": "sensor", "timestamp": "2024-05-01T00:00:00.000Z", "deviceId": "d",
              "metric": "m", "value": 1.5}
    lid = w.process("in/c.jsonl", [record])
    table = client("dynamodb")
    (valid,) = w.records("PROCESSED")
    ledger = next(i for i in w.items() if i.get("itemType", {}).get("S") == "FILE_LEDGER")
    factory = ItemFactory(FileSource(BUCKET, "in/c.jsonl", None, lid, ledger["startedAt"]["S"], 0, "us-east-1"),
                          "sourceLine")
    key, body = factory.rejected([("value", "was refused then")], record, 1)
    table.put_item(TableName=w.pipeline.table, Item=orjson.loads(body))
    table.delete_item(TableName=w.pipeline.table, Key={"recordId": valid["recordId"], "timestamp": valid["timestamp"]})
    found = file_records(queries.TableQueries(w.env, "us-east-1"), lid)
    (item,) = list(found.items)
    assert item["recordId"]["S"] == key[0] and item["processingStatus"]["S"] == "REJECTED"


def test_a_record_overwritten_by_a_later_file_is_counted_not_shown(w):
    record = {"id": "x-2", "dataType": "sensor", "timestamp": "2024-05-01T00:00:00.000Z", "deviceId": "d",
              "metric": "m", "value": 1.5}
    first = w.process("in/first.jsonl", [record])
    w.process("in/second.jsonl", [dict(record, value=2.5)])  # same key: the later file's item replaces it
    found = file_records(queries.TableQueries(w.env, "us-east-1"), first)
    assert list(found.items) == [] and (found.records, found.other_file) == (1, 1)


def test_a_reupload_of_identical_bytes_lists_the_originals_records(w):
    lines = mixed_file(0, 20, random.Random(5))
    original = w.process("in/same.jsonl", lines)
    again = w.process("in/same.jsonl", lines)
    assert again != original
    found = file_records(queries.TableQueries(w.env, "us-east-1"), again)
    items = list(found.items)
    assert found.ledger["duplicateOf"]["S"] == original and found.source_file == original
    assert len(items) == 20 and {i["sourceFile"]["S"] for i in items} == {original}
    assert any("re-upload" in note for note in found.notes)


def test_an_object_that_is_gone_or_archived_is_one_line(w):
    lid = w.process("in/gone.jsonl", mixed_file(0, 5, random.Random(1)))
    versions = client("s3").list_object_versions(Bucket=BUCKET, Prefix="in/gone.jsonl")["Versions"]
    client("s3").delete_object(Bucket=BUCKET, Key="in/gone.jsonl", VersionId=versions[0]["VersionId"])
    with pytest.raises(OperationError, match="no longer exists"):
        file_records(queries.TableQueries(w.env, "us-east-1"), lid)
    response = client("s3").put_object(Bucket=BUCKET, Key="in/cold.jsonl", Body=b'{"id": "a"}\n',
                                       StorageClass="GLACIER")
    record = w.pipeline.s3_record("in/cold.jsonl", response["VersionId"], response["ETag"].strip('"'), 12)
    w.pipeline.run(w.pipeline.event(record))  # the handler dead-letters it as archived; its ledger says FAILED
    cold = ledger_id("in/cold.jsonl", response["VersionId"], None)
    with pytest.raises(OperationError, match="archive storage class: restore it first"):
        file_records(queries.TableQueries(w.env, "us-east-1"), cold)
    with pytest.raises(OperationError, match="no ledger item"):
        file_records(queries.TableQueries(w.env, "us-east-1"), "FILE#" + "0" * 64)
