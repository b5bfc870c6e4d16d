"""Property tests: whatever bytes arrive, the record path never crashes and accounts for every record."""

from __future__ import annotations

import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import formats, items, records, schemas
from handlers.failures import FileFailure
from handlers.pipeline import FileItems

SOURCE = items.FileSource("b", "k", None, "FILE#f", "2024-05-01T00:00:00.000Z", 1_800_000_000, "us-east-1")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**45), max_value=10**45),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                      st.decimals(allow_nan=False, allow_infinity=False))
json_values = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=5)), max_leaves=20)
near_records = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=10), st.integers()), "dataType": st.sampled_from(["sensor", "event", "x", 1]),
     "timestamp": st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.sampled_from(
         ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123+05:30", "2024-05-01T12:00:00"]))},
    optional={"deviceId": json_leaf, "metric": json_leaf, "value": json_leaf, "unit": json_leaf, "name": json_leaf,
              "properties": json_values, "extra": json_values})


def run_lines(data: bytes, kind: str = "jsonl") -> list[tuple]:
    factory = items.ItemFactory(SOURCE, "sourceLine")
    reader = formats.jsonl_records(iter([data]), 2048) if kind == "jsonl" else formats.csv_records(iter([data]), 2048)
    return list(FileItems(factory, kind, schemas.registry(), 1000).outcomes(reader))


def assert_well_formed(found: list[tuple]) -> None:
    keys = [o[3] for o in found]
    assert len(set(keys)) == len(keys), "no two items of one file share a key"
    for index, (count, _position, _end, key, item, accepted) in enumerate(found, 1):
        assert count == index
        decoded = orjson.loads(item)
        assert (decoded["recordId"]["S"], decoded["timestamp"]["S"]) == key
        assert decoded["processingStatus"]["S"] == ("PROCESSED" if accepted else "REJECTED")
        assert len(item) <= items.MAX_ITEM_BYTES


@FAST
@given(st.lists(st.binary(max_size=300), max_size=30))
def test_arbitrary_bytes_lines_are_each_one_item(lines):
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines)
    found = run_lines(data)
    assert len(found) == sum(1 for line in data.split(b"\n") if line.strip(b" \t\r\x0b\x0c"))
    assert_well_formed(found)


@FAST
@given(st.lists(st.one_of(near_records, json_values), max_size=25))
def test_arbitrary_json_records_are_accepted_or_rejected_with_reasons(values):
    lines = [json.dumps(v, default=str).encode() for v in values]
    found = run_lines(b"\n".join(lines))
    assert len(found) == len(lines)
    assert_well_formed(found)
    for value in values:
        result = records.check(value, schemas.registry())
        if isinstance(result, records.Rejected):
            assert result.errors and all(isinstance(m, str) and m for _, m in result.errors)
        else:
            orjson.dumps(result.attributes)


@FAST
@given(st.text(max_size=400))
def test_arbitrary_csv_text_is_read_or_refused_for_its_header(text):
    data = ("id,dataType,timestamp,deviceId,metric,value\n" + text).encode("utf-8", "surrogatepass")
    try:
        found = run_lines(data, "csv")
    except FileFailure as exc:
        assert exc.reason in ("INVALID_CSV_HEADER", "UNDECODABLE")
        return
    assert_well_formed(found)


@FAST
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=40),
       st.integers(min_value=8, max_value=64))
def test_line_splitting_does_not_depend_on_chunk_boundaries(data, sizes, limit):
    chunks, start = [], 0
    for size in sizes * (len(data) // max(sum(sizes), 1) + 1):
        if start >= len(data):
            break
        chunks.append(data[start:start + size])
        start += size
    split = list(formats.split_lines(iter(chunks), limit))
    whole = list(formats.split_lines(iter([data]), limit))
    assert split == whole
    expected = data.split(b"\n") if data else []
    if data.endswith(b"\n"):
        expected = expected[:-1]
    assert len(whole) == len(expected)
    for (_, _, line, problem), original in zip(whole, expected, strict=True):
        assert (line == original) if problem is None else (line == original[: formats.RAW_KEEP])
