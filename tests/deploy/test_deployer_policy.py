"""``build/<env>/deployer-policy.json`` against every call ``tap deploy`` (a deploy, a re-deploy, a dry run),
``deploy destroy``, ``deploy purge``, ``deploy smoke`` and ``deploy drift`` make.

The calls are recorded from each command's own boto3 session while it runs against the emulator, turned into
the IAM requests AWS authorizes (tests/support/calls.py) and decided by the IAM policy simulator with every
managed policy of the rendered file and, where AWS evaluates one, the resource's own policy (the ingestion
bucket's, the queues', the pipeline key's). ``deploy roles`` is left out on purpose (an administrator runs it
once per account; see tap_templates/deploy/deployer.py).

What the emulator cannot show, so the tests stand in for it: moto has no drift detection, so ``drift`` runs on
botocore's ``Stubber`` with AWS's documented answers (as tests/deploy/test_drift.py does) and its recorded
calls are decided like the others; moto's CloudFormation does not create the pseudonymization secret, so the
purge test creates it as AWS keeps it after a destroy (``DeletionPolicy``, with its replica); moto's tables
show no replicas, so purge never deletes one through ``UpdateTable`` and that documented call is decided on its
own; a real account's keys of other projects (which ``DescribeKey`` must skip) do not exist in the emulator.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import boto3
import pytest
from botocore.stub import Stubber

from tap_templates import naming, tags
from tap_templates.commands import deploy as deploy_command
from tap_templates.config import load_config
from tap_templates.deploy import deployer, kept, permissions, roles, smoke
from tap_templates.deploy.aws import Aws
from tap_templates.local.pipeline import start
from tests.deploy.helpers import ACCOUNT, expect_detection, record_configuration
from tests.support import authorization, iam_simulator
from tests.support.calls import Call, Recorder, requests
from tests.support.iam_simulator import ALLOWED, Policies, deployer_documents, resolve
from tests.support.rendered import SHIPPED_ENVS, by_region, rendering, templates

CFG = load_config("dev")
PRINCIPAL = f"arn:aws:iam::{iam_simulator.ACCOUNT}:role/ci-deployer"


def resource_policy(env: str, region: str, action: str, resource: str) -> dict | None:
    """The policy AWS evaluates with the caller's for this resource, as the region's template sets it (None for
    resources without one)."""
    t = by_region(env)[region]
    if action.startswith("kms:") and resource != "*":
        return resolve(t.props("DataKey")["KeyPolicy"], t)
    if action.startswith("sqs:"):
        logical = "DeadLetterQueuePolicy" if resource.endswith("-dlq") else "IngestQueuePolicy"
        return resolve(t.props(logical)["PolicyDocument"], t)
    if action.startswith("s3:") and f":::{naming.prefix(load_config(env))}-ingest-" in resource:
        return resolve(t.props("IngestBucketPolicy")["PolicyDocument"], t)
    return None


def decide(env: str, calls, resource_policies: tuple[str, ...] = (), resource_tags: dict | None = None,
           identity: tuple[dict, ...] | None = None) -> dict[str, str]:
    """Each request of the calls -> the simulator's decision, with the resource's policy for the services named
    in ``resource_policies`` (the buckets a destroy kept lost theirs with their stacks; their keys keep theirs)."""
    identity = identity or deployer_documents(env)
    prefix = naming.prefix(load_config(env))
    cases = []
    for c in calls:
        for r in requests(c, PRINCIPAL, prefix, resource_tags=resource_tags):
            region = c.region or load_config(env).primary_region
            wanted = r.action.split(":", 1)[0] in resource_policies
            resource = resource_policy(env, region, r.action, r.resource) if wanted else None
            cases.append((r, Policies(identity=identity, resource=resource)))
    return {f"{r.action} {r.resource}": d for (r, _), d in zip(cases, iam_simulator.decide(cases), strict=True)}


def refused(found: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in found.items() if v != ALLOWED}


def test_a_deploy_redeploy_dry_run_and_destroy_need_nothing_else(aws, cli, code_zip, recorded):
    assert cli("roles", "--env", "dev").code == 0  # the administrator's step, not recorded below
    start = len(recorded.calls)
    for args in (("--env", "dev", "--code-zip", str(code_zip[0]), "--yes"),
                 ("--env", "dev", "--code-zip", str(code_zip[0]), "--yes"),
                 ("--env", "dev", "--dry-run", "--code-zip", str(code_zip[0])), ("destroy", "--env", "dev", "--yes")):
        result = cli(*args)
        assert result.code == 0, result.err
    calls = recorded.calls[start:]
    operations = {(c.service, c.operation) for c in calls}
    assert {("cloudformation", "CreateStackSet"), ("cloudformation", "CreateStackInstances"), ("s3", "PutObject"),
            ("cloudformation", "DeleteStackSet"), ("iam", "GetRole"),
            # the pre-flight: concurrency, zones and endpoint services, VPC quotas
            ("lambda", "GetAccountSettings"), ("lambda", "GetFunctionConcurrency"),
            ("ec2", "DescribeAvailabilityZones"), ("ec2", "DescribeVpcEndpointServices"), ("ec2", "DescribeVpcs"),
            ("service-quotas", "GetServiceQuota"),
            # what an earlier destroy kept, looked for before planning
            ("s3", "HeadBucket"), ("dynamodb", "DescribeTable"), ("secretsmanager", "DescribeSecret")} <= operations
    assert refused(decide("dev", calls)) == {}


def test_a_dry_run_with_config_rules_needs_nothing_else(aws, cli, code_zip, recorded):
    """prod renders Config rules: its pre-flight also reads the account's configuration recorders."""
    record_configuration(aws)
    assert cli("roles", "--env", "prod").code == 0
    start = len(recorded.calls)
    result = cli("--env", "prod", "--dry-run", "--code-zip", str(code_zip[0]))
    assert result.code == 0, result.err
    calls = recorded.calls[start:]
    assert {("config", "DescribeConfigurationRecorders"), ("config", "DescribeConfigurationRecorderStatus")} <= \
        {(c.service, c.operation) for c in calls}
    assert refused(decide("prod", calls)) == {}


