"""Property: for any small corpus of files (formats, compression, good and bad records, whole-file failures,
odd key names), every record is stored exactly once as processed or rejected, or its file has exactly one
DLQ message; nothing stays in the queue. The generator knows each record's fate, so the expected counts never
come from the handler."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.contracts import Reason
from tap_templates.local.inputs import count_records
from tests.local.pipeline.conftest import PRIMARY
from tests.local.pipeline.helpers import assert_completed, assert_failed, csv_text, event, gz, jsonl, sensor, table

GOOD = "good"
# Bad record kinds each format can carry (a JSON array cannot hold unparseable text without failing whole).
BAD = {
    "jsonl": ("missing_field", "bad_timestamp", "unknown_type", "wrong_type", "extra_field", "not_object",
              "broken_json", "duplicate"),
    "json": ("missing_field", "bad_timestamp", "unknown_type", "wrong_type", "extra_field", "not_object",
             "duplicate"),
    "csv": ("missing_field", "bad_timestamp", "unknown_type", "wrong_type", "extra_cell", "duplicate"),
}
SENSOR_COLUMNS = ["id", "dataType", "timestamp", "deviceId", "metric", "value", "unit"]
EVENT_COLUMNS = ["id", "dataType", "timestamp", "name"]
_counter = itertools.count()


@dataclass(frozen=True)
class GeneratedFile:
    key: str
    body: bytes
    processed: int
    rejected: int
    failure: str | None  # the DLQ reason when the whole file must fail


def record(data_type: str, rid: str, n: int, kind: str, fmt: str) -> dict:
    make = sensor if data_type == "sensor" else event
    base = make(rid, n)
    if kind == "wrong_type" and fmt == "csv" and data_type == "event":
        kind = "bad_timestamp"  # every event column is text in CSV: a wrong type is a malformed time there
    if kind == "missing_field":
        base.pop("deviceId" if data_type == "sensor" else "name")
    elif kind == "bad_timestamp":
        base["timestamp"] = "the day after tomorrow"
    elif kind == "unknown_type":
        base["dataType"] = "weather"
    elif kind == "wrong_type":
        base["value" if data_type == "sensor" else "name"] = "hot" if data_type == "sensor" else 42
    elif kind == "extra_field":
        base["colour"] = "blue"
    return base


def build(fmt: str, data_type: str, kinds: list[str], tag: str) -> tuple[bytes, int, int]:
    """The file's bytes and its (processed, rejected) by construction."""
    rows: list = []
    processed = rejected = 0
    last_good = None
    for n, kind in enumerate(kinds):
        if kind == "duplicate" and last_good is None:
            kind = GOOD
        if kind == GOOD:
            value = record(data_type, f"{tag}-{n}", n, GOOD, fmt)
            last_good = value
            processed += 1
        else:
            rejected += 1
            value = last_good if kind == "duplicate" else record(data_type, f"{tag}-{n}", n, kind, fmt)
        if kind == "not_object":
            value = [n, "not an object"]
        if kind == "broken_json":
            value = b'{"id": "' + tag.encode() + b'", "dataType": "sens'
        rows.append((kind, value))
    if fmt == "jsonl":
        return jsonl([v for _, v in rows]), processed, rejected
    if fmt == "json":
        return json.dumps([v for _, v in rows]).encode(), processed, rejected
    columns = SENSOR_COLUMNS if data_type == "sensor" else EVENT_COLUMNS
    cells = []
    for kind, value in rows:
        line = ["" if value.get(c) is None else str(value[c]) for c in columns]
        if kind == "extra_cell":
            line.append("surplus")
        cells.append(line)
    return csv_text(columns, cells), processed, rejected


@st.composite
def files(draw: st.DrawFn) -> GeneratedFile:
    fmt = draw(st.sampled_from(["jsonl", "json", "csv"]))
    compressed = draw(st.booleans())
    data_type = draw(st.sampled_from(["sensor", "event"]))
    kinds = draw(st.lists(st.sampled_from((GOOD, GOOD, *BAD[fmt])), max_size=25))
    name = draw(st.text(alphabet="abz09 _-+%éü東", min_size=1, max_size=10)).strip() or "f"
    tag = f"p{next(_counter)}-{uuid.uuid4().hex[:6]}"
    body, processed, rejected = build(fmt, data_type, kinds, tag)
    failure = draw(st.sampled_from([None, None, None, None, "not_json", "corrupt_gzip", "not_utf8"]))
    if failure == "not_json" and fmt != "json":
        failure = None
    if failure == "corrupt_gzip" and not compressed:
        failure = None
    reason = None
    if failure == "not_json":
        body, reason = b"[{\"id\": 1,,]", Reason.NOT_JSON
    elif failure == "not_utf8":
        body, reason = b"\xff\xfe\x00\xd8 not text", None  # any reason: the file cannot be read as text
    suffix = f".{fmt}" + (".gz" if compressed else "")
    if compressed:
        body = gz(body)
        if failure == "corrupt_gzip":  # cut short (records before the cut may be stored), or not gzip at all
            cut = body[: len(body) // 2] if len(body) >= 60 else b"\x1f\x8c" + body[2:]
            body, reason = cut, Reason.CORRUPT_GZIP
    if failure:
        processed = rejected = 0
    return GeneratedFile(f"{tag}/{name}{suffix}", body, processed, rejected, failure and (reason or "any"))


@settings(max_examples=15, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(corpus=st.lists(files(), min_size=1, max_size=4))
def test_every_record_of_any_corpus_is_stored_once_or_its_file_is_dead_lettered(pipeline, corpus):
    pipeline.clear()
    versions = [pipeline.upload(PRIMARY, f.key, f.body) for f in corpus]
    report = pipeline.drain(PRIMARY)
    assert report.messages_left == 0 and report.stopped == "drained"
    items, letters = table(pipeline, PRIMARY), pipeline.dead_letters(PRIMARY)
    for f, version in zip(corpus, versions, strict=True):
        if f.failure is None:
            assert count_records(f.key, f.body) == f.processed + f.rejected
            assert_completed(pipeline, PRIMARY, f.key, version, f.processed, f.rejected, items=items,
                             letters=letters)
        else:
            assert count_records(f.key, f.body) is None
            assert_failed(pipeline, PRIMARY, f.key, version, None if f.failure == "any" else f.failure, items=items,
                          letters=letters)
