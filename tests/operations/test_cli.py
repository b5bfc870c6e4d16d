"""The three scripts run as a user runs them (a fresh process, no terminal): bad input is one line on stderr
and exit 2, before any AWS call; and a failover round trip over HTTP against the emulator server."""

from __future__ import annotations

import re

import pytest

from tap_templates.local import pipeline as local_pipeline
from tests.deploy.helpers import one_line
from tests.operations.conftest import CFG
from tests.operations.helpers import jsonl, run_script, run_script_typing

PRIMARY, SECONDARY = CFG.primary_region, CFG.secondary_regions[0]
# Nothing listens there: input that got past validation would fail differently ("cannot reach AWS").
NOWHERE = ("--endpoint-url", "http://127.0.0.1:9")


@pytest.mark.parametrize(("script", "args", "expected"), [
    ("failover.py", ["promote", "eu-west-1", "--env", "dev", "--yes"],
     "region 'eu-west-1' is not part of environment dev: its regions are us-east-1 (primary), us-west-2 (secondary)"),
    ("failover.py", ["status"], "the following arguments are required: --env"),
    ("failover.py", ["status", "--env", "staging"], "no config file"),
    ("failover.py", ["bogus"], "invalid choice: 'bogus' (choose from 'status', 'promote', 'failback')"),
    ("failover.py", ["promote", "us-west-2", "--env", "dev"],
     "promote us-west-2: no terminal to ask for confirmation on; pass --yes"),
    ("failover.py", ["failback", "--env", "dev", "--since", "yesterday", "--yes"], "--since 'yesterday' is not a time"),
    ("reconcile.py", ["--env", "dev"], "the following arguments are required: --since"),
    ("reconcile.py", ["--since", "1h"], "the following arguments are required: --env"),
    ("reconcile.py", ["--env", "dev", "--since", "2h", "--until", "3h"], "must be before --until"),
    ("reconcile.py", ["--env", "dev", "--since", "1h", "--sample", "x"], "'x' is not a whole number"),
    ("redrive.py", ["--env", "dev", "--region", "eu-west-1"], "region 'eu-west-1' is not part of environment dev"),
    ("redrive.py", ["--env", "dev", "--reason", "BOGUS"], "'BOGUS' is not a reason code; known: ACCESS_DENIED"),
    ("redrive.py", ["--env", "dev", "--max", "0"], "'0' is not a positive whole number"),
    ("redrive.py", ["--region", "us-west-2"], "the following arguments are required: --env"),
    ("redrive.py", ["--env", "dev", "--endpoint-url", "localhost:5000"], "is not an http(s) URL"),
], ids=lambda value: value if isinstance(value, str) and value.endswith(".py") else None)
def test_bad_input_is_one_line_and_exit_2(script, args, expected):
    result = run_script(script, *args, *NOWHERE) if "--endpoint-url" not in args else run_script(script, *args)
    assert result.code == 2, result
    assert expected in one_line(result)
    assert result.out == ""


def test_an_unreachable_aws_is_one_line():
    result = run_script("failover.py", "status", "--env", "dev", *NOWHERE)
    assert result.code == 2
    assert one_line(result).startswith("failover.py: error: cannot reach AWS to check the credentials (us-east-1: ")


def test_help_names_every_command_and_option():
    assert all(word in run_script("failover.py", "--help").out for word in ("status", "promote", "failback"))
    assert "--backfill" in run_script("reconcile.py", "--help").out
    assert "--reason" in run_script("redrive.py", "--help").out


