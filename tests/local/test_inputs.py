"""The local run's inputs, without AWS: counting records independently of the handler, and collecting the
files to upload."""

from __future__ import annotations

import gzip
import json

import pytest

from tap_templates.errors import ConfigError
from tap_templates.local import inputs as local_inputs


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
    assert local_inputs.count_records(name, body) == expected


def test_inputs_come_from_files_and_directories_with_keys_relative_to_them(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "a b.jsonl").write_bytes(b'{"x": 1}\n')
    (tmp_path / "in" / "README.md").write_text("not an input")
    (tmp_path / "one.json").write_text(json.dumps([1, 2]))
    inputs = local_inputs.collect_inputs([tmp_path / "in", tmp_path / "one.json"])
    assert [(i.key, i.expected, i.notified) for i in inputs] == [("one.json", 2, True), ("sub/a b.jsonl", 1, True)]


def test_bad_inputs_are_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        local_inputs.collect_inputs([tmp_path / "missing"])
    with pytest.raises(ConfigError, match="no files found"):
        local_inputs.collect_inputs([tmp_path])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.csv").write_text("id\n")
    (tmp_path / "x.csv").write_text("id\n")
    with pytest.raises(ConfigError, match=r"would both be uploaded as 'x\.csv'"):
        local_inputs.collect_inputs([tmp_path / "a", tmp_path / "x.csv"])
