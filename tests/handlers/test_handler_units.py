"""The pure parts of the processor, without AWS: readers, validation, items."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import orjson
import pytest

from handlers import attributes, formats, items, records, schemas, timestamps
from handlers.contracts import Reason
from handlers.events import InvalidNotification, parse_message
from handlers.failures import FileFailure
from handlers.settings import SettingsError, load_settings

REGISTRY = schemas.registry()


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


# -- formats ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["a.json", "b.JSONL", "c.ndjson", "d.csv", "e.json.gz", "f.csv.GZ", "g.ndjson.gz"])
def test_supported_suffixes(key):
    fmt = formats.format_for(key)
    assert fmt.gzip == key.lower().endswith(".gz")


@pytest.mark.parametrize("key", ["a.txt", "b.gz", "c.json.zip", "noext", "d.csv.bak", "e.parquet"])
def test_unsupported_suffixes(key):
    with pytest.raises(FileFailure) as caught:
        formats.format_for(key)
    assert caught.value.reason == Reason.UNSUPPORTED_FORMAT


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1 << 20])
def test_split_lines_is_independent_of_chunking(size):
    data = b'{"a": 1}\r\n\n  \n{"b": 2}\n{"c": 3}'
    lines = list(formats.split_lines(iter(chunked(data, size)), 100))
    assert [line for _, _, line, _ in lines] == data.split(b"\n")
    assert [n for n, _, _, _ in lines] == [1, 2, 3, 4, 5]
    assert [end for _, end, _, _ in lines] == [10, 11, 14, 23, 31]


def test_split_lines_cuts_overlong_lines_without_holding_them():
    data = b"short\n" + b"x" * 50_000 + b"\nafter\n" + b"y" * 50_000
    lines = list(formats.split_lines(iter(chunked(data, 1000)), 10_000))
    assert [(n, len(line), p is not None) for n, _, line, p in lines] == [
        (1, 5, False), (2, formats.RAW_KEEP, True), (3, 5, False), (4, formats.RAW_KEEP, True)]
    assert lines[1][1] == 6 + 50_001 and lines[3][1] == len(data)
    assert "50000 bytes, over the limit of 10000" in lines[1][3]


def test_jsonl_skips_blank_lines_but_counts_them():
    records = list(formats.jsonl_records(iter([b'\n{"a":1}\n \t\r\n{"b":2}\n\n']), 100))
    assert [(n, line) for n, _, line, _ in records] == [(2, b'{"a":1}'), (4, b'{"b":2}')]


def test_bom_is_dropped_and_other_encodings_refused():
    assert b"".join(formats.text_start(iter([b"\xef\xbb", b"\xbf{}"]))) == b"{}"
    for data in ('{"a": 1}'.encode("utf-16"), b"\x00\x00\xfe\xff", b"ok\x00bin", b"caf\xe9 au lait"):
        with pytest.raises(FileFailure) as caught:
            b"".join(formats.text_start(iter([data])))
        assert caught.value.reason == Reason.UNDECODABLE


def test_text_start_allows_a_character_cut_by_the_sniff_window():
    data = b"a" * (formats.SNIFF_BYTES - 1) + "é".encode() + b"\n"
    assert b"".join(formats.text_start(iter(chunked(data, 100)))) == data


def test_gunzip_streams_members_and_checks_integrity():
    data = gzip.compress(b"one\n") + gzip.compress(b"two\n")
    assert b"".join(formats.gunzip(iter(chunked(data, 5)), len(data), 100)) == b"one\ntwo\n"
    truncated = gzip.compress(b"x" * 10_000)[:-12]
    corrupt = bytearray(gzip.compress(b"payload" * 100))
    corrupt[20] ^= 0xFF
    for bad in (truncated, bytes(corrupt), b"not gzip at all", b""):
        with pytest.raises(FileFailure) as caught:
            b"".join(formats.gunzip(iter([bad]), max(len(bad), 1), 100))
        assert caught.value.reason == Reason.CORRUPT_GZIP


def test_gunzip_stops_a_bomb_early():
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), 9)
    produced = 0
    with pytest.raises(FileFailure) as caught:
        for out in formats.gunzip(iter([bomb]), len(bomb), 10):
            produced += len(out)
    assert caught.value.reason == Reason.DECOMPRESSION_RATIO
    assert produced <= max(len(bomb) * 10, formats.RATIO_FLOOR_BYTES) + formats.INFLATE_STEP


def test_json_reader_array_object_and_errors():
    values = list(formats.json_records(iter([b' [ {"a": 1.5}, 2, {"b": [1e400]} ] '])))
    assert [(i, v) for i, _, v, _ in values] == [(0, {"a": Decimal("1.5")}), (1, 2), (2, {"b": [Decimal("1e400")]})]
    assert [v for _, _, v, _ in formats.json_records(iter([b'{"a": 1}']))] == [{"a": 1}]
    assert list(formats.json_records(iter([b""]))) == []
    with pytest.raises(FileFailure) as caught:
        list(formats.json_records(iter([b'[{"a": 1}, {"a": '])))
    assert caught.value.reason == Reason.NOT_JSON


def test_csv_reader_quotes_multiline_fields_and_problems():
    data = 'id,dataType,note\n1,event,"multi\nline, with comma"\n\n2,event,x,extra\n3,event,"bad\xff"\n'
    raw = data.encode("utf-8").replace("\xff".encode(), b"\xff")
    rows = list(formats.csv_records(iter(chunked(raw, 7)), 1000))
    assert rows[0][:3] == (2, None, {"id": "1", "dataType": "event", "note": "multi\nline, with comma"})
    assert rows[0][3] is None
    assert rows[1][0] == 5 and "header has 3" in rows[1][3]
    assert rows[2][0] == 6 and "not UTF-8" in rows[2][3]


def test_csv_header_must_be_usable():
    for header in (b",a\n1,2\n", b"a,a\n1,2\n"):
        with pytest.raises(FileFailure) as caught:
            list(formats.csv_records(iter([header]), 1000))
        assert caught.value.reason == Reason.INVALID_CSV_HEADER


# -- records ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
    ("2024-05-01T12:00:00.123456+00:00", "2024-05-01T12:00:00.123Z"),
    ("2024-05-01T01:30:00.5+02:00", "2024-04-30T23:30:00.500Z"),
    ("2024-12-31T23:00:00-05:00", "2025-01-01T04:00:00.000Z"),
    (1714564800, "2024-05-01T12:00:00.000Z"),
    (1714564800.1234, "2024-05-01T12:00:00.123Z"),
    (Decimal("1714564800.5"), "2024-05-01T12:00:00.500Z"),
    (0, "1970-01-01T00:00:00.000Z"),
])
def test_timestamps_are_normalized_to_utc_milliseconds(value, expected):
    assert timestamps.normalize_timestamp(value) == expected


@pytest.mark.parametrize("value", ["2024-05-01T12:00:00", "2024-05-01", "yesterday", "", None, True, [],
                                   float("nan"), 1e20, -1e20, "0001-01-01T00:00:00+01:00"])
def test_bad_timestamps_are_explained(value):
    with pytest.raises(ValueError, match=r".+"):
        timestamps.normalize_timestamp(value)


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (-5, "-5"), (1.5, "1.5"), (10**40, str(10**40)), (Decimal("1.50"), "1.5"), (Decimal("-0"), "0"),
    (Decimal("9.9999E+125"), "9.9999E+125"), (Decimal("1E-130"), "1E-130"),
    (12345678901234567890, "12345678901234567890"),
])
def test_numbers_dynamodb_can_store(value, text):
    assert attributes.number(value, "v") == text


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e126, 1e-131, 10**126, 3**100,
                                   Decimal("1E+126"), Decimal("1E-131"), Decimal("NaN"), Decimal("1." + "1" * 40)])
def test_numbers_dynamodb_cannot_store(value):
    with pytest.raises(attributes.BadNumber):
        attributes.number(value, "v")


def test_big_integers_survive_the_fast_parser():
    line = b'{"id":"a","dataType":"sensor","timestamp":0,"deviceId":"d","metric":"m","value":1234567890123456789012345}'
    result = records.check(records.parse_line(line), REGISTRY, line)
    assert result.attributes["value"] == {"N": "1234567890123456789012345"}


def test_nested_values_become_typed_attributes():
    record = {"id": "e", "dataType": "event", "timestamp": 0, "name": "n",
              "properties": {"s": "x", "n": 1, "f": 2.5, "b": True, "z": None, "l": [1, "a", {"k": False}]}}
    result = records.check(record, REGISTRY)
    assert result.attributes["properties"] == {"M": {
        "s": {"S": "x"}, "n": {"N": "1"}, "f": {"N": "2.5"}, "b": {"BOOL": True}, "z": {"NULL": True},
        "l": {"L": [{"N": "1"}, {"S": "a"}, {"M": {"k": {"BOOL": False}}}]}}}
    assert (result.record_id, result.timestamp) == ("event#e", "1970-01-01T00:00:00.000Z")


@pytest.mark.parametrize(("properties", "field"), [
    ({"": 1}, "properties"),
    ({"deep": json.loads("[" * 40 + "]" * 40)}, "properties.deep"),
])
def test_values_dynamodb_refuses_are_rejected(properties, field):
    record = {"id": "e", "dataType": "event", "timestamp": 0, "name": "n", "properties": properties}
    result = records.check(record, REGISTRY)
    assert isinstance(result, records.Rejected)
    assert result.errors[0][0].startswith(field)


def test_reserved_field_names_are_rejected():
    schema = {"type": "object"}
    registry = schemas.Registry()
    registry.compiled["open"] = schemas.Schema("open", schema)
    result = records.check({"id": "a", "dataType": "open", "timestamp": 0, "processingStatus": "x"}, registry)
    assert isinstance(result, records.Rejected) and result.errors[0][0] == "processingStatus"


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


def test_every_schema_error_is_listed():
    result = records.check({"id": 5, "dataType": "sensor", "timestamp": "x", "value": "v", "other": 1}, REGISTRY)
    fields = [f for f, _ in result.errors]
    assert fields[:2] == ["id", "timestamp"]
    assert {"deviceId", "metric", "value", "other"} <= set(fields)


# -- items -----------------------------------------------------------------------------------------------
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


# -- events and settings ---------------------------------------------------------------------------------
def test_notification_parsing():
    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"},
              "object": {"key": "a+b%2Bc%C3%A9", "versionId": "v", "eTag": '"e"', "size": 3}}}
    (ref,) = parse_message("m", json.dumps({"Records": [record]})).objects
    assert (ref.key, ref.version_id, ref.etag, ref.size, ref.is_creation) == ("a b+cé", "v", "e", 3, True)
    for body in ("[]", "{}", "nope", json.dumps({"Records": [{"s3": {}}]}),
                 json.dumps({"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "%FF"}}}]})):
        with pytest.raises(InvalidNotification):
            parse_message("m", body)


def test_settings_from_the_environment():
    env = {"TABLE_NAME": "t", "DLQ_URL": "https://q", "AWS_REGION": "eu-west-1", "RECORD_TTL_DAYS": "30",
           "MAX_OBJECT_BYTES": "1000", "MAX_DECOMPRESSION_RATIO": "7"}
    config = load_settings(env)
    assert (config.table_name, config.region, config.record_ttl_days, config.max_object_bytes,
            config.max_decompression_ratio, config.write_concurrency) == ("t", "eu-west-1", 30, 1000, 7, 4)
    for broken in ({**env, "TABLE_NAME": ""}, {**env, "RECORD_TTL_DAYS": "x"}, {**env, "WRITE_CONCURRENCY": "-1"},
                   {k: v for k, v in env.items() if k != "AWS_REGION"}):
        with pytest.raises(SettingsError):
            load_settings(broken)


def test_the_duplicate_window_stays_bounded():
    from handlers.pipeline import RecentKeys

    recent = RecentKeys(100)
    assert recent.first_position(("a", "t"), 1) is None
    assert recent.first_position(("a", "t"), 2) == 1
    for i in range(1000):
        recent.first_position((f"k{i}", "t"), i)
    assert len(recent._positions) == len(recent._order) == 100
    assert recent.first_position(("a", "t"), 3) is None  # forgotten: far-apart duplicates overwrite
