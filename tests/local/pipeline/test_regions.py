"""Both regions: the secondary's stack exists and is passive, replicas keep key and version ID, the
secondary's table replica holds what the primary wrote, and a promoted secondary skips what the primary
completed (the ledger is keyed by key and version ID, which replication keeps).

moto replicates neither S3 objects nor global tables: ``LocalPipeline.replicate`` is the shim that copies
them (see tap_templates/local/replication.py), so these tests check the pipeline's side of replication (names,
keys, version IDs, the ledger), not AWS's replication itself."""

from __future__ import annotations

import json
import urllib.parse

from tap_templates import naming
from tap_templates.deploy import stacksets
from tap_templates.deploy.aws import Aws
from tests.local.pipeline.conftest import CFG, PRIMARY, SECONDARY
from tests.local.pipeline.helpers import assert_completed, jsonl, ledger, records_of, sensor, table


def stack_parameters(pipeline, region: str) -> tuple[str, dict[str, str]]:
    cf = pipeline.client("cloudformation", region)
    instance = cf.describe_stack_instance(StackSetName=naming.stack_set(CFG, region), StackInstanceAccount=
                                          pipeline.account, StackInstanceRegion=region)["StackInstance"]
    stack = cf.describe_stacks(StackName=instance["StackId"])["Stacks"][0]
    return stack["StackStatus"], {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def queued_objects(pipeline, region: str) -> list[tuple[str, str]]:
    """(key, versionId) of the S3 events waiting in a region's ingest queue, left in place."""
    sqs, url = pipeline.client("sqs", region), pipeline.queue_url(region)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                   VisibilityTimeout=0).get("Messages", [])
    found = []
    for m in messages:
        for record in json.loads(m["Body"]).get("Records", []):
            obj = record["s3"]["object"]
            found.append((urllib.parse.unquote_plus(obj["key"]), obj.get("versionId")))
    return found


def test_the_secondary_stack_exists_and_is_passive(pipeline):
    for region, processing, state in ((PRIMARY, "true", "Enabled"), (SECONDARY, "false", "Disabled")):
        status, parameters = stack_parameters(pipeline, region)
        assert status in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
        assert parameters["ProcessingEnabled"] == processing
        assert pipeline.mapping(region)["State"] == state, "read through the Lambda API"
    report = pipeline.drain(SECONDARY)
    assert (report.stopped, report.invocations) == ("disabled", 0)


def test_primary_records_reach_the_secondary_through_replication_keeping_key_and_version(pipeline, prefix):
    key = prefix + "replicated readings é.jsonl"
    version = pipeline.upload(PRIMARY, key, jsonl([sensor(f"{prefix}{i}", i) for i in range(20)] + [{"id": 1}]))
    pipeline.drain(PRIMARY)
    assert_completed(pipeline, PRIMARY, key, version, 20, 1)
    assert not records_of(table(pipeline, SECONDARY), key, version), "moto does not replicate by itself"

    assert pipeline.replicate() >= 1  # the shim: S3 replication and global-table replication
    replica = pipeline.client("s3", SECONDARY).head_object(Bucket=pipeline.bucket(SECONDARY), Key=key)
    assert replica["VersionId"] == version, "replication keeps the version ID, so the ledger ID is the same"
    assert (key, version) in queued_objects(pipeline, SECONDARY), "the replica's own S3 event waits there"
    primary, secondary = table(pipeline, PRIMARY), table(pipeline, SECONDARY)
    assert records_of(secondary, key, version) == records_of(primary, key, version)
    assert ledger(secondary, key, version)["status"] == "COMPLETED"
    assert pipeline.replicate() == 0, "a version is copied once"

    report = pipeline.drain(SECONDARY)
    assert report.stopped == "disabled" and report.messages_left >= 1, "the passive region keeps the event"


def test_a_promoted_secondary_skips_what_the_primary_completed_and_processes_the_rest(pipeline, prefix):
    done = pipeline.upload(PRIMARY, prefix + "done.jsonl", jsonl([sensor(f"{prefix}d{i}", i) for i in range(10)]))
    pipeline.drain(PRIMARY)
    pipeline.replicate()
    aws = Aws(session=pipeline.session, account=pipeline.account, partition="aws",
                     endpoint_url=pipeline.endpoint_url)
    stacksets.set_overrides(CFG, aws, SECONDARY, [pipeline.account], {"ProcessingEnabled": "true"},
                         lambda progress: None, poll_seconds=0.05)
    try:
        assert pipeline.mapping(SECONDARY)["State"] == "Enabled"
        before = table(pipeline, SECONDARY)
        report = pipeline.drain(SECONDARY)
        assert report.file(prefix + "done.jsonl").duplicate_deliveries == 1
        assert table(pipeline, SECONDARY) == before, "a completed file changes nothing in the promoted region"

        new = pipeline.upload(SECONDARY, prefix + "new.jsonl", jsonl([sensor(f"{prefix}n{i}", i) for i in range(5)]))
        pipeline.drain(SECONDARY)
        assert_completed(pipeline, SECONDARY, prefix + "new.jsonl", new, 5, 0)
        assert ledger(table(pipeline, SECONDARY), prefix + "new.jsonl", new)["region"] == SECONDARY
    finally:
        stacksets.set_overrides(CFG, aws, SECONDARY, [pipeline.account], {"ProcessingEnabled": "false"},
                             lambda progress: None, poll_seconds=0.05)
    assert pipeline.mapping(SECONDARY)["State"] == "Disabled"
    assert ledger(table(pipeline, PRIMARY), prefix + "done.jsonl", done)["region"] == PRIMARY
