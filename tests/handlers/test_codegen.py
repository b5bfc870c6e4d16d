"""The tuned record path decides exactly as the general one, and the benchmark reports every measurement.

``records.check`` takes a generated per-schema fast path for records that are plainly valid and falls back
to ``records.check_slowly`` for anything else; timestamps in the common layouts are cut instead of
formatted. These tests compare both paths on valid records, on every field replaced by every kind of value,
on timestamps of every layout, and on schemas the fast path does and does not cover.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import codegen, formats, items, records, schemas, timestamps
from handlers.pipeline import FileItems

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = schemas.registry()
SENSOR = {"id": "s-1", "dataType": "sensor", "timestamp": "2024-05-01T12:00:00.123Z", "deviceId": "d",
          "metric": "temperature", "value": 21.5, "unit": "C"}
EVENT = {"id": "e-1", "dataType": "event", "timestamp": "2024-05-01T12:00:00.123+02:00", "name": "door",
         "properties": {"actor": "a", "n": 3, "ok": True, "none": None, "tags": ["x", 1, 2.5, {"k": "v"}]}}
VALUES = ["", "x", "ü" * 3, 0, 1, -1, 10**38 - 1, 10**38, -(10**37), 10**130, 1.5, -0.0, 0.0, 1e-200, 1e300,
          float(2**53), 2.0**60, 1e125, True, False, None, [], [1, "a"], {}, {"a": 1}, {"": 1}, {"a": {"": 2}},
          json.loads("[" * 40 + "]" * 40), Decimal("1.5"), Decimal("NaN"), Decimal("1e-200")]
TIMESTAMPS = [
    "2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.1Z", "2024-05-01T12:00:00.123456Z",
    "2024-05-01T12:00:00.123+02:00", "2024-05-01T01:00:00.123+02:00", "2024-05-01T23:30:00.999-05:00",
    "2024-12-31T23:59:59.999-01:00", "2024-05-01T12:00:00.123+05:30", "2024-05-01T12:00:00.123+00:00",
    "2024-05-01T12:00:00.123-00:00", "2024-05-01T12:00:00.123+23:00", "2024-05-01T12:00:00.123+24:00",
    "0001-01-01T00:00:00.000+02:00", "9999-12-31T23:00:00.000-02:00", "0001-01-01T01:00:00.000+01:00",
    "2024-02-30T12:00:00.123Z", "2024-05-01T24:00:00.123Z", "2024-05-01 12:00:00.123Z", "2024-05-01T12:00:00.123",
    "2024-W18-3T12:00:00.123Z", "2024-W18-3T12:00:00Z", "2024-122T12:00:00.123Z", "20240501T120000.123Z",
    "2024-05-01T12:00:00.12aZ", "2024-05-01T12:00:00.\uff1123Z", "2024-05-01T12:00:00.123+02:0\uff10",
    "x" * 24, "x" * 29, "", 0, 1714564800, 1714564800.5, 1714564800.123456, -62135596800, -62135596801,
    253402300800, 1e-200, float(2**53), True, None, Decimal("1714564800.123"), [],
]


def both(obj, registry=REGISTRY):
    fast = records.check(obj, registry)
    return fast, records.check_slowly(obj, registry)


def warm(registry=REGISTRY):
    for record in (SENSOR, EVENT):  # the first record of a type compiles its schema and its fast path
        records.check(dict(record), registry)


@pytest.mark.parametrize("record", [SENSOR, EVENT])
def test_valid_records_take_the_fast_path_and_give_the_same_item(record, monkeypatch):
    warm()
    slow = records.check_slowly(dict(record), REGISTRY)
    monkeypatch.setattr(records, "check_slowly", None)  # the fast path alone decides
    fast = records.check(dict(record), REGISTRY)
    assert isinstance(fast, records.Accepted)
    assert fast == slow


@pytest.mark.parametrize("base", [SENSOR, EVENT])
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_any_value_in_any_field_is_decided_as_by_the_general_path(base, value):
    warm()
    for name in [*base, "extra", "processingStatus", "recordId"]:
        fast, slow = both({**base, name: value})
        assert fast == slow, name


@pytest.mark.parametrize("base", [SENSOR, EVENT])
def test_missing_fields_and_odd_ids_are_decided_as_by_the_general_path(base):
    warm()
    for name in base:
        assert records.check({k: v for k, v in base.items() if k != name}, REGISTRY) == records.check_slowly(
            {k: v for k, v in base.items() if k != name}, REGISTRY)
    for rid in ["", "é", "x" * 448, "x" * 449, "x" * 600, "x" * 2100, "😀" * 600]:
        fast, slow = both({**base, "id": rid})
        assert fast == slow


@pytest.mark.parametrize("timestamp", TIMESTAMPS, ids=repr)
def test_timestamps_are_normalized_as_by_the_general_path(timestamp):
    warm()
    for _ in range(2):  # the second time, offsets come from the remembered hours
        fast, slow = both({**SENSOR, "timestamp": timestamp})
        assert fast == slow
    try:
        expected = timestamps._normalize_text(timestamp) if isinstance(timestamp, str) else None
    except ValueError:
        expected = None
    if expected is not None:
        assert timestamps.normalize_timestamp(timestamp) == expected


def test_week_dates_become_calendar_dates():
    assert timestamps.normalize_timestamp("2024-W18-3T12:00:00.123Z") == "2024-05-01T12:00:00.123Z"
    assert timestamps.normalize_timestamp("2024-W18-3T12:00:00Z") == "2024-05-01T12:00:00.000Z"


def test_offsets_that_cross_a_day_or_year_are_shifted_exactly():
    assert timestamps.normalize_timestamp("2024-12-31T23:30:00.500-02:00") == "2025-01-01T01:30:00.500Z"
    assert timestamps.normalize_timestamp("2024-03-01T01:00:00.000+02:00") == "2024-02-29T23:00:00.000Z"
    with pytest.raises(ValueError, match="out of range"):
        timestamps.normalize_timestamp("0001-01-01T00:00:00.000+02:00")


near_values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**45), max_value=10**45),
                        st.floats(allow_nan=False), st.text(max_size=12), st.sampled_from(VALUES))
nested = st.recursive(near_values, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([SENSOR, EVENT]), st.dictionaries(
    st.sampled_from(["id", "dataType", "timestamp", "deviceId", "metric", "value", "unit", "name", "properties",
                     "other"]), st.one_of(nested, st.sampled_from(TIMESTAMPS)), max_size=4),
    st.lists(st.sampled_from(["id", "timestamp", "value", "unit", "properties", "name"]), max_size=2))
def test_mutated_records_are_decided_as_by_the_general_path(base, changes, removed):
    warm()
    record = {k: v for k, v in {**base, **changes}.items() if k not in removed}
    fast, slow = both(record)
    assert fast == slow


def test_parsed_lines_through_orjson_give_the_same_result():
    warm()
    for line in [orjson.dumps(SENSOR), orjson.dumps(EVENT), b'{"id":"b","dataType":"sensor","timestamp":0,'
                 b'"deviceId":"d","metric":"m","value":123456789012345678901234567890}',
                 b'{"id":"b","dataType":"sensor","timestamp":0,"deviceId":"d","metric":"m","value":1e20}']:
        obj = orjson.loads(line)
        assert records.check(obj, REGISTRY, line) == records.check_slowly(orjson.loads(line), REGISTRY, line)


FAST_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["id", "dataType", "timestamp", "level"],
    "properties": {
        "id": {"type": "string", "minLength": 1}, "dataType": {"const": "custom"}, "timestamp": True,
        "level": {"enum": ["low", "high"]}, "code": {"type": "string", "minLength": 2, "maxLength": 3},
        "count": {"type": "integer"}, "flag": {"type": ["boolean", "null"]}, "items": {"type": "array"},
        "any": {"description": "anything"}, "long": {"type": "string", "minLength": 3},
        "expiresAt": {"type": "number"},
    },
}
SLOW_SCHEMAS = [
    {**FAST_SCHEMA, "additionalProperties": True},
    {**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"], "count": {"type": "integer", "minimum": 0}}},
    {**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"], "code": {"type": "string", "format": "email"}}},
    {**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"], "level": {"enum": ["low", 1]}}},
    {**FAST_SCHEMA, "allOf": [{"required": ["code"]}]},
    {**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"],
                                   "items": {"type": "array", "items": {"type": "string"}}}},
]
CUSTOM = {"id": "c", "dataType": "custom", "timestamp": "2024-05-01T12:00:00.000Z", "level": "low", "code": "ab",
          "count": 3, "flag": None, "items": [1], "any": {"x": [True]}, "long": "abc"}


def custom_registry(definition, tmp_path):
    (tmp_path / "custom.json").write_text(json.dumps(definition))
    registry = schemas.Registry(tmp_path)
    records.check(dict(CUSTOM), registry)
    return registry


@pytest.mark.parametrize("definition", [FAST_SCHEMA, *SLOW_SCHEMAS], ids=lambda d: str(sorted(d))[:20])
def test_custom_schemas_are_decided_as_by_the_validator(definition, tmp_path):
    registry = custom_registry(definition, tmp_path)
    assert (registry.fast.get("custom") is not None) == (definition is FAST_SCHEMA)
    if definition is FAST_SCHEMA:
        assert isinstance(records.check(dict(CUSTOM), registry), records.Accepted)
    changes = [{}, {"level": "mid"}, {"level": 1}, {"code": "a"}, {"code": "abcd"}, {"code": "abc"}, {"count": 1.0},
               {"count": True}, {"count": -5}, {"flag": True}, {"flag": 0}, {"items": {}}, {"items": ["a"]},
               {"any": 10**50}, {"any": float(2**60)}, {"long": "ab"}, {"long": "😀😀😀"}, {"extra": 1},
               {"expiresAt": 1}, {"code": "a@b.c"}, {"timestamp": None}, {"timestamp": [1]}]
    for change in changes:
        record = {**CUSTOM, **change}
        assert records.check(record, registry) == records.check_slowly(record, registry), change
    for name in FAST_SCHEMA["required"]:
        record = {k: v for k, v in CUSTOM.items() if k != name}
        assert records.check(record, registry) == records.check_slowly(record, registry), name


def test_fast_tables_cover_only_what_they_decide():
    assert schemas.fast_fields({"type": "object"}) is None  # open objects: any field name goes
    assert schemas.fast_fields({"type": "array"}) is None
    assert schemas.fast_fields({**FAST_SCHEMA, "required": ["nope"]}) is None
    table, required = schemas.fast_fields(FAST_SCHEMA)
    assert required == frozenset(FAST_SCHEMA["required"])
    assert table["level"] == (frozenset({str}), 0, float("inf"), frozenset({"low", "high"}))
    assert table["count"][0] == frozenset({int})
    assert codegen.compile_item_maker("custom", table, required) is not None
    assert codegen.compile_item_maker("custom", table, required - {"timestamp"}) is None  # records need one


def test_the_benchmark_reports_every_measurement():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "handler_bench.py"), "--quick", "--json",
                          "--records", "2000"], capture_output=True, text=True, check=True, timeout=600)
    result = json.loads(out.stdout)
    assert {"json_loads_us", "orjson_loads_us"} <= set(result["parse_floor"])
    assert {"us", "json_loads_us", "ratio"} <= set(result["record_path"])
    assert {"us", "batch_writer_us", "ratio"} <= set(result["whole_path"])
    assert {"small_mb", "large_mb", "ratio"} <= set(result["peak_rss"])
    assert {"requests"} <= set(result["requests_per_1000"])
    assert {"handler_ms", "boto3_client_ms", "ratio"} <= set(result["cold_import"])
    assert set(result["pass"]) >= {"record_path", "whole_path", "peak_rss", "requests_per_1000", "cold_import"}
    assert result["record_path"]["processed"] == result["records"] == 2000


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


class GeneralFactory(items.ItemFactory):
    """Builds valid records' items through ``accepted`` (as any overriding factory does): no fast items."""

    supports_fast_path = False

    def accepted(self, record, position):
        return super().accepted(record, position)