def test_the_smoke_check_needs_nothing_else():
    """The smoke check end to end on the local pipeline (tests/deploy/test_smoke.py), through a session of its
    own so that only its calls are recorded (the poller and the handler use the pipeline's)."""
    with start(CFG) as pipeline:
        session = boto3.Session()
        recorder = Recorder(session)
        result = smoke.check(CFG, Aws(session=session, account=pipeline.account, partition="aws"),
                             on_progress=lambda p: pipeline.drain(CFG.primary_region), poll_seconds=0.05,
                             timeout_seconds=60)
    assert result.ok, "\n".join(result.describe())
    operations = {(c.service, c.operation) for c in recorder.calls}
    assert {("lambda", "ListEventSourceMappings"), ("s3", "PutObject"), ("s3", "HeadObject"),
            ("s3", "ListObjectVersions"), ("s3", "DeleteObject"), ("dynamodb", "GetItem"), ("dynamodb", "Query"),
            ("dynamodb", "UpdateItem"), ("dynamodb", "DeleteItem"), ("sqs", "GetQueueUrl"),
            ("sqs", "GetQueueAttributes"), ("sqs", "ReceiveMessage"), ("cloudwatch", "DescribeAlarms")} <= operations
    found = decide("dev", recorder.calls, resource_policies=("s3", "sqs", "kms"))
    assert refused(found) == {}
    canary = naming.smoke_object_key("*").split("*")[0]
    assert all(f"/{canary}" in k for k in found if k.startswith(("s3:PutObject", "s3:DeleteObject"))), \
        "the smoke check writes and deletes only its canary"


def test_drift_needs_nothing_else():
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    recorder = Recorder(session)
    aws = Aws(session=session, account=ACCOUNT, partition="aws")
    stubs = []
    for region in CFG.regions:
        aws.clients["cloudformation", region] = client = session.client("cloudformation", region_name=region)
        stub = Stubber(client)
        expect_detection(stub, region, drifted=region == CFG.primary_region)
        stub.activate()
        stubs.append(stub)
    assert deploy_command.run_drift(argparse.Namespace(), CFG, aws) == 1
    for stub in stubs:
        stub.assert_no_pending_responses()
    assert {"DetectStackSetDrift", "DescribeStackSetOperation", "ListStackInstances",
            "ListStackInstanceResourceDrifts", "DescribeStackSet"} == {c.operation for c in recorder.calls}
    assert refused(decide("dev", recorder.calls)) == {}


def key_tags(session: boto3.Session) -> dict[str, dict[str, str]]:
    """The tags of every key in the emulator, as KMS reads them for ``aws:ResourceTag`` conditions."""
    found = {}
    for region in CFG.regions:
        kms = session.client("kms", region_name=region)
        for key in kms.list_keys()["Keys"]:
            listed = kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
            found[key["KeyId"]] = {t["TagKey"]: t["TagValue"] for t in listed}
    return found


