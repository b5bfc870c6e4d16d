"""The streaming readers (``handlers.formats``): suffixes, lines, gzip, JSON documents, CSV."""

from __future__ import annotations

import gzip
from decimal import Decimal

import pytest

from handlers import formats
from handlers.contracts import Reason
from handlers.failures import FileFailure


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


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
    data = 'id,dataType,timestamp,note\n1,event,0,"multi\nline, with comma"\n\n2,event,0,x,extra\n3,event,0,"bad\xff"\n'
    raw = data.encode("utf-8").replace("\xff".encode(), b"\xff")
    rows = list(formats.csv_records(iter(chunked(raw, 7)), 1000))
    assert rows[0][:3] == (2, None, {"id": "1", "dataType": "event", "timestamp": "0",
                                     "note": "multi\nline, with comma"})
    assert rows[0][3] is None
    assert rows[1][0] == 5 and "header has 4" in rows[1][3]
    assert rows[2][0] == 6 and "not UTF-8" in rows[2][3]


def test_csv_header_must_be_usable():
    for header in (b",a\n1,2\n", b"a,a\n1,2\n"):
        with pytest.raises(FileFailure) as caught:
            list(formats.csv_records(iter([header]), 1000))
        assert caught.value.reason == Reason.INVALID_CSV_HEADER


@pytest.mark.parametrize("size", [3, 1 << 20])
def test_a_csv_without_a_header_row_fails_instead_of_losing_its_first_row(size):
    """Its one row would be taken for the header, and the file would end with no record and no error."""
    row = b"s-1,sensor,2024-05-01T12:00:00Z,dev-1,temperature,21.5,C\n"
    with pytest.raises(FileFailure) as caught:
        list(formats.csv_records(iter(chunked(row, size)), 1000))
    assert caught.value.reason == Reason.CSV_HEADER_MISSING_FIELDS
    assert "id, dataType, timestamp" in caught.value.message
    assert "s-1" not in caught.value.message and "dev-1" not in caught.value.message  # data is never quoted


def test_a_csv_header_without_a_field_every_record_needs_fails_the_file():
    data = b"id,dataType,deviceId,metric,value\ns-1,sensor,d,m,1\ns-2,sensor,d,m,2\n"
    with pytest.raises(FileFailure) as caught:
        list(formats.csv_records(iter([data]), 1000))
    assert caught.value.reason == Reason.CSV_HEADER_MISSING_FIELDS
    assert "lacks column(s) timestamp" in caught.value.message


@pytest.mark.parametrize("data", [b"", b"\n\n", b"id,dataType,timestamp\n", b" id , dataType,timestamp,x\n\n"])
def test_a_csv_with_a_usable_header_or_nothing_at_all_has_no_failure(data):
    assert list(formats.csv_records(iter([data]), 1000)) == []