def test_fast_jsonl_items_equal_the_general_paths():
    source = items.FileSource("b", "k.jsonl", "v", "FILE#x", "2024-05-01T00:00:00.000Z", 1_800_000_000, "us-east-1")
    lines = [SENSOR, EVENT, {**SENSOR, "id": "s-2", "timestamp": "2024-05-01T14:00:00.123+02:00"}, SENSOR,
             {**SENSOR, "id": "s-3", "value": 0.1 + 0.2}, {**SENSOR, "id": "big", "value": 10**40}, {"id": "x"},
             {**EVENT, "id": "e-2", "properties": {"blob": "x" * 420_000}}, {**SENSOR, "recordId": "r"}]
    data = b"\n".join(json.dumps(line).encode() for line in lines) + b"\n{not json\n"
    found = {}
    for factory in (items.ItemFactory(source, "sourceLine"), GeneralFactory(source, "sourceLine")):
        outcomes = FileItems(factory, "jsonl", REGISTRY, 100).outcomes(formats.jsonl_records(iter([data]), 1 << 20))
        found[type(factory)] = [(o[:4], o[5], orjson.loads(o[4])) for o in outcomes]
    assert found[items.ItemFactory] == found[GeneralFactory]
    assert [o[1] for o in found[items.ItemFactory]] == [True, True, True, False, True, True, False, False, False,
                                                          False]


