"""Validation of one record (``handlers.records``): exact numbers, reserved names, every error."""

from __future__ import annotations

import orjson
import pytest

from handlers import records, schemas

REGISTRY = schemas.registry()


def warm():
    """The first record of a type compiles its schema and its fast path (``check`` then takes it first)."""
    records.check({"id": "w", "dataType": "sensor", "timestamp": 0, "deviceId": "d", "metric": "m", "value": 1},
                  REGISTRY)


def test_big_integers_survive_the_fast_parser():
    line = b'{"id":"a","dataType":"sensor","timestamp":0,"deviceId":"d","metric":"m","value":1234567890123456789012345}'
    result = records.check(records.parse_line(line), REGISTRY, line)
    assert result.attributes["value"] == {"N": "1234567890123456789012345"}


def test_reserved_field_names_are_rejected():
    schema = {"type": "object"}
    registry = schemas.Registry()
    registry.compiled["open"] = schemas.Schema("open", schema)
    result = records.check({"id": "a", "dataType": "open", "timestamp": 0, "processingStatus": "x"}, registry)
    assert isinstance(result, records.Rejected) and result.errors[0][0] == "processingStatus"


def test_every_schema_error_is_listed():
    result = records.check({"id": 5, "dataType": "sensor", "timestamp": "x", "value": "v", "other": 1}, REGISTRY)
    fields = [f for f, _ in result.errors]
    assert fields[:2] == ["id", "timestamp"]
    assert {"deviceId", "metric", "value", "other"} <= set(fields)


@pytest.mark.parametrize(("text", "stored"), [
    ("21.5", "21.5"), ("0.30000000000000004", "0.30000000000000004"), ("1.2345678901234567", "1.2345678901234567"),
    ("12345.678901234", "12345.678901234"),
    ("123456789.12345678901234567890123456", "123456789.12345678901234567890123456"),
    ("1.23456789012345678901234567890123456789", None), ("1e20", "1E+20"),
])
def test_long_jsonl_fractions_are_read_exactly(text, stored):
    warm()
    line = (b'{"id":"n","dataType":"sensor","timestamp":"2024-05-01T12:00:00.000Z","deviceId":"d","metric":"m",'
            b'"value":' + text.encode() + b"}")
    result = records.check(orjson.loads(line), REGISTRY, line)
    assert result == records.check_slowly(orjson.loads(line), REGISTRY, line)
    if stored is None:
        assert isinstance(result, records.Rejected) and result.errors[0][0] == "value"
    else:
        assert result.attributes["value"] == {"N": stored}
