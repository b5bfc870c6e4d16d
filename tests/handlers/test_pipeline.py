"""One file's records to items (``handlers.pipeline``): the generated fast path builds the same items as the
general one in every format, duplicates within a file are refused, and the duplicate window stays bounded."""

from __future__ import annotations

import csv
import io
import json

import orjson
import pytest

from handlers import formats, items, schemas
from handlers.pipeline import FileItems, RecentKeys
from tests.handlers.helpers import CUSTOM, EVENT, FAST_SCHEMA, SENSOR, custom_registry

REGISTRY = schemas.registry()
SOURCE = items.FileSource("b", "k.jsonl", "v", "FILE#x", "2024-05-01T00:00:00.000Z", 1_800_000_000, "us-east-1")


def test_the_duplicate_window_stays_bounded():
    recent = RecentKeys(100)
    assert recent.first_position(("a", "t"), 1) is None
    assert recent.first_position(("a", "t"), 2) == 1
    for i in range(1000):
        recent.first_position((f"k{i}", "t"), i)
    assert len(recent.positions) == len(recent.order) == 100
    assert recent.first_position(("a", "t"), 3) is None  # forgotten: far-apart duplicates overwrite


class GeneralFactory(items.ItemFactory):
    """Builds valid records' items through ``accepted`` (as any overriding factory does): no fast items."""

    supports_fast_path = False

    def accepted(self, record, position):
        return super().accepted(record, position)


def outcomes(factory: items.ItemFactory, kind: str, data: bytes, registry: schemas.Registry = REGISTRY) -> list:
    """Every outcome of a file, its item decoded: ``((index, position, end, key), accepted, item)``."""
    if kind == "jsonl":
        records = formats.jsonl_records(iter([data]), 1 << 20)
    elif kind == "csv":
        records = formats.csv_records(iter([data]), 1 << 20)
    else:
        records = formats.json_records(iter([data]))
    return [(o[:4], o[5], orjson.loads(o[4])) for o in FileItems(factory, kind, registry, 100).outcomes(records)]


LINES = [SENSOR, EVENT, {**SENSOR, "id": "s-2", "timestamp": "2024-05-01T14:00:00.123+02:00"}, SENSOR,
         {**SENSOR, "id": "s-3", "value": 0.1 + 0.2}, {**SENSOR, "id": "big", "value": 10**40}, {"id": "x"},
         {**EVENT, "id": "e-2", "properties": {"blob": "x" * 420_000}}, {**SENSOR, "recordId": "r"}]


def test_fast_jsonl_items_equal_the_general_paths():
    data = b"\n".join(json.dumps(line).encode() for line in LINES) + b"\n{not json\n"
    fast = outcomes(items.ItemFactory(SOURCE, "sourceLine"), "jsonl", data)
    assert fast == outcomes(GeneralFactory(SOURCE, "sourceLine"), "jsonl", data)
    assert [o[1] for o in fast] == [True, True, True, False, True, True, False, False, False, False]


def as_csv(records: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=sorted({name for record in records for name in record}))
    writer.writeheader()
    writer.writerows({k: v if isinstance(v, str) else json.dumps(v) for k, v in record.items()} for record in records)
    return out.getvalue().encode()


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_fast_items_equal_the_general_paths_in_documents_and_csv(kind):
    """JSON documents (ijson's numbers are ints and Decimals) and CSV rows (cells coerced to the schema's
    types) take the generated code too, and it builds the items the general path builds."""
    data = json.dumps(LINES).encode() if kind == "json" else as_csv(LINES)
    position = "sourceIndex" if kind == "json" else "sourceLine"
    fast = outcomes(items.ItemFactory(SOURCE, position), kind, data)
    assert fast == outcomes(GeneralFactory(SOURCE, position), kind, data)
    assert [o[1] for o in fast] == [True, True, True, False, True, True, False, False, False]


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv"])
def test_a_second_record_with_the_same_key_is_rejected_as_a_duplicate(kind):
    records = [SENSOR, {**SENSOR, "value": 99}]
    data = {"jsonl": b"\n".join(json.dumps(r).encode() for r in records), "json": json.dumps(records).encode(),
            "csv": as_csv(records)}[kind]
    first, second = outcomes(items.ItemFactory(SOURCE, "sourceIndex" if kind == "json" else "sourceLine"), kind, data)
    assert first[1] is True and second[1] is False
    label = "index 0" if kind == "json" else "line 2" if kind == "csv" else "line 1"
    assert second[2]["errors"]["L"] == [{"M": {"field": {"S": "id"}, "message": {"S": (
        f"duplicate key: the record at {label} of this file has the same id, dataType and timestamp")}}}]
    assert (second[2]["claimedId"], second[2]["claimedDataType"]) == ({"S": "s-1"}, {"S": "sensor"})


def test_fast_items_refill_their_dicts_without_leaking_between_records(tmp_path):
    """The item function of a file reuses its dicts: an optional field absent, a record failing half-way, or a
    field of several types must not carry anything over into the next record's item."""
    registry = custom_registry({**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"],
                                                              "mixed": {"type": ["string", "number", "object"]}}},
                               tmp_path)
    records_ = [
        {**CUSTOM, "id": "1", "mixed": "text"}, {**CUSTOM, "id": "2", "mixed": 5}, {**CUSTOM, "id": "3"},
        {k: v for k, v in CUSTOM.items() if k not in ("code", "count")} | {"id": "4", "mixed": {"a": [1]}},
        {**CUSTOM, "id": "5", "count": "not an int"}, {**CUSTOM, "id": "6", "code": "x"},
        {k: v for k, v in CUSTOM.items() if k != "flag"} | {"id": "7"}, {**CUSTOM, "id": "8", "flag": True},
        {**CUSTOM, "id": "9", "timestamp": "2024-05-01T14:00:00.000+02:00", "mixed": 2.5},
    ]
    data = b"\n".join(json.dumps(record).encode() for record in records_)
    fast = outcomes(items.ItemFactory(SOURCE, "sourceLine"), "jsonl", data, registry)
    assert fast == outcomes(GeneralFactory(SOURCE, "sourceLine"), "jsonl", data, registry)
    assert [o[1] for o in fast] == [True] * 4 + [False, False] + [True] * 3
    assert registry.fast["custom"] is not None
