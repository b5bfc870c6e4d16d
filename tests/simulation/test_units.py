"""The simulation's own logic, without AWS: counting records independently of the handler, accounting for
each file, collecting inputs, and the ledger-ID contract it shares with the handler."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import ledger
from tap_templates.errors import ConfigError
from tap_templates.local import simulation


@pytest.mark.parametrize(("name", "body", "expected"), [
    ("a.jsonl", b'{"a": 1}\n\n  \n{"a": 2}', 2),
    ("a.ndjson.gz", gzip.compress(b"1\n2\n3\n", mtime=0), 3),
    ("a.csv", b"id,x\n1,2\n\n3,4\n", 2),
    ("a.csv", b'id,x\n1,"two\nlines"\n', 1),
    ("a.json", b"[1, 2, 3]", 3),
    ("a.json", b'{"id": 1}', 1),
    ("a.json", b"  ", 0),
    ("a.json", b"{nope", None),
    ("a.json.gz", b"not gzip", None),
    ("a.xml", b"<a/>", None),
    ("a.jsonl", b"\xff\xfe\x00", None),
])
def test_count_records_reads_each_format_on_its_own(name, body, expected):
    assert simulation.count_records(name, body) == expected


@given(key=st.text(min_size=1, max_size=40), version=st.one_of(st.none(), st.just("null"), st.text(max_size=40)),
       etag=st.one_of(st.none(), st.text(max_size=34)))
def test_the_ledger_id_is_the_handlers(key, version, etag):
    assert simulation.ledger_id(key, version, etag) == ledger.ledger_id(key, version, etag)


def report(status: str, processed: int = 0, rejected: int = 0, dlq: int = 0) -> simulation.FileReport:
    return simulation.FileReport("r", "b", "k", "v", "e", status=status, processed=processed, rejected=rejected,
                                 dlq_messages=dlq)


@pytest.mark.parametrize(("expected", "file", "unaccounted"), [
    (5, report("COMPLETED", 3, 2), None),
    (5, report("COMPLETED", 3, 1), 1),
    (5, report("COMPLETED", 4, 2), -1),
    (None, report("FAILED", dlq=1), None),
    (7, report("FAILED", processed=2, dlq=1), None),
    (7, report("FAILED", processed=2), 7),
    (None, report("DEAD_LETTERED", dlq=1), None),
    (5, report("IN_PROGRESS", 2), 3),
    (None, report("COMPLETED", 1), -1),
    (4, None, 4),
])
def test_every_record_must_be_stored_or_its_whole_file_dead_lettered(expected, file, unaccounted):
    item = simulation.InputFile("k.jsonl", Path("k.jsonl"), b"", expected)
    assert simulation.account(item, file).unaccounted == unaccounted


def test_inputs_come_from_files_and_directories_with_keys_relative_to_them(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "a b.jsonl").write_bytes(b'{"x": 1}\n')
    (tmp_path / "in" / "README.md").write_text("not an input")
    (tmp_path / "one.json").write_text(json.dumps([1, 2]))
    inputs = simulation.collect_inputs([tmp_path / "in", tmp_path / "one.json"])
    assert [(i.key, i.expected, i.notified) for i in inputs] == [("one.json", 2, True), ("sub/a b.jsonl", 1, True)]


def test_bad_inputs_are_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        simulation.collect_inputs([tmp_path / "missing"])
    with pytest.raises(ConfigError, match="no files found"):
        simulation.collect_inputs([tmp_path])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.csv").write_text("id\n")
    (tmp_path / "x.csv").write_text("id\n")
    with pytest.raises(ConfigError, match=r"would both be uploaded as 'x\.csv'"):
        simulation.collect_inputs([tmp_path / "a", tmp_path / "x.csv"])
