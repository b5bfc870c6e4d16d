"""``query.py`` and ``reindex.py`` as a user runs them: bad input is one line and exit 2 before any AWS call
(fresh processes); JSON Lines out, the next page's cursor on stderr, and the reindex summary (in-process, on
moto, with the same ``run`` the scripts call)."""

from __future__ import annotations

import json
import random

import pytest

from tap_templates.commands import query, reindex
from tests.deploy.helpers import one_line
from tests.operations.helpers import run_script
from tests.operations.records import mixed_file, world

NOWHERE = ("--endpoint-url", "http://127.0.0.1:9")


@pytest.mark.parametrize(("script", "args", "expected"), [
    ("query.py", ["rejected", "--env", "dev"], "--since is required"),
    ("query.py", ["data-type", "sensor", "--env", "dev"], "--since is required"),
    ("query.py", ["data-type", "sensor", "--env", "dev", "--since", "2h", "--until", "3h"], "must not be after"),
    ("query.py", ["data-type", "sensor", "--env", "dev", "--since", "yesterday"], "--since 'yesterday' is not a time"),
    ("query.py", ["file", "--env", "dev"], "name the file: --file LEDGER_ID, or --key KEY"),
    ("query.py", ["file", "--env", "dev", "--file", "abc"], "is not a ledger ID"),
    ("query.py", ["file", "--env", "dev", "--version-id", "v"], "--version-id goes with --key"),
    ("query.py", ["rejected", "--env", "dev", "--since", "1h", "--limit", "0"], "'0' is not a positive whole number"),
    ("query.py", ["record", "sensor", "x", "--env", "dev", "--region", "eu-west-1"], "is not part of environment dev"),
    ("query.py", ["bogus", "--env", "dev"], "invalid choice: 'bogus'"),
    ("reindex.py", ["--env", "dev", "--rate", "0"], "'0' is not a positive whole number"),
    ("reindex.py", ["--env", "dev", "--state", "/no/such/folder/state.json"], "does not exist"),
], ids=lambda value: value if isinstance(value, str) and value.endswith(".py") else None)
def test_bad_input_is_one_line_and_exit_2(script, args, expected):
    result = run_script(script, *args, *NOWHERE)
    assert result.code == 2, result
    assert expected in one_line(result)
    assert result.out == ""


def test_queries_print_json_lines_and_the_next_page(monkeypatch, capsys):
    with world(monkeypatch, data_type_shards=128, rejected_shards=16) as w:  # the shipped dev counts
        lid = w.process("in/a.jsonl", mixed_file(0, 80, random.Random(1)))
        capsys.readouterr()
        args = ["--env", "dev", "--since", "2024-05-01T00:00Z", "--until", "2024-05-02T00:00Z"]
        assert query.run(["data-type", "sensor", *args, "--limit", "5"]) == 0
        out, err = capsys.readouterr()
        first = [json.loads(line) for line in out.splitlines()]
        assert len(first) == 5 and all(r["dataType"] == "sensor" for r in first)
        cursor = err.split("next page: --cursor ")[1].split()[0]
        assert query.run(["data-type", "sensor", *args, "--cursor", cursor]) == 0
        rest = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        sensors = [i for i in w.records("PROCESSED") if i["dataType"]["S"] == "sensor"]
        assert sorted(r["recordId"] for r in first + rest) == sorted(i["recordId"]["S"] for i in sensors)
        assert query.run(["rejected", "--env", "dev", "--file", lid]) == 0
        rejected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert rejected and {r["processingStatus"] for r in rejected} == {"REJECTED"}
        assert query.run(["file", "--env", "dev", "--key", "in/a.jsonl"]) == 0
        out, err = capsys.readouterr()
        ledger, *records = [json.loads(line) for line in out.splitlines()]
        assert ledger["recordId"] == lid and len(records) == 80 and "80 found" in err
        assert query.run(["record", "sensor", sensors[0]["id"]["S"], "--env", "dev"]) == 0
        assert json.loads(capsys.readouterr().out)["recordId"] == sensors[0]["recordId"]["S"]
        assert query.run(["record", "sensor", "nobody", "--env", "dev"]) == 1
        assert "no record sensor#nobody" in capsys.readouterr().err


def test_reindex_prints_what_it_did_and_what_a_dry_run_would_do(monkeypatch, capsys):
    with world(monkeypatch, data_type_shards=128, rejected_shards=16, index_data_types=False) as w:
        w.process("in/a.jsonl", mixed_file(0, 40, random.Random(2)))
        capsys.readouterr()
        # dev as shipped indexes data types: the valid records written without a shard are what it indexes
        assert reindex.run(["--env", "dev", "--dry-run"]) == 0
        out = capsys.readouterr().out
        processed = len(w.records("PROCESSED"))
        assert f"would index {processed} record item(s)" in out and "dry run: nothing was written" in out
        assert reindex.run(["--env", "dev", "--segments", "2"]) == 0
        assert f"indexed {processed} record item(s)" in capsys.readouterr().out
        assert all("timeShard" in i for i in w.records())
