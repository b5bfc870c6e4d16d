"""Fuzzing the record path: hypothesis feeds the readers, the validator and the item builder (the pure
functions: no network) arbitrary bytes, arbitrary JSON values and near-valid records full of hostile values.

Properties, for every input: no exception but a ``FileFailure`` with a known reason; one outcome per record
the reader found (for JSONL, exactly one per non-blank line); every item is one DynamoDB would take (unique
key, numbers it can store, under 400 KB); every rejection has a reason; splitting lines does not depend on
where the chunks end. With pseudonymization on, no configured value is ever stored in clear, valid or
rejected, nor in the message of a file that fails.

Bounded for CI: each test stops at 300 examples (``FUZZ``) or 150 (``FAST``), all of them in a few seconds.
"""

from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import formats, items, pseudonymize, records, schemas
from handlers.contracts import Reason
from handlers.failures import FileFailure
from handlers.pipeline import FileItems

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOURCE = items.FileSource("bucket", "key", "v1", "FILE#fuzz", "2024-05-01T00:00:00.000Z", 1_800_000_000, "us-east-1")
MAX_LINE = 4096
KEY = b"fuzz-key-of-at-least-thirty-two-bytes"
FIELDS = {"event": ["properties.email", "properties.contact.phone"], "sensor": ["unit"]}


def run(data: bytes, kind: str, gz: bool = False, pseudonymizer: Any = None, whole_start: bool = True) -> list[tuple]:
    """The handler's reader chain and record path over ``data``, as ``FileRun`` wires them; without
    ``whole_start``, as for a file resumed mid-way (no check of its start: any bytes reach the reader)."""
    chunks: Any = iter([data[i:i + 997] for i in range(0, len(data), 997)])  # odd sizes: lines span chunks
    if gz:
        chunks = formats.gunzip(chunks, len(data), 100)
    if whole_start:
        chunks = formats.text_start(chunks)
    if kind == "jsonl":
        records = formats.jsonl_records(chunks, MAX_LINE)
    elif kind == "csv":
        records = formats.csv_records(chunks, MAX_LINE)
    else:
        records = formats.json_records(chunks)
    position = "sourceIndex" if kind == "json" else "sourceLine"
    if pseudonymizer is None:
        factory: items.ItemFactory = items.ItemFactory(SOURCE, position)
    else:
        factory = pseudonymize.PseudonymizingFactory(SOURCE, position, pseudonymizer)
    return list(FileItems(factory, kind, schemas.registry(), 1000).outcomes(records))


def run_or_fail(data: bytes, kind: str, gz: bool = False) -> list[tuple] | None:
    """``run``; ``None`` if the file failed as a whole, for a reason the DLQ knows."""
    try:
        return run(data, kind, gz)
    except FileFailure as exc:
        assert exc.reason in set(Reason) and exc.message
        return None


def storable(value: dict[str, Any], depth: int = 1) -> None:
    """``value`` is an attribute value DynamoDB accepts (numbers, nesting, names)."""
    ((kind, inner),) = value.items()
    if kind == "N":
        number = Decimal(inner)
        assert number.is_finite()
        _sign, digits, exponent = number.normalize(_PRECISE).as_tuple()
        assert len(digits) <= 38 and (number == 0 or -130 <= exponent + len(digits) - 1 <= 125), inner
    elif kind == "S":
        inner.encode("utf-8")
    elif kind in ("M", "L"):
        assert depth <= 32
        for name, item in (inner.items() if kind == "M" else enumerate(inner)):
            assert name != ""
            storable(item, depth + 1)


_PRECISE = __import__("decimal").Context(prec=200)


def well_formed(found: list[tuple]) -> None:
    keys = [o[3] for o in found]
    assert len(set(keys)) == len(keys), "two items of one file share a key"
    for number, (index, _position, _end, key, item, accepted) in enumerate(found, 1):
        assert index == number
        assert len(item) <= items.MAX_ITEM_BYTES or items.oversized(item) == 0
        decoded = orjson.loads(item)
        assert (decoded["recordId"]["S"], decoded["timestamp"]["S"]) == key
        assert decoded["processingStatus"]["S"] == ("PROCESSED" if accepted else "REJECTED")
        if accepted:
            for name, value in decoded.items():
                assert name
                storable(value)
        else:
            errors = decoded["errors"]["L"]
            assert errors and all(e["M"]["message"]["S"] for e in errors)


def non_blank_lines(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.strip(b" \t\r\x0b\x0c"))


