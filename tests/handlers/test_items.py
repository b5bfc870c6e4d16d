"""DynamoDB items built as the bytes of their attribute maps (``handlers.items``)."""

from __future__ import annotations

import orjson

from handlers import items, records, schemas

REGISTRY = schemas.registry()

SOURCE = items.FileSource("bucket", "k e y.jsonl", "v1", "FILE#abc", "2024-05-01T00:00:00.000Z", 1_800_000_000,
                          "us-east-1")


def test_valid_item_serializes_the_whole_attribute_map():
    factory = items.ItemFactory(SOURCE, "sourceLine")
    result = records.check({"id": "a", "dataType": "sensor", "timestamp": 0, "deviceId": "d", "metric": "m",
                            "value": 1}, REGISTRY)
    key, data = factory.accepted(result, 7)
    item = orjson.loads(data)
    assert key == ("sensor#a", "1970-01-01T00:00:00.000Z")
    assert item["sourceLine"] == {"N": "7"} and item["sourceKey"] == {"S": "k e y.jsonl"}
    assert item["processingStatus"] == {"S": "PROCESSED"} and item["expiresAt"] == {"N": "1800000000"}
    assert item["sourceFile"] == {"S": "FILE#abc"} and item["sourceVersionId"] == {"S": "v1"}


def test_rejected_items_are_keyed_by_location_and_truncated():
    factory = items.ItemFactory(SOURCE, "sourceLine")
    key, data = factory.rejected([("f", "m" * 5000)], b"r" * 10_000, 3, "a", "sensor")
    again, _ = factory.rejected([("other", "error")], b"different", 3)
    elsewhere, _ = factory.rejected([("f", "m")], b"r", 4)
    assert key == again != elsewhere and key[0].startswith("REJECTED#") and key[1] == SOURCE.processed_at
    item = orjson.loads(data)
    assert len(item["raw"]["S"]) == items.RAW_LIMIT and item["rawBytes"] == {"N": "10000"}
    assert item["rawTruncated"] == {"BOOL": True}
    assert len(item["errors"]["L"][0]["M"]["message"]["S"]) == items.MAX_MESSAGE
    assert "dataType" not in item and item["claimedDataType"] == {"S": "sensor"}


def test_item_size_follows_dynamodb_rules():
    item = {"a": {"S": "xyz"}, "nn": {"N": "123.45"}, "l": {"L": [{"BOOL": True}, {"NULL": True}]},
            "m": {"M": {"k": {"S": "v"}}}}
    assert items.item_size(item) == (1 + 3) + (2 + 4) + (1 + 3 + 2 + 2) + (1 + 3 + 1 + 1 + 1)
    assert items.oversized(orjson.dumps({"a": {"S": "x" * 100}})) == 0
    assert items.oversized(orjson.dumps({"a": {"S": "x" * 500_000}})) == 500_001
