"""scripts/simulate.py as a user runs it: a fresh process, the table it prints, its exit codes; and the same
flow against the emulator server (``python -m tap_templates.local.server``) instead of the in-process one."""

from __future__ import annotations

import subprocess
import sys

from tap_templates.local.pipeline import start
from tests.deploy.conftest import credentials, emulator_server, server  # noqa: F401 (fixtures)
from tests.deploy.helpers import ROOT, Result, one_line, subprocess_env
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
                      "--log", str(log))
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