# -- arbitrary bytes --------------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_as_jsonl_give_one_outcome_per_line_or_fail_the_file(data):
    found = run_or_fail(data, "jsonl")
    if found is not None:
        assert len(found) == non_blank_lines(data)
        well_formed(found)


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from(["json", "csv"]), st.booleans())
def test_arbitrary_bytes_in_any_format_never_raise_anything_else(data, kind, gz):
    found = run_or_fail(gzip.compress(data) if gz else data, kind, gz)
    if found is not None:
        well_formed(found)


@FAST
@given(st.lists(st.binary(max_size=300), max_size=30))
def test_arbitrary_lines_past_the_start_of_a_file_are_each_one_item(lines):
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines)
    found = run(data, "jsonl", whole_start=False)
    assert len(found) == non_blank_lines(data)
    well_formed(found)
    assert all(len(o[4]) <= items.MAX_ITEM_BYTES for o in found)


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


# -- arbitrary JSON values ----------------------------------------------------------------------------------
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


@FAST
@given(st.lists(st.one_of(near_records, json_values), max_size=25))
def test_arbitrary_json_records_are_accepted_or_rejected_with_reasons(values):
    lines = [json.dumps(v, default=str).encode() for v in values]
    found = run(b"\n".join(lines), "jsonl", whole_start=False)
    assert len(found) == len(lines)
    well_formed(found)
    assert all(len(o[4]) <= items.MAX_ITEM_BYTES for o in found)
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
        found = run(data, "csv", whole_start=False)
    except FileFailure as exc:
        assert exc.reason in ("INVALID_CSV_HEADER", "UNDECODABLE")
        return
    well_formed(found)


# -- near-valid records -----------------------------------------------------------------------------------
HOSTILE = [
    "NaN", "Infinity", "-Infinity", "1e200", "-1e-200", "1e126", "9.9999e125",
    "123456789012345678901234567890123456789", "1.23456789012345678901234567890123456789",
    "0.30000000000000004", "18446744073709551616", "-0", "1E-130",
    '"\\ud800"', '"\\udc00x"', '"a\\u0000b"', '"=cmd|\' /C calc\'!A0"', '"+1+1"', '"@SUM(1)"', '"-2+3"',
    '"../../etc/passwd"', '"\\u202e"', "[" * 40 + "]" * 40, "[" * 1100 + "]" * 1100, '{"":1}', '{"a":{"":1}}',
    "null", "true", "[]", "{}", '"' + "x" * 3000 + '"', '"2024-13-45T99:00:00Z"', '"2024-05-01T12:00:00"',
    "253402300800", "-62135596801", '"9999-12-31T23:59:59-23:59"', '{"recordId":"x"}',
]
SENSOR = {"id": '"s-1"', "dataType": '"sensor"', "timestamp": '"2024-05-01T12:00:00Z"', "deviceId": '"d"',
          "metric": '"m"', "value": "21.5", "unit": '"C"'}
EVENT = {"id": '"e-1"', "dataType": '"event"', "timestamp": "1714564800", "name": '"n"',
         "properties": '{"email":"a@b.example","n":1}'}
token_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12).map(json.dumps),
                       st.integers(-(10**40), 10**40).map(str), st.floats().map(repr))


@st.composite
def near_valid_line(draw: Any) -> bytes:
    fields = dict(draw(st.sampled_from([SENSOR, EVENT])))
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3)):
        fields[name] = draw(token_text)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=1)):
        del fields[name]
    if draw(st.booleans()):
        fields[draw(st.sampled_from(["extra", "errors", "", "id", "x" * 70]))] = draw(token_text)
    line = ("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}").encode()
    if draw(st.integers(0, 3)) == 0:  # a byte-level mutation: drop, insert or replace one byte
        at = draw(st.integers(0, len(line)))
        byte = bytes([draw(st.integers(0, 255))])
        line = draw(st.sampled_from([line[:at] + line[at + 1:], line[:at] + byte + line[at:],
                                     line[:at] + byte + line[at + 1:]]))
    return line.replace(b"\n", b" ")


@FUZZ
@given(st.lists(near_valid_line(), min_size=1, max_size=12))
def test_near_valid_jsonl_records_are_each_accepted_or_rejected_with_reasons(lines):
    data = b"\n".join(lines)
    found = run_or_fail(data, "jsonl")
    if found is None:  # only the start of the file is checked whole (BOM, NUL, UTF-8)
        return
    assert len(found) == non_blank_lines(data)
    well_formed(found)


