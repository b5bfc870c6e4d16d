"""Hostile input: whatever arrives, a file ends COMPLETED with every bad record rejected with a
reason, or FAILED with exactly one DLQ message naming the reason; never a crash (a retried message), a hang,
or a record unaccounted for.

Every case runs the real handler against moto and goes through ``settle``, which checks the accounting:
the handler acknowledged the message, the ledger's processed and rejected counts equal the items the table
holds for the file, and a FAILED file has exactly one dead letter with the ledger's reason.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import pytest

from handlers import formats, settings
from tests.handlers.helpers import ROOT, event, jsonl, sensor


@dataclass
class Settled:
    status: str
    processed: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    reason: str | None
    letter: dict[str, Any] | None

    def errors(self) -> list[str]:
        """Every rejection message, in file order."""
        ordered = sorted(self.rejected, key=lambda r: r.get("sourceLine", r.get("sourceIndex", 0)))
        return [e["message"] for r in ordered for e in r["errors"]]


def settle(p, key: str, body: bytes, gz: bool = False, max_seconds: float = 20.0) -> Settled:
    """Process one object and check that it is fully accounted for."""
    record = p.put(key, body, gz)
    settings.current.cache_clear()  # a test may have changed a limit in the environment
    started = time.monotonic()
    result = p.run(p.event(record))
    assert time.monotonic() - started < max_seconds, "processing took too long"
    assert result == {"batchItemFailures": []}, "the message was not settled (a crash is retried)"
    (entry,) = [e for e in p.ledgers() if e["objectKey"] == key]
    mine = [r for r in p.records() if r["sourceKey"] == key]
    processed = [r for r in mine if r["processingStatus"] == "PROCESSED"]
    rejected = [r for r in mine if r["processingStatus"] == "REJECTED"]
    assert (entry["processed"], entry["rejected"]) == (len(processed), len(rejected))
    assert entry["records"] == len(mine)
    letters = p.dead_letters()
    if entry["status"] == "FAILED":
        (letter,) = letters
        assert letter["reason"] == entry["failureReason"] == letter["_attributes"]["reason"]
        assert letter["key"] == key and letter["processed"] == entry["processed"]
        return Settled("FAILED", processed, rejected, entry["failureReason"], letter)
    assert entry["status"] == "COMPLETED" and letters == []
    for item in rejected:
        assert item["errors"] and all(e["message"] for e in item["errors"])
    return Settled("COMPLETED", processed, rejected, None, None)


def lines(*parts: bytes) -> bytes:
    return b"\n".join(parts) + b"\n"


GOOD = json.dumps(sensor(1)).encode()
GOOD2 = json.dumps(sensor(2)).encode()


# -- sizes ------------------------------------------------------------------------------------------------
def test_an_object_over_the_size_limit_fails_before_it_is_read(pipeline, monkeypatch):
    monkeypatch.setenv("MAX_OBJECT_BYTES", "4096")
    done = settle(pipeline, "big.jsonl", jsonl([sensor(i) for i in range(100)]))
    assert done.reason == "TOO_LARGE" and "over the limit of 4096 bytes" in done.letter["message"]
    assert done.processed == []


def test_an_object_bigger_than_its_notification_says_still_fails(pipeline, monkeypatch):
    monkeypatch.setenv("MAX_OBJECT_BYTES", "4096")
    settings.current.cache_clear()
    p = pipeline
    record = p.put("liar.jsonl", jsonl([sensor(i) for i in range(100)]))
    record["s3"]["object"]["size"] = 10  # the event lies; GetObject's length decides
    assert p.run(p.event(record)) == {"batchItemFailures": []}
    (letter,) = p.dead_letters()
    assert letter["reason"] == "TOO_LARGE" and p.records() == []


def test_a_gzip_bomb_stops_at_the_decompression_ratio(pipeline):
    bomb = gzip.compress(lines(GOOD, GOOD2) + b" " * (64 * 1024 * 1024), 9)
    assert len(bomb) < 200_000  # ~64 MiB of output from well under 1% of that
    done = settle(pipeline, "bomb.jsonl.gz", bomb, max_seconds=10)
    assert done.reason == "DECOMPRESSION_RATIO" and "inflates past" in done.letter["message"]
    assert len(done.processed) <= 2  # whatever was written before the stop is counted


def test_a_gzip_object_over_the_size_limit_fails_as_too_large(pipeline, monkeypatch):
    monkeypatch.setenv("MAX_OBJECT_BYTES", "1024")
    done = settle(pipeline, "big.jsonl.gz", jsonl([sensor(i) for i in range(500)]), gz=True)
    assert done.reason == "TOO_LARGE"


def test_a_lower_ratio_setting_is_honoured_and_nested_gzip_is_not_text(pipeline, monkeypatch):
    whitespace = bytes(b" \t\r\n"[i % 4] for i in range(256))
    blank = random.Random(5).randbytes(3 * 1024 * 1024).translate(whitespace)  # no records; gzip gets ~3.5:1
    done = settle(pipeline, "blank.jsonl.gz", blank, gz=True)
    assert (done.status, done.reason) == ("COMPLETED", None)
    monkeypatch.setenv("MAX_DECOMPRESSION_RATIO", "2")
    assert settle(pipeline, "ratio.jsonl.gz", blank, gz=True).reason == "DECOMPRESSION_RATIO"
    monkeypatch.delenv("MAX_DECOMPRESSION_RATIO")
    twice = gzip.compress(gzip.compress(jsonl([sensor(1)])))
    assert settle(pipeline, "twice.jsonl.gz", twice).reason == "UNDECODABLE"


def test_corrupt_and_truncated_gzip_fail_with_their_reason(pipeline):
    whole = gzip.compress(jsonl([sensor(i) for i in range(50)]))
    assert settle(pipeline, "cut.jsonl.gz", whole[: len(whole) // 2]).reason == "CORRUPT_GZIP"
    assert settle(pipeline, "plain.jsonl.gz", jsonl([sensor(1)])).reason == "CORRUPT_GZIP"


def test_a_line_of_many_megabytes_is_rejected_and_its_neighbours_kept(pipeline):
    huge = b'{"id":"x","dataType":"sensor","blob":"' + b"a" * (24 * 1024 * 1024) + b'"}'
    done = settle(pipeline, "huge.jsonl", lines(GOOD, huge, GOOD2))
    assert len(done.processed) == 2
    (rejected,) = done.rejected
    assert rejected["sourceLine"] == 2 and rejected["raw"] == huge[:4096].decode()  # only its head is kept
    assert done.errors() == [f"line is {len(huge)} bytes, over the limit of 1048576 bytes"]


def test_a_long_line_is_never_held_whole():
    """The reader keeps a bounded head of an over-long line, whatever its length (here 64 MiB)."""
    def chunks():
        yield b'{"id":"a"}\n'
        for _ in range(64):
            yield b"x" * (1024 * 1024)
        yield b'\n{"id":"b"}\n'

    tracemalloc.start()
    try:
        out = list(formats.jsonl_records(chunks(), 1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(o[0], o[3] is None) for o in out] == [(1, True), (2, False), (3, True)]
    assert peak < 8 * 1024 * 1024


def test_a_record_of_400_kb_or_more_is_rejected_with_its_size(pipeline):
    blob = event(1, blob="b" * 420_000)
    done = settle(pipeline, "wide.jsonl", jsonl([blob, event(2, blob="small")]))
    assert [r["id"] for r in done.processed] == ["e-2"]
    (message,) = done.errors()
    assert message.startswith("the item would be ") and message.endswith("bytes, over DynamoDB's 400 KB limit")


def test_rejections_that_quote_huge_field_names_still_fit_an_item(pipeline):
    """Fixed: the error's field (an unknown 900 KB name here) went into the rejected item whole, so the
    item was over 400 KB, DynamoDB refused the batch and the file was retried until the DLQ."""
    many = {f"k{i}{'n' * 15_000}": 1 for i in range(60)}
    done = settle(pipeline, "names.jsonl", jsonl([sensor(1, **{"n" * 900_000: 1}), sensor(2, **many), sensor(3)]))
    assert len(done.processed) == 1 and len(done.rejected) == 2
    assert all("is not allowed for this data type" in m for m in done.errors())


# -- structure --------------------------------------------------------------------------------------------
def test_deep_nesting_in_jsonl_is_a_rejected_line(pipeline):
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = (b'{"id":"e-1","dataType":"event","timestamp":"2024-05-01T12:00:00Z","name":"n","properties":{"a":'
              + b"[" * 1000 + b"]" * 1000 + b"}}")
    typed = (b'{"id":"e-2","dataType":"event","timestamp":"2024-05-01T12:00:00Z","name":"n","properties":'
             + b"[" * 1000 + b"]" * 1000 + b"}")
    done = settle(pipeline, "deep.jsonl", lines(deep, b"[" * 100_000, nested, typed, GOOD))
    assert len(done.processed) == 1 and len(done.rejected) == 4
    assert done.errors() == ["not valid JSON: nesting is too deep", "not valid JSON: nesting is too deep",
                             "nests deeper than DynamoDB's 32 levels", "nests too deeply to check"]


def test_deep_nesting_in_a_json_document_fails_it_without_exhausting_memory(pipeline):
    """Fixed: ijson keeps a path string per open level, so 100,000 ``[`` took tens of gigabytes."""
    document = b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]"
    tracemalloc.start()
    try:
        done = settle(pipeline, "deep.json", document, max_seconds=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert done.reason == "NOT_JSON" and "deeper than 1000 levels" in done.letter["message"]
    assert peak < 64 * 1024 * 1024


def test_nesting_below_the_document_limit_is_a_rejected_record(pipeline):
    inner = {"id": "e-1", "dataType": "event", "timestamp": "2024-05-01T12:00:00Z", "name": "n"}
    shallow = dict(inner, id="e-2", properties={"a": [[[1]]]})
    document = ("[" + json.dumps(dict(inner, properties={"a": "X"})).replace('"X"', "[" * 900 + "]" * 900)
                + "," + json.dumps(shallow) + "]").encode()
    done = settle(pipeline, "nested.json", document)
    assert [r["id"] for r in done.processed] == ["e-2"]
    assert done.errors() == ["nests deeper than DynamoDB's 32 levels"]


# -- bytes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "body", "reason"), [
    ("latin1.jsonl", "é".encode("latin-1") + b'{"id":"x"}\n', "UNDECODABLE"),
    ("nul.jsonl", b"\x00" * 16 + GOOD, "UNDECODABLE"),
    ("utf16.jsonl", GOOD.decode().encode("utf-16"), "UNDECODABLE"),
    ("latin1.csv", b"id,dataType\n\xff\xfe,x\n", "UNDECODABLE"),
    ("binary.json", bytes(range(256)) * 4, "UNDECODABLE"),
    ("late.json", b"[" + b",".join([GOOD] * 100) + b',{"id":"\xff"}]', "UNDECODABLE"),
    ("surrogate.json", b'[{"id":"\\udc00","dataType":"event"}]', "UNDECODABLE"),
    ("latenul.json", b"[" + b",".join([GOOD] * 100) + b",\x00]", "NOT_JSON"),
])
def test_bad_bytes_where_the_format_cannot_go_on_fail_the_file(pipeline, key, body, reason):
    done = settle(pipeline, key, body)
    assert done.reason == reason


def test_bad_bytes_inside_a_line_reject_only_that_line(pipeline):
    filler = lines(*[json.dumps(sensor(i)).encode() for i in range(40)])  # past the 4 KiB start check
    bad = [b'{"id":"\xff\xfe","dataType":"sensor"}', b"\x00\x00\x00", b'{"id":"a\x00b"}',
           b'{"id":"x","dataType":"event","timestamp":"2024-05-01T12:00:00Z","name":"\\ud800"}']
    done = settle(pipeline, "mixed.jsonl", filler + lines(*bad, json.dumps(event(1, nul="a\u0000b")).encode()))
    assert len(done.processed) == 41 and len(done.rejected) == 4
    messages = done.errors()
    assert messages[0].startswith("not valid JSON") and "utf-8" in messages[0]
    assert messages[1].startswith("not valid JSON") and messages[2].startswith("not valid JSON")
    assert messages[3] == "holds text that is not valid Unicode (an unpaired surrogate escape such as \\ud800)"
    (kept,) = [r for r in done.processed if r["id"] == "e-1"]
    assert kept["properties"] == {"nul": "a\x00b"}  # an escaped NUL is text like any other
    csv = b"id,dataType,timestamp,name\n" + b"".join(b"p-%d,event,2024-05-01T12:00:00Z,pad\n" % i for i in range(200))
    done = settle(pipeline, "mixed.csv", csv + b"e-1,event,2024-05-01T12:00:00Z,\xff\n"
                                                b"e-2,event,2024-05-01T12:00:00Z,a\x00b\n")
    assert len(done.processed) == 201 and done.errors() == ["line 202 is not UTF-8 text: 'utf-8' codec can't "
                                                            "decode byte 0xff in position 31: invalid start byte"]
    assert {r["name"] for r in done.processed if r["id"] == "e-2"} == {"a\x00b"}


# -- CSV --------------------------------------------------------------------------------------------------
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "@SUM(1)", "-2+3", "=HYPERLINK(\"http://x\",\"y\")", "\t=1+1", "=1,2"]


def test_formula_like_cells_are_stored_as_the_text_they_are(pipeline):
    header = "id,dataType,timestamp,name,properties\n"
    rows = [f'e-{i},event,2024-05-01T12:00:00Z,"{cell.replace(chr(34), chr(34) * 2)}",'
            for i, cell in enumerate(FORMULAS)]
    body = (header + "\n".join(rows) + '\n"=1+1",event,2024-05-01T12:00:00Z,"@SUM(1)"\n').encode()
    done = settle(pipeline, "formulas.csv", body)
    assert done.rejected == []
    names = {r["id"]: r["name"] for r in done.processed}
    assert names == {**{f"e-{i}": cell for i, cell in enumerate(FORMULAS)}, "=1+1": "@SUM(1)"}
    sensors = (b"id,dataType,timestamp,deviceId,metric,value,unit\n"
               b"s-1,sensor,2024-05-01T12:00:00Z,+1+1,@SUM(1),-2+3,=cmd|' /C calc'!A0\n"
               b"s-2,sensor,2024-05-01T12:00:00Z,-2+3,=1+1,21.5,@SUM(1)\n")
    done = settle(pipeline, "sensors.csv", sensors)
    (stored,) = done.processed
    assert (stored["deviceId"], stored["metric"], stored["unit"]) == ("-2+3", "=1+1", "@SUM(1)")
    (rejected,) = done.rejected  # "-2+3" is no number; kept as the text it was
    assert json.loads(rejected["raw"])["value"] == "-2+3" and rejected["errors"][0]["field"] == "value"


def test_csv_quoting_tricks_give_one_record_per_csv_row(pipeline):
    body = (
        b"id,dataType,timestamp,name\n"
        b'e-1,event,2024-05-01T12:00:01Z,"a,b"\n'                       # comma inside quotes
        b'e-2,event,2024-05-01T12:00:02Z,"line one\nline two"\n'         # newline inside quotes
        b'e-3,event,2024-05-01T12:00:03Z,"she said ""hi"""\n'            # doubled quotes
        b'e-4,event,2024-05-01T12:00:04Z,ab"c\n'                         # a quote mid-field is text
        b'e-5,event,2024-05-01T12:00:05Z,"abc"def\n'                     # text after a closing quote
        b'e-6,event,2024-05-01T12:00:06Z,a\rb\n'                         # a bare carriage return
        b'e-7,event,2024-05-01T12:00:07Z,x,y,z\n'                        # more cells than the header
        b'e-8,event,2024-05-01T12:00:08Z\n'                              # fewer: name is missing
        b'e-9,event,2024-05-01T12:00:09Z,"never closed\n'
        b'e-10,event,2024-05-01T12:00:10Z,swallowed by the open quote\n'
    )
    done = settle(pipeline, "quotes.csv", body)
    names = {r["id"]: r["name"] for r in done.processed}
    assert names == {"e-1": "a,b", "e-2": "line one\nline two", "e-3": 'she said "hi"', "e-4": 'ab"c'}
    by_line = {r["sourceLine"]: r["errors"] for r in done.rejected}  # e-2 spans lines 3 and 4
    assert by_line == {
        7: [{"field": "(record)", "message": "malformed CSV row: ',' expected after '\"'"}],
        8: [{"field": "(record)", "message": "malformed CSV row: new-line character seen in unquoted field - do "
                                             "you need to open the file in universal-newline mode?"}],
        9: [{"field": "(record)", "message": "row has 6 fields but the header has 4"}],
        10: [{"field": "name", "message": "is required"}],
        # an open quote makes the rest of the file one field: e-9 and e-10 are one (malformed) CSV row
        11: [{"field": "(record)", "message": "malformed CSV row: unexpected end of data"}],
    }