def test_a_destroy_then_purge_need_nothing_else(aws, cli, code_zip, recorded):
    assert cli("roles", "--env", "dev").code == 0
    assert cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes").code == 0
    ingest = naming.resolve(naming.ingest_bucket(CFG, CFG.primary_region), ACCOUNT)
    aws.client("s3", region_name=CFG.primary_region).put_object(Bucket=ingest, Key="kept/data.jsonl", Body=b"{}\n")
    start = len(recorded.calls)
    assert cli("destroy", "--env", "dev", "--yes").code == 0
    aws.client("secretsmanager", region_name=CFG.primary_region).create_secret(  # as AWS keeps it (module doc)
        Name=naming.pseudonymization_secret(CFG), SecretString="kept",
        AddReplicaRegions=[{"Region": r} for r in CFG.secondary_regions])
    purged = cli("purge", "--env", "dev", "--artifacts", "--yes")
    assert purged.code == 0, purged.err
    calls = recorded.calls[start:]
    operations = {(c.service, c.operation) for c in calls}
    assert {("s3", "ListObjectVersions"), ("s3", "DeleteObjects"), ("s3", "DeleteBucket"),
            ("dynamodb", "UpdateTable"), ("dynamodb", "DeleteTable"), ("secretsmanager", "DeleteSecret"),
            ("secretsmanager", "RemoveRegionsFromReplication"), ("kms", "ListKeys"), ("kms", "DescribeKey"),
            ("kms", "ScheduleKeyDeletion")} <= operations
    # The documented call purge makes for a global table with replicas (moto's tables show none).
    replicas = Call("dynamodb", "UpdateTable", CFG.primary_region, {"TableName": naming.table(CFG), "ReplicaUpdates": [
        {"Delete": {"RegionName": r}} for r in CFG.secondary_regions]})
    found = decide("dev", [*calls, replicas], resource_policies=("kms",), resource_tags=key_tags(aws))
    assert refused(found) == {}
    assert sum(k.startswith("kms:ScheduleKeyDeletion ") for k in found) == len(CFG.regions)


def kept_calls(env: str) -> tuple[list[Call], dict[str, dict[str, str]]]:
    """The calls that find and purge each retained resource the env's templates declare, and the tags of its
    keys (as the templates set them)."""
    calls, key_tags_by_id = [], {}
    for t in templates(env):
        for w in kept.wanted(t.body, t.region, ACCOUNT):
            one = {kept.BUCKET: [("s3", "HeadBucket", {"Bucket": w.name}),
                                 ("s3", "ListObjectVersions", {"Bucket": w.name}),
                                 ("s3", "DeleteObjects", {"Bucket": w.name, "Delete": {"Objects": [
                                     {"Key": "any/object.jsonl", "VersionId": "v1"}]}}),
                                 ("s3", "DeleteBucket", {"Bucket": w.name})],
                   kept.TABLE: [("dynamodb", op, {"TableName": w.name})
                                for op in ("DescribeTable", "UpdateTable", "DeleteTable")],
                   kept.SECRET: [("secretsmanager", op, {"SecretId": w.name})
                                 for op in ("DescribeSecret", "RemoveRegionsFromReplication", "DeleteSecret")],
                   kept.KEY: [("kms", op, {"KeyId": f"key-{t.region}"})
                              for op in ("DescribeKey", "ScheduleKeyDeletion")]}[w.kind]
            calls += [Call(service, op, w.region, params) for service, op, params in one]
        for resource in t.of_type("AWS::KMS::Key").values():
            key_tags_by_id[f"key-{t.region}"] = {x["Key"]: x["Value"] for x in resource["Properties"]["Tags"]}
    return calls, key_tags_by_id


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_every_resource_a_destroy_keeps_can_be_found_and_purged(env):
    """From the rendered templates, so a new retained resource (prod's audit bucket) is covered without a deploy."""
    cfg = load_config(env)
    calls, key_tags_by_id = kept_calls(env)
    buckets = {c.params.get("Bucket") for c in calls}
    assert {naming.resolve(naming.ingest_bucket(cfg, r), ACCOUNT) for r in cfg.regions} <= buckets
    if cfg.audit.cloudtrail:
        assert {naming.resolve(naming.audit_bucket(cfg, r), ACCOUNT) for r in cfg.regions} & buckets
    found = decide(env, calls, resource_policies=("kms",), resource_tags=key_tags_by_id)
    assert found and refused(found) == {}


