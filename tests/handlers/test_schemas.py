"""Data types' schemas (``handlers.schemas``): CSV cell types, and which schemas have a fast-path table."""

from __future__ import annotations

from decimal import Decimal

from handlers import codegen, records, schemas
from tests.handlers.helpers import FAST_SCHEMA

REGISTRY = schemas.registry()


def test_csv_cells_are_coerced_by_schema_types():
    sensor = REGISTRY.get("sensor")
    row = {"id": "1", "dataType": "sensor", "timestamp": "1714564800", "deviceId": "007", "metric": "m",
           "value": "2.50", "unit": "C"}
    coerced = sensor.coerce_row(row)
    assert coerced["deviceId"] == "007" and coerced["timestamp"] == 1714564800 and coerced["value"] == Decimal("2.50")
    exact = records.check(sensor.coerce_row({**row, "value": "123456789012345678.123456789"}), REGISTRY)
    assert exact.attributes["value"] == {"N": "123456789012345678.123456789"}
    assert sensor.coerce_row({**row, "value": "nan"})["value"] == "nan"
    assert sensor.coerce_row({**row, "value": "1_000"})["value"] == "1_000"
    event = REGISTRY.get("event")
    assert event.coerce_row({"properties": '{"a": [1]}'})["properties"] == {"a": [1]}
    assert event.coerce_row({"properties": "[1]"})["properties"] == "[1]"


def test_fast_tables_cover_only_what_they_decide():
    assert schemas.fast_fields({"type": "object"}) is None  # open objects: any field name goes
    assert schemas.fast_fields({"type": "array"}) is None
    assert schemas.fast_fields({**FAST_SCHEMA, "required": ["nope"]}) is None
    table, required = schemas.fast_fields(FAST_SCHEMA)
    assert required == frozenset(FAST_SCHEMA["required"])
    assert table["level"] == (frozenset({str}), 0, float("inf"), frozenset({"low", "high"}))
    assert table["count"][0] == frozenset({int})
    assert codegen.compile_fast_path("custom", table, required) is not None
    assert codegen.compile_fast_path("custom", table, required - {"timestamp"}) is None  # records need one
