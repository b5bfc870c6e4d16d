"""The generated fast path (``handlers.codegen``): what it generates, and that it decides as the general path.

``records.check`` runs the code generated per schema for records that are plainly valid and falls back to
``records.check_slowly`` for anything else. These tests compare both paths on valid records, on every field
replaced by every kind of value, on timestamps of every layout, and on schemas the fast path does and does
not cover; and they hold the code generated for the shipped schemas to the golden files in ``golden/``.

After a deliberate change to the generator, regenerate the golden files and review their diff:
``UPDATE_GOLDEN=1 python -m pytest tests/handlers/test_codegen.py -k golden``.
"""

from __future__ import annotations

import json
import os
import traceback
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import attributes, codegen, records, schemas, timestamps
from tests.handlers.helpers import CUSTOM, EVENT, FAST_SCHEMA, SENSOR, SLOW_SCHEMAS, custom_registry

REGISTRY = schemas.registry()
GOLDEN = Path(__file__).resolve().parent / "golden"
SHIPPED = sorted(path.stem for path in schemas.SCHEMA_DIR.glob("*.json"))


def generated_sources() -> dict[str, str]:
    """The generated code the golden files hold: one item maker per shipped schema, and ``plain``."""
    sources = {"nested_values.py": codegen.plain_source()}
    for name in SHIPPED:
        schema = REGISTRY.get(name)
        assert schema is not None and schema.fast_fields is not None, f"{name} has no fast path"
        sources[f"fast_path_{name}.py"] = codegen.item_maker_source(name, schema.fast_fields, schema.required)
    return sources


@pytest.mark.parametrize("name", sorted(generated_sources()))
def test_the_generated_code_is_the_golden_file(name):
    source = generated_sources()[name]
    golden = GOLDEN / f"{name}.golden"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(source)
    assert golden.exists(), f"{golden} is missing: run with UPDATE_GOLDEN=1 to write it"
    assert source == golden.read_text(), f"the code generated for {name} changed: see the module docstring"


def test_every_golden_file_is_generated():
    assert sorted(p.name for p in GOLDEN.glob("*.golden")) == sorted(f"{name}.golden" for name in generated_sources())


def test_each_fields_checks_are_generated_once():
    for name in SHIPPED:
        schema = REGISTRY.get(name)
        source = codegen.item_maker_source(name, schema.fast_fields, schema.required)
        for field in schema.fast_fields:
            if field != "dataType":
                assert source.count(f"v = obj.get({field!r}, MISSING)") == 1, (name, field)


class Exploding(dict):
    """A record whose ``get`` fails: the error is raised from inside the generated code."""

    def get(self, *_):
        raise LookupError("raised inside the generated code")


def test_a_traceback_through_generated_code_shows_its_lines():
    warm()
    fill = REGISTRY.fast["sensor"].item_maker("sourceLine")
    with pytest.raises(LookupError) as caught:
        fill(Exploding(SENSOR), 1)
    frame = traceback.extract_tb(caught.value.__traceback__)[-2]  # fill, then Exploding.get
    assert frame.filename.startswith("<tap-check:sensor@") and frame.name == "fill"
    assert frame.line == "v = obj.get('id', MISSING)"


def test_the_conversion_table_is_what_the_general_path_does():
    """The generated code and the general path read one table: each JSON type becomes its attribute type."""
    samples = {str: "x", float: 1.5, int: 7, bool: True, type(None): None, dict: {"a": 1}, list: [1],
               Decimal: Decimal("1.5")}
    assert set(samples) == set(attributes.CONVERSIONS)
    for kind, conversion in attributes.CONVERSIONS.items():
        (converted,) = attributes.attribute(samples[kind], "v", 1).keys()
        assert converted == conversion.attribute, kind
        assert attributes.described(samples[kind]) == conversion.described
    assert codegen.plain(samples[dict], 1) == attributes.attribute(samples[dict], "v", 1)
    assert codegen.plain(samples[list], 1) == attributes.attribute(samples[list], "v", 1)


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