def test_another_environment_s_kept_resources_are_refused():
    """dev's policy reaches none of prod's retained resources, and no key without dev's tags."""
    calls, key_tags_by_id = kept_calls("prod")
    found = decide("dev", calls, resource_policies=("kms",), resource_tags=key_tags_by_id)
    assert found and set(found.values()) == {"ImplicitlyDenied"}


@pytest.mark.parametrize(("sid", "call"), [
    ("PassAdministrationRole", Call("cloudformation", "CreateStackSet", "us-east-1", {
        "StackSetName": "tap-dev-us-east-1", "AdministrationRoleARN":
            f"arn:aws:iam::{ACCOUNT}:role/{naming.stackset_administration_role(CFG)}"})),
    ("SmokeCanaryObject", Call("s3", "PutObject", "us-east-1", {
        "Bucket": f"tap-dev-ingest-{ACCOUNT}-us-east-1", "Key": naming.smoke_object_key("abc")})),
    ("KeptKeys", Call("kms", "ScheduleKeyDeletion", "us-east-1", {"KeyId": "key-us-east-1"})),
    ("ReadVpcQuotas", Call("service-quotas", "GetServiceQuota", "us-east-1",
                           {"ServiceCode": "vpc", "QuotaCode": "L-F678F1CE"})),
])
def test_a_narrower_policy_is_refused(sid, call):
    """Without the statement, the call it exists for is refused (the check can fail). KMS allows nothing that
    the key's policy does not, so its requests are decided with it."""
    documents = deployer_documents("dev")
    narrower = tuple(dict(d, Statement=[s for s in d["Statement"] if s["Sid"] != sid]) for d in documents)
    assert narrower != documents
    key = {"key-us-east-1": {k: v for k, v in tags.values(CFG).items() if k in permissions.SCOPING_TAGS}}
    assert set(decide("dev", [call], ("kms",), key).values()) == {ALLOWED}
    assert "ImplicitlyDenied" in decide("dev", [call], ("kms",), key, identity=narrower).values()


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_the_deployer_policy_agrees_with_the_reference(env):
    assert [p for i, d in enumerate(deployer_documents(env)) for p in authorization.problems(d, f"{i + 1}.")] == []


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_the_deployer_policy_fits_iam_quotas(env):
    """6,144 characters per managed policy (whitespace not counted, the longest partition), 10 per role
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)."""
    documents = deployer_documents(env)
    assert 1 <= len(documents) <= roles.MAX_MANAGED_POLICIES
    for document in documents:
        size = len(json.dumps(document, separators=(",", ":")).replace("arn:aws:", "arn:aws-us-gov:"))
        assert size <= 6144, f"{size} characters; IAM allows 6,144"


def test_service_managed_stacksets_read_the_organization_instead_of_passing_a_role():
    cfg = dataclasses.replace(CFG, stacksets=dataclasses.replace(
        CFG.stacksets, permission_model="SERVICE_MANAGED", organizational_units=("ou-abcd-12345678",)))
    sids = {s.Sid for s in deployer.statements(cfg)}
    assert {"ReadOrganization", "ListOrganizationalUnits"} <= sids and "PassAdministrationRole" not in sids


def test_purge_passes_over_keys_it_may_not_describe(aws):
    """In a real account ``ListKeys`` also lists other projects' keys, which this policy may not describe
    (``KeptKeys``): AWS refuses with AccessDeniedException and purge goes on with the keys that are the
    environment's. The emulator enforces no IAM, so KMS answers from a Stubber here (the other services from moto,
    where nothing else was kept)."""
    region = CFG.primary_region
    session = boto3.Session()
    found = Aws(session=session, account=ACCOUNT, partition="aws")
    found.clients["kms", region] = client = session.client("kms", region_name=region)
    stub = Stubber(client)
    ours, theirs = "1234abcd-12ab-34cd-56ef-1234567890ab", "0987dcba-09ba-87dc-65fe-0987654321ba"
    stub.add_response("list_keys", {"Keys": [{"KeyId": theirs}, {"KeyId": ours}], "Truncated": False})
    stub.add_client_error("describe_key", "AccessDeniedException", "not authorized to perform: kms:DescribeKey",
                          expected_params={"KeyId": theirs})
    stub.add_response("describe_key", {"KeyMetadata": {
        "KeyId": ours, "Description": f"{naming.prefix(CFG)} pipeline data in {region}", "KeyManager": "CUSTOMER",
        "KeyState": "Enabled"}}, {"KeyId": ours})
    with stub:
        kept_now = kept.find(rendering("dev"), found, only=[region])
        stub.assert_no_pending_responses()
    assert [(k.kind, k.name) for k in kept_now] == [(kept.KEY, ours)]
