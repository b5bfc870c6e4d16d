"""Reindex on moto: records written while data types were not indexed (and items that lost their shard) get the
``timeShard`` the handler gives them, exactly once, resumably; a dry run writes nothing. What moto cannot show:
the write units and the throttling a reindex causes on AWS (``--rate`` bounds them), and the replication of the
new attribute to the other replicas."""

from __future__ import annotations

import json
import random

import pytest

from tap_templates.operations import queries, reindex
from tests.handlers.helpers import client
from tests.operations.records import mixed_file, reconfigured, world

WINDOW = queries.Window("2024-05-01T00:00:00.000Z", "2024-05-09T00:00:00.000Z")


def shards(items):
    return {(i["recordId"]["S"], i["timestamp"]["S"]): i.get("timeShard", {}).get("S") for i in items}


def strip(w, items):
    """Remove ``timeShard`` from items, as they were before the time index existed."""
    for item in items:
        client("dynamodb").update_item(TableName=w.pipeline.table, UpdateExpression="REMOVE timeShard",
                                       Key={"recordId": item["recordId"], "timestamp": item["timestamp"]})


def test_older_items_get_the_shard_the_handler_gives_them(monkeypatch, tmp_path):
    with world(monkeypatch) as w:
        for n in range(2):
            w.process(f"in/{n}.jsonl", mixed_file(n, 120, random.Random(n)))
        expected = shards(w.records())
        strip(w, w.records())
        before = client("dynamodb").describe_table(TableName=w.pipeline.table)["Table"]["ItemCount"]
        dry = reindex.reindex(w.env, "us-east-1", segments=3, dry_run=True)
        assert dry.written == len(expected) > 200 and set(shards(w.records()).values()) == {None}, \
            "a dry run writes nothing"
        assert sum(dry.by_prefix.values()) == dry.written and set(dry.by_prefix) == {"sensor", "event", "REJECTED"}
        state = tmp_path / "state.json"
        done = reindex.reindex(w.env, "us-east-1", segments=3, rate=10_000, state_path=state)
        assert done.written == len(expected) and shards(w.records()) == expected
        assert json.loads(state.read_text())["positions"] == {"0": "done", "1": "done", "2": "done"}
        assert client("dynamodb").describe_table(TableName=w.pipeline.table)["Table"]["ItemCount"] == before
        assert reindex.reindex(w.env, "us-east-1", segments=2).written == 0, "a second run finds nothing to do"


def test_records_written_while_data_types_were_not_indexed_reach_the_query(monkeypatch):
    with world(monkeypatch, index_data_types=False) as w:
        w.process("in/0.jsonl", mixed_file(0, 150, random.Random(4)))
        unindexed = [i for i in w.records("PROCESSED") if "timeShard" not in i]
        assert len(unindexed) == len(w.records("PROCESSED")) > 100
        assert all("timeShard" in i for i in w.records("REJECTED")), "rejected records are always indexed"
        assert reindex.reindex(w.env, "us-east-1").written == 0, "still off: valid records stay out"
        env = reconfigured(w, index_data_types=True)
        assert reindex.reindex(env, "us-east-1").written == len(unindexed)
        sensors = list(queries.TableQueries(env, "us-east-1").data_type("sensor", WINDOW)[0])
        assert len(sensors) == len([i for i in w.records("PROCESSED") if i["dataType"]["S"] == "sensor"])


def test_a_stopped_run_resumes_from_its_state_file(monkeypatch, tmp_path):
    with world(monkeypatch, index_data_types=False) as w:
        w.process("in/0.jsonl", mixed_file(0, 150, random.Random(9)))
        env = reconfigured(w, index_data_types=True)
        state = tmp_path / "state.json"
        state.write_text(json.dumps({"segments": 2, "positions": {"0": "done", "1": None}}))
        first = reindex.reindex(env, "us-east-1", segments=2, state_path=state)
        left = [i for i in w.records("PROCESSED") if "timeShard" not in i]
        assert first.written > 0 and left, "segment 0 was recorded as done: not read again"
        state.write_text(json.dumps({"segments": 2, "positions": {"0": None, "1": "done"}}))
        second = reindex.reindex(env, "us-east-1", segments=2, state_path=state)
        assert second.written == len(left) and all("timeShard" in i for i in w.records())
        with pytest.raises(Exception, match="--segments 2"):
            reindex.reindex(env, "us-east-1", segments=3, state_path=state)


def test_items_the_handler_indexed_meanwhile_are_left_alone(monkeypatch):
    with world(monkeypatch) as w:
        w.process("in/0.jsonl", mixed_file(0, 40, random.Random(2)))
        item = w.records("PROCESSED")[0]
        key = {"recordId": item["recordId"], "timestamp": item["timestamp"]}
        client("dynamodb").update_item(TableName=w.pipeline.table, Key=key, UpdateExpression="REMOVE timeShard")
        stripped = client("dynamodb").get_item(TableName=w.pipeline.table, Key=key)["Item"]
        client("dynamodb").update_item(TableName=w.pipeline.table, Key=key, UpdateExpression="SET timeShard = :s",
                                       ExpressionAttributeValues={":s": {"S": "sensor#099"}})
        progress = reindex.Progress()
        reindex._one(w.env, client("dynamodb"), "us-east-1", stripped, progress, reindex.RateLimiter(1000), False)
        assert (progress.written, progress.skipped) == (0, 1)
        after = client("dynamodb").get_item(TableName=w.pipeline.table, Key=key)["Item"]
        assert after["timeShard"]["S"] == "sensor#099"
