"""scripts/simulate.py as a user runs it: a fresh process, the table it prints, its exit codes; and the same
flow against the emulator server (``python -m tap_templates.local.server``) instead of the in-process one."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tap_templates import naming
from tap_templates.local.pipeline import start
from tests.deploy.conftest import credentials, emulator_server, server  # noqa: F401 (fixtures)
from tests.deploy.helpers import ROOT, Result, one_line, resolved, server_session, subprocess_env
from tests.local.pipeline.conftest import CFG, PRIMARY, SECONDARY
from tests.local.pipeline.helpers import assert_completed, jsonl, sensor

SCRIPT = ROOT / "scripts" / "simulate.py"


def simulate(*args: str, timeout: float = 120) -> Result:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          env=subprocess_env(), timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


def row(out: str, first: str) -> list[str]:
    (line,) = [line for line in out.splitlines() if line.startswith(first + " ")]
    return line.split()


def test_the_script_prints_a_table_per_file_and_region_and_exits_0(tmp_path):
    log = tmp_path / "function.log"
    result = simulate("samples/sensors-with-bad-records.jsonl", "samples/not-json.json", "samples/events-lobby.json",
                      "--log", str(log), "--output", str(tmp_path / "run.jsonl"))
    assert result.code == 0, result.err
    assert result.err == ""
    assert row(result.out, "sensors-with-bad-records.jsonl") == ["sensors-with-bad-records.jsonl", "18", "12", "6",
                                                                 "COMPLETED"]
    assert row(result.out, "not-json.json")[1:6] == ["-", "0", "0", "FAILED", "NOT_JSON"]
    assert row(result.out, "events-lobby.json")[1:5] == ["25", "25", "0", "COMPLETED"]
    assert row(result.out, PRIMARY)[:7] == [PRIMARY, "primary", "Enabled", "0", "1", "37", "6"]
    assert row(result.out, SECONDARY)[:7] == [SECONDARY, "secondary", "Disabled", "4", "0", "37", "6"]
    assert "unaccounted records: 0" in result.out
    assert '"message":"file completed"' in log.read_text(), "the function's log lines go to --log, not stdout"

    # why: the rejected records by reason, then the first three of the file, with their lines
    assert "rejected records by reason (a record with several problems counts under each):" in result.out
    assert re.search(r"^ +1 +timestamp +'\.\.\.' is not an ISO 8601 date-time +sensors-with-bad-records.jsonl line 8$",
                     result.out, re.M), result.out
    assert re.search(r"^ +1 +value +is required +sensors-with-bad-records.jsonl line 7$", result.out, re.M)
    listed = [line for line in result.out.splitlines() if line.startswith("  sensors-with-bad-records.jsonl")]
    assert listed == ["  sensors-with-bad-records.jsonl line 7: value: is required",
                      "  sensors-with-bad-records.jsonl line 8: timestamp: 'yesterday' is not an ISO 8601 date-time",
                      "  sensors-with-bad-records.jsonl line 9: dataType: unknown data type 'weather' (known: event, "
                      "sensor)",
                      "  sensors-with-bad-records.jsonl: ... and 3 more"]

    # the same tables in a file, every rejected record with it
    assert result.out.rstrip().endswith(f"tables written to {tmp_path / 'run.jsonl'}")
    written = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    files = {r["file"]: r for r in written if r["type"] == "file"}
    bad = files["sensors-with-bad-records.jsonl"]
    assert (bad["records"], bad["processed"], bad["rejected"], bad["status"]) == (18, 12, 6, "COMPLETED")
    assert [r["where"] for r in bad["rejections"]] == [f"line {n}" for n in (7, 8, 9, 16, 17, 18)]
    assert bad["rejections"][0]["errors"] == [{"field": "value", "message": "is required"}]
    assert files["not-json.json"]["dlqReason"] == "NOT_JSON" and files["not-json.json"]["rejections"] == []
    assert [r["region"] for r in written if r["type"] == "region"] == [PRIMARY, SECONDARY]
    assert sum(r["records"] for r in written if r["type"] == "reason") == 6
    (total,) = [r for r in written if r["type"] == "total"]
    assert total["unaccounted"] == 0 and total["summary"].startswith("total: 3 file(s)")


def test_bad_input_is_one_line_and_exit_2():
    for args, expected in ((["--bogus"], "unrecognized arguments: --bogus"),
                           (["samples/nope.json"], "samples/nope.json does not exist"),
                           (["--env", "nope"], "no config file"),
                           (["--endpoint-url", "ftp://x"], "is not an http(s) URL")):
        result = simulate(*args)
        assert result.code == 2, (args, result.err)
        assert expected in one_line(result), args


def test_the_flow_against_the_emulator_server(server, prefix):  # noqa: F811
    """Over HTTP: the replication route of the server keeps version IDs as the in-process backend does."""
    with start(CFG, endpoint_url=server) as remote:
        key = prefix + "over http é.jsonl"
        version = remote.upload(PRIMARY, key, jsonl([sensor(f"{prefix}{i}", i) for i in range(12)] + [{"id": 0}]))
        report = remote.drain(PRIMARY)
        assert report.file(key).status == "COMPLETED" and report.messages_left == 0
        assert_completed(remote, PRIMARY, key, version, 12, 1)
        assert remote.replicate() == 1
        head = remote.client("s3", SECONDARY).head_object(Bucket=remote.bucket(SECONDARY), Key=key)
        assert head["VersionId"] == version


def test_over_a_long_running_server_re_uploads_are_marked_and_a_destroyed_environment_is_one_line(server):  # noqa: F811
    """The server keeps its state between runs: the same file uploaded again is a new version of identical bytes,
    marked as a duplicate of the first; after a destroy, the kept data is named with the command that frees it."""
    endpoint = ("--endpoint-url", server)
    first = simulate("samples/events-lobby.json", *endpoint)
    assert first.code == 0, first.err
    assert "duplicate of" not in first.out
    again = simulate("samples/events-lobby.json", *endpoint)
    assert again.code == 0, again.err
    s3 = server_session().client("s3", region_name=PRIMARY, endpoint_url=server)
    bucket = resolved(naming.ingest_bucket(CFG, PRIMARY))
    versions = s3.list_object_versions(Bucket=bucket, Prefix="events-lobby.json")["Versions"]
    original = min(versions, key=lambda v: v["LastModified"])["VersionId"]
    assert row(again.out, "events-lobby.json")[1:5] == ["25", "25", "0", "COMPLETED"]
    assert (f"duplicate of events-lobby.json version {original} (identical bytes): nothing stored again, counts are "
            f"the original's") in again.out
    assert "(1 of them re-uploads of identical bytes, stored once)" in again.out

    deploy = [sys.executable, str(ROOT / "scripts" / "deploy.py"), "--env", "dev", *endpoint, "--yes"]
    destroyed = subprocess.run([*deploy[:2], "destroy", *deploy[2:]], cwd=ROOT, capture_output=True, text=True,
                               env=subprocess_env(), timeout=120)
    assert destroyed.returncode == 0, destroyed.stderr
    refused = simulate("samples/events-lobby.json", *endpoint)
    assert refused.code == 2
    line = one_line(refused)
    assert line.startswith("simulate.py: error: the deploy of tap-dev needs names that resources kept by an earlier "
                           "destroy still hold: ")
    assert f"S3 bucket {bucket} (us-east-1)" in line
    assert f"`python scripts/deploy.py purge --env dev --endpoint-url {server}`" in line