@FUZZ
@given(st.lists(near_valid_line(), min_size=1, max_size=8))
def test_near_valid_json_documents_are_records_or_one_failure(lines):
    found = run_or_fail(b"[" + b",".join(lines) + b"]", "json")
    if found is not None:
        assert len(found) >= 1
        well_formed(found)


csv_cell = st.one_of(st.sampled_from(["", '"', '""', "a,b", '"a,b"', '"x""y"', "=1+1", "@SUM(1)", "\r", "NaN",
                                      "1e200", '{"email":"x"}', '"{""email"":""x""}"']), st.text(max_size=8))


@FUZZ
@given(st.lists(st.lists(csv_cell, min_size=1, max_size=8), max_size=10),
       st.sampled_from(["id,dataType,timestamp,deviceId,metric,value,unit", "id,dataType,timestamp,name,properties"]))
def test_near_valid_csv_rows_are_records_or_a_header_failure(rows, header):
    text = header + "\n" + "\n".join(",".join(row) for row in rows) + "\n"
    found = run_or_fail(text.encode("utf-8", "surrogatepass"), "csv")
    if found is not None:
        body = text.split("\n", 1)[1]
        assert len(found) <= len(re.split("\r\n|\n|\r", body))  # quoted line breaks join lines, never split
        well_formed(found)


# -- pseudonymization -------------------------------------------------------------------------------------
@st.composite
def personal_record(draw: Any) -> tuple[dict[str, Any], list[str]]:
    """A record (valid or not) with unique marker values at the configured paths, nowhere else."""
    markers = [f"pii-{draw(st.integers(0, 10**9)):09d}-{i}@x.example" for i in range(3)]
    contact = draw(st.sampled_from([{"phone": markers[1]}, [{"phone": markers[1]}], json.dumps({"phone": markers[1]}),
                                    {"phone": {"n": markers[1]}}, {"phone": [markers[1], 5]}]))
    properties = draw(st.sampled_from([
        {"email": markers[0], "contact": contact, "plan": "pro"},
        {"email": {"home": markers[0]}, "contact": contact},
        [{"email": markers[0]}], json.dumps({"email": markers[0]}), {"email": [markers[0]]},
    ]))
    if draw(st.booleans()):
        record = {"id": "e-1", "dataType": draw(st.sampled_from(["event", "Event", "evnt"])),
                  "timestamp": draw(st.sampled_from(["2024-05-01T12:00:00Z", "not a time"])),
                  "name": draw(st.sampled_from(["n", "", 5])), "properties": properties}
    else:
        record = {"id": "s-1", "dataType": draw(st.sampled_from(["sensor", "Sensor"])), "deviceId": "d", "metric": "m",
                  "timestamp": "2024-05-01T12:00:00Z", "value": draw(st.sampled_from([1, "x", 1e200])),
                  "unit": markers[2]}
    for name in draw(st.lists(st.sampled_from(sorted(record)), max_size=2)):
        if name not in ("properties", "unit"):
            record.pop(name, None)
    return record, markers


def as_file(recs: list[dict[str, Any]], kind: str) -> bytes:
    if kind == "jsonl":
        return b"\n".join(json.dumps(r).encode() for r in recs)
    if kind == "json":
        return json.dumps(recs).encode()
    columns = sorted({k for r in recs for k in r}) or ["id"]
    def cell(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return '"' + text.replace('"', '""') + '"'
    return (",".join(columns) + "\n" + "".join(",".join(cell(r.get(c, "")) for c in columns) + "\n"
                                               for r in recs)).encode()


@FUZZ
@given(st.lists(personal_record(), min_size=1, max_size=5), st.sampled_from(["jsonl", "json", "csv"]))
def test_no_configured_value_is_ever_stored_in_clear(cases, kind):
    p = pseudonymize.Pseudonymizer(KEY, FIELDS)
    data = as_file([r for r, _ in cases], kind)
    try:
        found = run(data, kind, pseudonymizer=p)
    except FileFailure as exc:  # the message goes to the DLQ and the ledger: it must not hold a value either
        header = data.split(b"\n", 1)[0].decode().split(",")
        assert kind == "csv" and not {"id", "dataType", "timestamp"} <= set(header)
        assert exc.reason == Reason.CSV_HEADER_MISSING_FIELDS
        stored = exc.message
    else:
        assert len(found) == len(cases)
        well_formed(found)
        stored = b"".join(o[4] for o in found).decode()
    for _, markers in cases:
        for marker in markers:
            assert marker not in stored
