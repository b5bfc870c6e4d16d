"""failover status, promote and failback against a deployed pipeline in the emulator, each outcome read back
through the AWS APIs (event source mappings, StackSet instance overrides) and through what the local event
source mapping (``LocalPipeline.drain``) then does or refuses to do."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_templates import naming
from tap_templates.commands import deploy as deploy_command
from tap_templates.deploy import plan
from tap_templates.errors import ConfigError
from tap_templates.local import pipeline as local_pipeline
from tap_templates.operations import failover
from tap_templates.operations.environment import OperationError
from tests.deploy.helpers import ROOT
from tests.operations.conftest import CFG
from tests.operations.helpers import jsonl

PRIMARY, SECONDARY = CFG.primary_region, CFG.secondary_regions[0]


def quiet(*_: object) -> None:
    """Progress and lines are the script's business; the tests read the outcome."""


def promote(env, region: str) -> failover.Outcome:
    return failover.promote(env, region, quiet, quiet, poll_seconds=0.01)


def overrides(env, region: str) -> dict[str, str]:
    (instance,) = plan.read_instances(env.aws, naming.stack_set(CFG, region), region)
    return instance.overrides


def mapping_states(pipeline) -> dict[str, str]:
    return {region: pipeline.mapping(region)["State"] for region in CFG.regions}


def by_region(rows: list[failover.StatusRow]) -> dict[str, failover.StatusRow]:
    return {r.state.region: r for r in rows}


def test_status_of_a_fresh_deploy(env, pipeline):
    pipeline.drain(PRIMARY)  # S3's test event, sent when the notification was configured
    rows = by_region(failover.status(env))
    assert rows[PRIMARY].row()[:7] == [PRIMARY, "primary", "active", "Enabled", "0", "-", "0"]
    assert rows[SECONDARY].row()[:4] == [SECONDARY, "secondary", "passive", "Disabled"]
    assert rows[PRIMARY].s3_replication.text == "source" and rows[PRIMARY].table_replication.text == "source"
    # moto has no Route 53 or replication metrics: n/a, with the reason under the table
    assert rows[SECONDARY].health.text == "n/a" and "HealthCheckStatus" in rows[SECONDARY].health.reason
    assert rows[SECONDARY].s3_replication.text == "n/a"
    assert "ReplicationLatency datapoints" in rows[SECONDARY].s3_replication.reason
    assert failover.summary(list(rows.values())) == f"active region: {PRIMARY}"


def test_status_shows_queues_health_and_replication_from_their_metrics(env, pipeline):
    """CloudWatch metrics that AWS publishes (Route 53 health, replication latency, queue age) are put into
    the emulator here; the status must read and show them."""
    pipeline.upload(SECONDARY, "waiting/one.jsonl", jsonl("w", 2))  # the passive queue holds its event
    ids = {r: env.outputs(r)["RegionHealthCheckId"] for r in CFG.regions}
    a_minute_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)  # CloudWatch's newest datapoints lag

    def put(region: str, namespace: str, metric: str, dimensions: dict[str, str], value: float) -> None:
        pipeline.client("cloudwatch", region).put_metric_data(Namespace=namespace, MetricData=[{
            "MetricName": metric, "Value": value, "Timestamp": a_minute_ago,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}])

    put("us-east-1", "AWS/Route53", "HealthCheckStatus", {"HealthCheckId": ids[PRIMARY]}, 0)
    put("us-east-1", "AWS/Route53", "HealthCheckStatus", {"HealthCheckId": ids[SECONDARY]}, 1)
    put(PRIMARY, "AWS/S3", "ReplicationLatency", {"SourceBucket": env.bucket(PRIMARY),
                                                  "DestinationBucket": env.bucket(SECONDARY),
                                                  "RuleId": f"to-{SECONDARY}"}, 12)
    put(PRIMARY, "AWS/DynamoDB", "ReplicationLatency", {"TableName": env.table, "ReceivingRegion": SECONDARY}, 900)
    put(SECONDARY, "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": naming.ingest_queue(CFG)}, 600)

    rows = by_region(failover.status(env))
    assert rows[PRIMARY].health.text == "UNHEALTHY", rows[PRIMARY].health.reason
    secondary = rows[SECONDARY]
    assert (secondary.health.text, secondary.s3_replication.text, secondary.table_replication.text) == (
        "healthy", "12 s", "1 s")
    assert int(secondary.queue.text) >= 1 and secondary.oldest.text == "10 min"


def test_status_with_the_primary_unreachable_says_so_and_still_shows_the_rest(env, outage):
    outage.down.add(PRIMARY)
    rows = by_region(failover.status(env))
    assert rows[PRIMARY].row()[2:4] == ["unknown", "n/a"]
    assert any("unreachable" in note for note in rows[PRIMARY].notes())
    assert rows[SECONDARY].row()[2:4] == ["passive", "Disabled"]
    assert failover.summary(list(rows.values())).endswith(f"unreachable: {PRIMARY}")


