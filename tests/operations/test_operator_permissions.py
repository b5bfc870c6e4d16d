"""Every call failover, reconcile and redrive make, against ``build/<env>/deployer-policy.json``.

The tools run against the emulator through their own session (``env``), which records each call; each becomes
the IAM requests AWS authorizes (tests/support/calls.py: SQS's KMS calls for the encrypted queues included) and
the IAM policy simulator decides them with the rendered deployer policy, the queues' policies and the key's.
"""

from __future__ import annotations

import datetime as dt

from tap_templates import naming
from tap_templates.operations import failover, reconcile, redrive
from tests.operations.conftest import CFG
from tests.operations.helpers import jsonl
from tests.support import iam_simulator
from tests.support.calls import Recorder, requests
from tests.support.iam_simulator import ALLOWED, Policies, deployer_documents, resolve
from tests.support.rendered import by_region

PRIMARY, SECONDARY = CFG.primary_region, CFG.secondary_regions[0]
PRINCIPAL = f"arn:aws:iam::{iam_simulator.ACCOUNT}:role/on-call"


def policies_for(request, region: str) -> Policies:
    """The deployer policy, and for a queue or its key the resource's own policy."""
    t = by_region("dev").get(region) or by_region("dev")[PRIMARY]  # Route 53 answers from aws-global
    identity = deployer_documents("dev", t)
    if request.action.startswith("kms:"):
        return Policies(identity, resource=resolve(t.props("DataKey")["KeyPolicy"], t))
    if request.action.startswith("sqs:"):
        logical = "DeadLetterQueuePolicy" if request.resource.endswith("-dlq") else "IngestQueuePolicy"
        return Policies(identity, resource=resolve(t.props(logical)["PolicyDocument"], t))
    return Policies(identity)


def test_failover_reconcile_and_redrive_need_nothing_else(env, pipeline, outage):
    recorder = Recorder(outage.session)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    pipeline.upload(PRIMARY, "ops/file.jsonl", jsonl("o", 3))
    pipeline.upload(PRIMARY, "ops/bad.json", b"not json")
    pipeline.drain(PRIMARY)
    pipeline.replicate()

    failover.status(env)
    failover.promote(env, SECONDARY, lambda line: None, lambda progress: None, poll_seconds=0)
    report = reconcile.run(env, start, dt.datetime.now(dt.UTC))
    reconcile.backfill(env, reconcile.backfill_plan(report))
    redrive.redrive(env, PRIMARY, {"NOT_JSON"}, wait_seconds=0)
    steps, _ = failover.failback(env, start, dt.datetime.now(dt.UTC), force=True)
    failover.execute(env, PRIMARY, steps, lambda line: None, lambda progress: None, poll_seconds=0)

    operations = {(c.service, c.operation) for c in recorder.calls}
    assert {("lambda", "UpdateEventSourceMapping"), ("cloudformation", "UpdateStackInstances"),
            ("sqs", "ReceiveMessage"), ("sqs", "SendMessage"), ("dynamodb", "UpdateItem"),
            ("s3", "ListObjectVersions")} <= operations
    cases = [(r, policies_for(r, c.region)) for c in recorder.calls
             for r in requests(c, PRINCIPAL, naming.prefix(CFG))]
    decisions = iam_simulator.decide(cases)
    refused = {f"{r.action} {r.resource}": d for (r, _), d in zip(cases, decisions, strict=True) if d != ALLOWED}
    assert refused == {}


def test_the_queries_and_reindex_need_nothing_else(env, pipeline, outage):
    from tap_templates.operations import file_records, queries, reindex

    pipeline.upload(PRIMARY, "ops/q.jsonl", jsonl("q", 3) + b'{"id": "bad"}\n')
    pipeline.drain(PRIMARY)
    recorder = Recorder(outage.session)
    table = queries.TableQueries(env, PRIMARY)
    table.check_index()
    now = dt.datetime.now(dt.UTC)
    window = queries.Window.of(now - dt.timedelta(hours=1), now)
    rejected = list(table.rejected(window)[0])
    assert rejected and list(table.data_type("sensor", queries.Window("2024-01-01T00:00:00.000Z", window.until))[0])
    assert table.record("sensor", "q-0000")
    lid = queries.file_id(env, PRIMARY, "ops/q.jsonl")
    assert list(table.rejected(window, source_file=lid)[0]) == rejected
    assert len(list(file_records.file_records(table, lid).items)) == 4
    reindex.reindex(env, PRIMARY, segments=2)
    operations = {(c.service, c.operation) for c in recorder.calls}
    assert {("dynamodb", "Query"), ("dynamodb", "BatchGetItem"), ("dynamodb", "Scan"), ("dynamodb", "DescribeTable"),
            ("s3", "HeadObject"), ("s3", "GetObject")} <= operations
    cases = [(r, policies_for(r, c.region)) for c in recorder.calls
             for r in requests(c, PRINCIPAL, naming.prefix(CFG))]
    decisions = iam_simulator.decide(cases)
    refused = {f"{r.action} {r.resource}": d for (r, _), d in zip(cases, decisions, strict=True) if d != ALLOWED}
    assert refused == {}