def test_a_csv_field_past_the_field_limit_is_a_rejected_row(pipeline):
    body = ("id,dataType,timestamp,name\n"
            f'e-1,event,2024-05-01T12:00:01Z,"{"q" * 1_100_000}"\n'
            "e-2,event,2024-05-01T12:00:02Z,after\n").encode()
    done = settle(pipeline, "field.csv", body)
    assert [r["id"] for r in done.processed] == ["e-2"]
    assert len(done.rejected) == 1 and "over the limit" in done.errors()[0]


# -- keys -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [
    "../../etc/passwd.jsonl", "a/./b/../../c.jsonl", "..\\..\\windows.jsonl", "/leading/slash.jsonl",
    "k" * 1018 + ".jsonl",  # S3's longest key: 1,024 bytes
    "données/é 🙂 + x%20 &?#.jsonl", "e\u0301/NFD-and-\u200b-zero-width-\u202e-rtl.jsonl",
    "日本語/" + "語" * 330 + ".jsonl",  # 1,000+ bytes of three-byte characters
])
def test_odd_keys_are_processed_and_stored_exactly(pipeline, key):
    assert len(key.encode()) <= 1024
    done = settle(pipeline, key, jsonl([sensor(1), sensor(2)]))
    assert len(done.processed) == 2 and {r["sourceKey"] for r in done.processed} == {key}


