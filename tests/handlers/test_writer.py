"""The table write path against moto: pre-serialized bodies, 25 items per request, ordered commits."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import orjson
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

from handlers import items, records, schemas, writer
from handlers.pipeline import FileItems
from tests.handlers.helpers import REGION, jsonl, sensor

SOURCE = items.FileSource("b", "k.jsonl", "v", "FILE#x", "2024-05-01T00:00:00.000Z", 1_800_000_000, REGION)


@pytest.fixture
def table_client(pipeline):
    client = boto3.client("dynamodb", region_name=REGION, config=Config(parameter_validation=False))
    return writer.install(client)


def outcomes(n: int):
    lines = jsonl([sensor(i) for i in range(n)])
    factory = items.ItemFactory(SOURCE, "sourceLine")
    from handlers import formats

    return list(FileItems(factory, "jsonl", schemas.registry(), 1000).outcomes(
        formats.jsonl_records(iter([lines]), 1 << 20)))


def batches(found, size=writer.BATCH_SIZE):
    for start in range(0, len(found), size):
        part = found[start:start + size]
        yield writer.Batch({o[3]: o[4] for o in part}, processed=len(part), checkpoint=part[-1][0])


def test_one_thousand_records_take_exactly_forty_requests(pipeline, table_client):
    committed = []
    with ThreadPoolExecutor(4) as pool:
        batch_writer = writer.BatchWriter(table_client, pipeline.table, pool, writer.CircuitBreaker(),
                                          on_commit=committed.append)
        for batch in batches(outcomes(1000)):
            batch_writer.submit(batch)
        batch_writer.flush()
    assert batch_writer.stats.requests == 40
    assert [b.checkpoint for b in committed] == list(range(25, 1001, 25))
    assert len(pipeline.records("PROCESSED")) == 1000


def test_the_preserialized_body_is_what_boto3_would_send(pipeline, table_client):
    found = outcomes(3)
    sent = []
    table_client.meta.events.register("before-send.dynamodb.BatchWriteItem", lambda request, **_: sent.append(
        request.body))
    batch_writer = writer.BatchWriter(table_client, pipeline.table, ThreadPoolExecutor(1), writer.CircuitBreaker(),
                                      on_commit=lambda b: None)
    batch_writer.submit(next(batches(found)))
    batch_writer.flush()
    expected = {"RequestItems": {pipeline.table: [{"PutRequest": {"Item": orjson.loads(o[4])}} for o in found]}}
    assert json.loads(sent[0]) == expected
    plain = TypeDeserializer()
    stored = {i["recordId"]: i for i in pipeline.items()}
    for o in found:
        item = {k: plain.deserialize(v) for k, v in orjson.loads(o[4]).items()}
        assert stored[item["recordId"]] == item


def test_batches_commit_in_submission_order_even_when_they_finish_out_of_order(pipeline, table_client):
    first = threading.Event()

    def slow_first(request, **_):
        if b"sensor#s-0\"" in request.body and not first.is_set():
            first.set()
            time.sleep(0.3)

    table_client.meta.events.register_first("before-send.dynamodb.BatchWriteItem", slow_first)
    committed = []
    with ThreadPoolExecutor(4) as pool:
        batch_writer = writer.BatchWriter(table_client, pipeline.table, pool, writer.CircuitBreaker(),
                                          on_commit=lambda b: committed.append(b.checkpoint))
        for batch in batches(outcomes(100)):
            batch_writer.submit(batch)
        batch_writer.flush()
    assert committed == [25, 50, 75, 100]


def test_a_failed_batch_commits_nothing_after_it(pipeline, table_client, monkeypatch):
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)

    def fail_second(request, **_):
        if b"sensor#s-30\"" in request.body:
            raise ConnectionResetError("network down")

    table_client.meta.events.register_first("before-send.dynamodb.BatchWriteItem", fail_second)
    committed = []
    breaker = writer.CircuitBreaker(threshold=1)
    batch_writer = writer.BatchWriter(table_client, pipeline.table, ThreadPoolExecutor(4), breaker,
                                      on_commit=lambda b: committed.append(b.checkpoint))
    with pytest.raises(writer.TableUnavailable):
        for batch in batches(outcomes(100)):
            batch_writer.submit(batch)
        batch_writer.flush()
    assert committed in ([], [25])
    assert breaker.open


def test_circuit_breaker_counts_consecutive_failures():
    breaker = writer.CircuitBreaker(threshold=2)
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert not breaker.open
    breaker.failure()
    assert breaker.open


def test_request_body_escapes_the_table_name():
    body = writer.request_body('t"x', [b'{"a":{"S":"1"}}'])
    assert json.loads(body) == {"RequestItems": {'t"x': [{"PutRequest": {"Item": {"a": {"S": "1"}}}}]}}


def test_accepted_items_round_trip_through_dynamodb_json():
    result = records.check({"id": "a", "dataType": "event", "timestamp": 1, "name": "é\u2028\"q\"",
                            "properties": {"x": [1.25, None]}}, schemas.registry())
    _, data = items.ItemFactory(SOURCE, "sourceIndex").accepted(result, 0)
    item = orjson.loads(data)
    assert item["name"] == {"S": "é\u2028\"q\""} and item["properties"]["M"]["x"]["L"][0] == {"N": "1.25"}