def test_promote_fences_the_primary_enables_the_secondary_and_records_both(env, pipeline):
    steps = failover.plan(env, SECONDARY)
    assert [(s.region, s.action) for s in steps] == [
        (PRIMARY, "disable"), (SECONDARY, "enable"), (SECONDARY, "record"), (PRIMARY, "record")]
    outcome = promote(env, SECONDARY)
    assert outcome.warnings == []
    assert mapping_states(pipeline) == {PRIMARY: "Disabled", SECONDARY: "Enabled"}
    assert overrides(env, SECONDARY) == {"ProcessingEnabled": "true"}
    assert overrides(env, PRIMARY) == {"ProcessingEnabled": "false"}
    assert {r: s.role for r, s in outcome.states.items()} == {PRIMARY: "passive", SECONDARY: "active"}
    # the fenced primary's event source no longer delivers: an upload there waits in its queue
    pipeline.upload(PRIMARY, "after-fence.jsonl", jsonl("f", 3))
    assert pipeline.drain(PRIMARY).stopped == "disabled"


def test_promoting_the_active_region_is_refused_in_one_line(env):
    with pytest.raises(ConfigError, match=f"^{PRIMARY} is already the active region of dev: nothing to do$"):
        failover.plan(env, PRIMARY)
    promote(env, SECONDARY)
    with pytest.raises(ConfigError, match=f"^{SECONDARY} is already the active region"):
        failover.plan(env, SECONDARY)


def test_a_later_deploy_keeps_the_promoted_roles(env, pipeline, tmp_path):
    promote(env, SECONDARY)
    config = tmp_path / "dev.toml"
    config.write_text((ROOT / "config" / "dev.toml").read_text().replace("memory_mb = 1024", "memory_mb = 2048"))
    zip_path, _ = local_pipeline.handler_zip(tmp_path / "handler.zip")
    assert deploy_command.main(["--env", "dev", "--config", str(config), "--code-zip", str(zip_path), "--yes"]) == 0
    function = pipeline.client("lambda", SECONDARY).get_function_configuration(FunctionName=naming.function(CFG))
    assert function["MemorySize"] == 2048, "the deploy did update the stacks"
    assert mapping_states(pipeline) == {PRIMARY: "Disabled", SECONDARY: "Enabled"}
    assert overrides(env, SECONDARY) == {"ProcessingEnabled": "true"}


def test_promote_with_the_primary_unreachable_warns_and_a_rerun_finishes_the_fence(env, pipeline, outage):
    outage.down.add(PRIMARY)
    outcome = promote(env, SECONDARY)
    assert len(outcome.warnings) == 2 and all(w.startswith(f"{PRIMARY} unreachable") for w in outcome.warnings)
    assert "failover.py promote us-west-2 again" in outcome.warnings[0]
    assert pipeline.mapping(SECONDARY)["State"] == "Enabled"
    assert pipeline.mapping(PRIMARY)["State"] == "Enabled", "could not be fenced while unreachable"

    outage.down.clear()  # the region is back: the same command finishes what was left
    assert [(s.region, s.action) for s in failover.plan(env, SECONDARY)] == [(PRIMARY, "disable"), (PRIMARY, "record")]
    assert promote(env, SECONDARY).warnings == []
    assert mapping_states(pipeline) == {PRIMARY: "Disabled", SECONDARY: "Enabled"}
    assert overrides(env, PRIMARY) == {"ProcessingEnabled": "false"}


def test_promoting_an_unreachable_region_fails_and_changes_nothing(env, pipeline, outage):
    outage.down.add(SECONDARY)
    with pytest.raises(OperationError, match=f"^cannot promote {SECONDARY}: unreachable"):
        failover.plan(env, SECONDARY)
    assert mapping_states(pipeline) == {PRIMARY: "Enabled", SECONDARY: "Disabled"}


def test_failback_is_refused_while_a_file_is_missing_and_restores_the_roles_once_reconciled(env, pipeline):
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with pytest.raises(ConfigError, match="already the active region"):
        failover.failback(env, since, dt.datetime.now(dt.UTC))
    promote(env, SECONDARY)
    pipeline.upload(SECONDARY, "during-outage.jsonl", jsonl("o", 3))  # written to the active region, unprocessed
    with pytest.raises(failover.FailbackRefused) as refused:
        failover.failback(env, since, dt.datetime.now(dt.UTC))
    assert any(d.startswith("MISSING: during-outage.jsonl") for d in refused.value.report.discrepancies)
    forced, _ = failover.failback(env, since, dt.datetime.now(dt.UTC), force=True)
    assert forced, "--force plans the failback anyway"

    assert pipeline.drain(SECONDARY).file("during-outage.jsonl").status == "COMPLETED"
    pipeline.replicate()  # global-table replication, which moto does not do (LocalPipeline.replicate_table)
    steps, report = failover.failback(env, since, dt.datetime.now(dt.UTC))
    assert report.discrepancies == []
    outcome = failover.execute(env, PRIMARY, steps, quiet, quiet, poll_seconds=0.01)
    assert mapping_states(pipeline) == {PRIMARY: "Enabled", SECONDARY: "Disabled"}
    assert {r: s.role for r, s in outcome.states.items()} == {PRIMARY: "active", SECONDARY: "passive"}
    assert overrides(env, PRIMARY) == {"ProcessingEnabled": "true"}