def test_notifications_naming_impossible_keys_fail_with_a_reason(pipeline):
    p = pipeline
    for record in (p.s3_record("x" * 1100 + ".jsonl", None, "abc", 10), p.s3_record("gone.jsonl", "v1", "abc", 10)):
        assert p.run(p.event(record)) == {"batchItemFailures": []}
        assert [d["reason"] for d in p.dead_letters()] == ["OBJECT_NOT_FOUND"]
    bad = p.event(p.s3_record("x.jsonl", None, "abc", 10))
    bad["Records"][0]["body"] = bad["Records"][0]["body"].replace("x.jsonl", "%FF%FE.jsonl")
    assert p.run(bad) == {"batchItemFailures": []}
    assert [d["reason"] for d in p.dead_letters()] == ["INVALID_NOTIFICATION"]
    for key in ("noext", "evil.jsonl.exe", "../x.JSONL.zip"):
        assert settle(p, key, b"{}").reason == "UNSUPPORTED_FORMAT"


# -- numbers ----------------------------------------------------------------------------------------------
BIG39 = "123456789012345678901234567890123456789"
NUMBERS = [("1e200", "outside DynamoDB's number range"), ("-1e200", "outside DynamoDB's number range"),
           ("1e-200", "outside DynamoDB's number range"), (BIG39, "more than DynamoDB's 38 significant digits"),
           ("-" + BIG39 + "000", "more than DynamoDB's 38 significant digits"),
           ("1e126", "outside DynamoDB's number range")]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_numbers_dynamodb_cannot_store_are_rejected_in_every_format(pipeline, fmt):
    values = [text for text, _ in NUMBERS] + ["1.23456789012345678901234567890123456789"] * (fmt != "jsonl")
    if fmt == "csv":
        body = "id,dataType,timestamp,deviceId,metric,value\n" + "".join(
            f"s-{i},sensor,2024-05-01T12:00:00Z,d,m,{v}\n" for i, v in enumerate(values)) + \
            "ok,sensor,2024-05-01T12:00:00Z,d,m,9.9999E+125\n"
    else:
        texts = [f'{{"id":"s-{i}","dataType":"sensor","timestamp":"2024-05-01T12:00:00Z","deviceId":"d",'
                 f'"metric":"m","value":{v}}}' for i, v in enumerate(values)]
        texts.append('{"id":"ok","dataType":"sensor","timestamp":"2024-05-01T12:00:00Z","deviceId":"d",'
                     '"metric":"m","value":9.9999E+125}')
        body = "\n".join(texts) if fmt == "jsonl" else "[" + ",".join(texts) + "]"
    done = settle(pipeline, f"numbers.{fmt}", body.encode())
    assert [r["id"] for r in done.processed] == ["ok"]
    expected = [m for _, m in NUMBERS] + ["more than DynamoDB's 38 significant digits"] * (fmt != "jsonl")
    got = done.errors()
    assert len(got) == len(expected) and all(m in g for m, g in zip(expected, got, strict=True)), got
    assert all(r["errors"][0]["field"] == "value" for r in done.rejected)


