"""``deploy.py smoke`` end to end on the emulator: the local pipeline (``tap_templates.local``) deploys dev with
the deploy code and plays Lambda's SQS poller between the smoke check's polls (moto runs no function), so the
real handler processes the canary file. A broken function, a firing key alarm and no active region must each
fail the check at their step; every run removes what it wrote.

What the emulator cannot show: alarms whose metrics move (nothing publishes Lambda or SQS metrics here, so a
test sets an alarm's state), S3 replication of the canary to the secondary (the pipeline's ``replicate`` shim
is not run by the check), and time (the poller makes a failing message's retries happen at once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tap_templates import naming
from tap_templates.config import load_config
from tap_templates.deploy import smoke
from tap_templates.deploy.aws import Aws
from tap_templates.local.pipeline import LocalPipeline, start

CFG = load_config("dev")
PRIMARY, SECONDARY = CFG.primary_region, CFG.secondary_regions[0]
FUNCTION = naming.function(CFG)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[LocalPipeline]:
    with start(CFG) as deployed:
        yield deployed


@pytest.fixture
def aws(pipeline: LocalPipeline) -> Aws:
    return Aws(session=pipeline.session, account=pipeline.account, partition="aws")


def run_check(pipeline: LocalPipeline, aws: Aws, timeout: float = 60) -> tuple[smoke.SmokeResult, list]:
    """The check, with the poller draining the active region each time the check reports progress."""
    seen: list[smoke.Progress] = []

    def on_progress(progress: smoke.Progress) -> None:
        seen.append(progress)
        pipeline.drain(PRIMARY)

    return smoke.check(CFG, aws, timeout_seconds=timeout, on_progress=on_progress, poll_seconds=0.05), seen


def leftovers(pipeline: LocalPipeline, key: str) -> dict[str, list]:
    """What the canary left: object versions in any bucket, items from its records, dead letters naming it."""
    versions = []
    for region in CFG.regions:
        found = pipeline.client("s3", region).list_object_versions(Bucket=pipeline.bucket(region), Prefix=key)
        versions += found.get("Versions", []) + found.get("DeleteMarkers", [])
    items = [i for i in pipeline.items(PRIMARY) if i.get("sourceKey", {}).get("S") == key
             or i.get("objectKey", {}).get("S") == key]
    letters = [m for m in pipeline.dead_letters(PRIMARY) if key in str(m)]
    return {"versions": versions, "items": items, "letters": letters}


def test_the_smoke_check_passes_and_removes_what_it_wrote(pipeline, aws):
    result, seen = run_check(pipeline, aws)
    assert result.ok, "\n".join(result.describe())
    assert result.region == PRIMARY
    assert [s.name for s in result.steps] == ["active region", "upload", "ledger", "records", "dead letters",
                                              "alarms", "clean up"]
    assert result.steps[2].detail.startswith(f"COMPLETED: {smoke.VALID} processed, {smoke.INVALID} rejected")
    assert [p.step for p in seen if p.done] == [s.name for s in result.steps], "each step reports as it ends"
    left = leftovers(pipeline, result.key)
    assert left["versions"] == [] and left["letters"] == []
    # only the ledger item stays, set to expire, so a late replica of the canary is a no-op after a promotion
    assert [i["status"]["S"] for i in left["items"]] == ["COMPLETED"]
    assert all(i["timestamp"]["S"] == "LEDGER" for i in left["items"])


def test_a_broken_function_fails_the_check_at_the_ledger(pipeline, aws):
    """A deploy that published a version which cannot write (its table does not exist): the canary file is
    retried until SQS dead-letters it, and the check says so instead of waiting out its timeout."""
    lam = pipeline.client("lambda", PRIMARY)
    good = lam.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"]
    variables = lam.get_function_configuration(FunctionName=FUNCTION, Qualifier="live")["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName=FUNCTION,
                                      Environment={"Variables": {**variables, "TABLE_NAME": "no-such-table"}})
    broken = lam.publish_version(FunctionName=FUNCTION)["Version"]
    lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=broken)
    try:
        result, _ = run_check(pipeline, aws, timeout=30)
    finally:
        lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=good)
        lam.update_function_configuration(FunctionName=FUNCTION, Environment={"Variables": variables})
    assert not result.ok
    assert result.failed_step == "ledger", "\n".join(result.describe())
    assert "dead-lettered" in result.reason
    assert result.steps[-1].name == "clean up" and result.steps[-1].ok
    left = leftovers(pipeline, result.key)
    assert left["versions"] == [] and left["letters"] == [] and left["items"] == []


def test_a_key_alarm_in_alarm_fails_the_check(pipeline, aws):
    cloudwatch = pipeline.client("cloudwatch", PRIMARY)
    name = naming.alarm(CFG, "processor-errors")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test: errors in the last period")
    try:
        result, _ = run_check(pipeline, aws)
    finally:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test over")
    assert result.failed_step == "alarms"
    assert result.reason == f"in ALARM: {name} (test: errors in the last period)"
    assert leftovers(pipeline, result.key)["versions"] == []


def test_the_command_names_the_failed_step_in_one_line_and_exits_1(pipeline, capsys):
    """No region processes (both event sources off, as in the middle of a failover): nothing is uploaded."""
    from tap_templates.commands import deploy as deploy_command

    lam = pipeline.client("lambda", PRIMARY)
    uuid = pipeline.mapping(PRIMARY)["UUID"]
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    try:
        code = deploy_command.run(["smoke", "--env", "dev", "--timeout", "5"])
    finally:
        lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == ("deploy.py: smoke check failed at active region: no region's event source is "
                            "enabled\n")
    assert "FAIL  active region" in captured.out and "(nothing uploaded)" in captured.out


def test_bad_timeout_is_one_line_and_exit_2(capsys):
    from tap_templates.commands import deploy as deploy_command

    with pytest.raises(SystemExit) as exited:
        deploy_command.run(["smoke", "--env", "dev", "--timeout", "soon"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --timeout: invalid float value: 'soon'" in err