def test_fast_items_refill_their_dicts_without_leaking_between_records(tmp_path):
    """The item function of a file reuses its dicts: an optional field absent, a record failing half-way, or a
    field of several types must not carry anything over into the next record's item."""
    registry = custom_registry({**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"],
                                                              "mixed": {"type": ["string", "number", "object"]}}},
                               tmp_path)
    source = items.FileSource("b", "k.jsonl", None, "FILE#x", "2024-05-01T00:00:00.000Z", 1_800_000_000, "us-east-1")
    records_ = [
        {**CUSTOM, "id": "1", "mixed": "text"}, {**CUSTOM, "id": "2", "mixed": 5}, {**CUSTOM, "id": "3"},
        {k: v for k, v in CUSTOM.items() if k not in ("code", "count")} | {"id": "4", "mixed": {"a": [1]}},
        {**CUSTOM, "id": "5", "count": "not an int"}, {**CUSTOM, "id": "6", "code": "x"},
        {k: v for k, v in CUSTOM.items() if k != "flag"} | {"id": "7"}, {**CUSTOM, "id": "8", "flag": True},
        {**CUSTOM, "id": "9", "timestamp": "2024-05-01T14:00:00.000+02:00", "mixed": 2.5},
    ]
    data = b"\n".join(json.dumps(record).encode() for record in records_)
    found = {}
    for factory in (items.ItemFactory(source, "sourceLine"), GeneralFactory(source, "sourceLine")):
        outcomes = FileItems(factory, "jsonl", registry, 100).outcomes(formats.jsonl_records(iter([data]), 1 << 20))
        found[type(factory)] = [(o[:4], o[5], orjson.loads(o[4])) for o in outcomes]
    assert found[items.ItemFactory] == found[GeneralFactory]
    assert [o[1] for o in found[items.ItemFactory]] == [True] * 4 + [False, False] + [True] * 3
    assert registry.fast_items["custom"] is not None