def test_a_jsonl_fraction_of_39_significant_digits_is_rejected(pipeline):
    """orjson reads JSONL numbers as doubles; a float whose repr is long may be a rounded longer decimal, so
    the line is re-read exactly (as .json and CSV are read) and DynamoDB's 38-digit limit applies."""
    line = ('{"id":"s-1","dataType":"sensor","timestamp":"2024-05-01T12:00:00Z","deviceId":"d","metric":"m",'
            '"value":1.23456789012345678901234567890123456789}')
    done = settle(pipeline, "fraction.jsonl", line.encode())
    assert done.processed == [] and done.errors() == ["has more than DynamoDB's 38 significant digits"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "nan", "inf"])
def test_nan_and_infinity_are_never_stored(pipeline, token):
    line = ('{"id":"s-1","dataType":"sensor","timestamp":"2024-05-01T12:00:00Z","deviceId":"d","metric":"m",'
            f'"value":{token}}}')
    done = settle(pipeline, "nan.jsonl", lines(line.encode(), GOOD2))
    assert len(done.processed) == 1 and len(done.rejected) == 1
    assert done.errors()[0].startswith("not valid JSON")
    csv = f"id,dataType,timestamp,deviceId,metric,value\ns-1,sensor,2024-05-01T12:00:00Z,d,m,{token}\n"
    done = settle(pipeline, "nan.csv", csv.encode())
    assert done.processed == [] and done.errors() == [f"'{token}' is not of type 'number'"]
    # a .json document is parsed as a stream: a token that is not JSON stops it
    assert settle(pipeline, "nan.json", f"[{GOOD.decode()},{line}]".encode()).reason == "NOT_JSON"


def test_the_threat_model_names_handler_tests_that_exist():
    """docs/security.md cites these tests as proof; a renamed test must not leave the table pointing nowhere."""
    doc = (ROOT / "docs" / "security.md").read_text()
    cited = 0
    for segment in doc.split("`tests/handlers/")[1:]:
        module, rest = segment.split(".py", 1)
        source = (ROOT / "tests" / "handlers" / f"{module}.py").read_text()
        for name in re.findall(r"::(test_\w+)", rest.split("tests/handlers/")[0].split("\n")[0]):
            assert f"def {name}(" in source, f"docs/security.md cites {module}.py::{name}, which does not exist"
            cited += 1
    assert cited >= 5