@pytest.mark.slow
def test_failover_round_trip_over_http(server):
    endpoint = ("--env", "dev", "--endpoint-url", server)
    with local_pipeline.start(CFG, endpoint_url=server) as pipeline:
        pipeline.drain(PRIMARY)  # S3's test event

        def states() -> dict[str, str]:
            return {region: pipeline.mapping(region)["State"] for region in CFG.regions}

        status = run_script("failover.py", "status", *endpoint)
        assert status.code == 0, status.err
        assert status.out.splitlines()[0].split() == ["region", "config", "role", "event", "source", "queue",
                                                      "oldest", "DLQ", "health", "S3", "replication", "table",
                                                      "replication"]
        assert status.out.rstrip().endswith(f"active region: {PRIMARY}")

        again = run_script("failover.py", "promote", PRIMARY, "--yes", *endpoint)
        assert again.code == 2
        assert one_line(again) == f"failover.py: error: {PRIMARY} is already the active region of dev: nothing to do"

        dry = run_script("failover.py", "promote", SECONDARY, "--dry-run", *endpoint)
        assert dry.code == 0 and "dry run: nothing was changed" in dry.out
        assert f"1. fence {PRIMARY}: turn off the event source" in dry.out
        assert states() == {PRIMARY: "Enabled", SECONDARY: "Disabled"}

        declined = run_script_typing("failover.py", "promote", SECONDARY, *endpoint, typed="yes\n")
        assert declined.code == 1 and f"type the region name ({SECONDARY}) to go ahead: " in declined.out
        assert declined.out.rstrip().endswith("cancelled: nothing was changed")
        assert states() == {PRIMARY: "Enabled", SECONDARY: "Disabled"}

        promoted = run_script("failover.py", "promote", SECONDARY, "--yes", *endpoint)
        assert promoted.code == 0, promoted.err
        assert promoted.out.rstrip().endswith(f"{SECONDARY} is the active region of dev")
        assert states() == {PRIMARY: "Disabled", SECONDARY: "Enabled"}
        after = run_script("failover.py", "status", *endpoint)
        assert (f"  {SECONDARY} health: the template declares RegionHealthCheckId but the stack has no such output: "
                f"the emulator's gap (moto drops it after a parameter update, e.g. a promote); AWS keeps it") \
            in after.out, "a status that contradicts the template says whose gap it is"

        pipeline.upload(SECONDARY, "during/outage.jsonl", jsonl("o", 3))
        missing = run_script("reconcile.py", "--since", "1h", *endpoint)
        assert missing.code == 1
        assert "  MISSING: during/outage.jsonl version " in missing.out
        assert missing.out.rstrip().endswith("reconcile: 1 discrepancy(ies)")
        refused = run_script("failover.py", "failback", "--since", "1h", "--yes", *endpoint)
        assert refused.code == 1
        assert one_line(refused).startswith("failover.py: error: failback refused: reconcile found 1 discrepancy")
        dry = run_script("reconcile.py", "--since", "1h", "--backfill", "--dry-run", *endpoint)
        assert "would backfill: during/outage.jsonl version " in dry.out and dry.code == 1
        backfill = run_script("reconcile.py", "--since", "1h", "--backfill", *endpoint)
        assert backfill.code == 0, backfill.err
        assert re.search(rf"^backfilled: during/outage.jsonl version \S+ -> {SECONDARY} ingest queue \(was MISSING\)$",
                         backfill.out, re.M), backfill.out
        assert f"backfill: 1 file(s) sent to the ingest queue of {SECONDARY}; run reconcile again" in backfill.out

        assert pipeline.drain(SECONDARY).file("during/outage.jsonl").status == "COMPLETED"
        pipeline.replicate()  # the global table's replication, which moto does not do
        clean = run_script("reconcile.py", "--since", "1h", *endpoint)
        assert clean.code == 0 and clean.out.rstrip().endswith("reconcile: no discrepancy")

        redriven = run_script("redrive.py", "--dry-run", *endpoint)
        assert redriven.code == 0, redriven.err
        assert f"{SECONDARY} before: DLQ 0" in redriven.out

        back = run_script("failover.py", "failback", "--since", "1h", "--yes", *endpoint)
        assert back.code == 0, back.err
        assert back.out.rstrip().endswith(f"{PRIMARY} is the active region of dev")
        assert states() == {PRIMARY: "Enabled", SECONDARY: "Disabled"}


@pytest.mark.parametrize(("script", "args", "expected"), [
    ("reconcile.py", ["--env", "dev", "--since", "1h"],
     "tap-dev is not deployed in account 123456789012 (no stack instance in us-east-1, us-west-2): deploy the "
     "environment first (python scripts/deploy.py --env dev)"),
    ("redrive.py", ["--env", "dev"], "tap-dev is not deployed in account 123456789012"),
    ("redrive.py", ["--env", "dev", "--region", "us-west-2"],
     "StackSet tap-dev-us-west-2 does not exist in us-west-2: deploy the environment first "
     "(python scripts/deploy.py --env dev)"),
    ("redrive.py", ["--env", "dev", "--region", "us-west-2", "--dry-run"],
     "StackSet tap-dev-us-west-2 does not exist in us-west-2"),
    ("failover.py", ["status", "--env", "dev"], "tap-dev is not deployed in account 123456789012"),
])
def test_an_environment_that_is_not_deployed_is_one_line(server, script, args, expected):
    """Instead of NoSuchBucket or NonExistentQueue, or a status table of nothing."""
    result = run_script(script, *args, "--endpoint-url", server)
    assert result.code == 2
    assert expected in one_line(result)
    assert result.out == ""


def test_run_as_tap_the_message_names_the_tap_command(server, tmp_path):
    from tests.commands.test_tap import run_tap

    result = run_tap("reconcile", "--env", "dev", "--since", "1h", "--endpoint-url", server, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("tap reconcile: error: tap-dev is not deployed")
    assert result.stderr.rstrip().endswith("deploy the environment first (tap deploy --env dev)")
