"""What AWS services do with the templates' roles, decided by the IAM policy simulator with each role's policy,
the permissions boundary and the resource's policy, on every rendered template.

The handler's own calls are recorded and checked in tests/handlers/test_handler_permissions.py; these are the
calls made on its behalf or by the other roles, as the AWS documentation describes them: Lambda's SQS poller
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), its log delivery and tracing, its network
interfaces (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html), S3 replication with KMS
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html), VPC flow logs
and the trail's delivery to CloudWatch Logs.
"""

from __future__ import annotations

import fnmatch
import json

import pytest

from tap_templates import naming
from tests.support import iam_simulator
from tests.support.iam_simulator import ACCOUNT, ALLOWED, KEY_ID, Policies, Request, physical, resolve, role_arn
from tests.support.rendered import all_templates, config, rendering

TEMPLATES = all_templates()
per_template = pytest.mark.parametrize("t", TEMPLATES, ids=[f"{t.env}-{t.region}" for t in TEMPLATES])


def role_policies(t, logical_id: str, resource: dict | None = None) -> Policies:
    boundary = json.loads(rendering(t.env).roles)["Resources"]["RoleBoundary"]["Properties"]["PolicyDocument"]
    identity = tuple(resolve(p["PolicyDocument"], t) for p in t.props(logical_id)["Policies"])
    return Policies(identity=identity, boundary=resolve(boundary, t),
                    resource=resolve(resource, t) if resource else None)


ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:s3:arn"


def kms(t, role: str, action: str, via: str, key_region: str | None = None, s3_object: str | None = None
        ) -> tuple[Request, Policies]:
    region = key_region or t.region
    key = f"arn:aws:kms:{region}:{ACCOUNT}:key/{KEY_ID}"
    request = Request(role_arn(t, role), action, key, {
        "kms:ViaService": f"{via}.{region}.amazonaws.com", "kms:CallerAccount": ACCOUNT,
        "kms:ResourceAliases": [naming.key_alias(config(t.env))], "aws:SecureTransport": "true"})
    # KMS decides with the key's own policy too: the destination key's is in its region's template.
    owner = next(x for x in TEMPLATES if x.env == t.env and x.region == region)
    policies = role_policies(t, role, resolve(owner.props("DataKey")["KeyPolicy"], owner))
    return request, with_encryption_context(policies, action, s3_object) if s3_object else policies


def with_encryption_context(policies: Policies, action: str, s3_object: str) -> Policies:
    """iam-simulate does not resolve an encryption-context key whose name holds colons (aws:s3:arn): the
    condition is decided here (StringLike, as IAM does) and left out of what the simulator sees."""
    documents = []
    for document in policies.identity:
        statements = []
        for statement in document["Statement"]:
            like = statement.get("Condition", {}).get("StringLike", {})
            if ENCRYPTION_CONTEXT in like and action in statement["Action"]:
                assert fnmatch.fnmatchcase(s3_object, like[ENCRYPTION_CONTEXT]), (statement["Sid"], s3_object)
                rest = {k: v for k, v in like.items() if k != ENCRYPTION_CONTEXT}
                condition = {k: v for k, v in statement["Condition"].items() if k != "StringLike"}
                statement = {**statement, "Condition": {**condition, **({"StringLike": rest} if rest else {})}}
            statements.append(statement)
        documents.append({**document, "Statement": statements})
    return Policies(tuple(documents), policies.boundary, policies.resource, policies.endpoint)


@per_template
def test_lambda_polls_logs_traces_and_attaches_with_the_processor_role(t):
    me = role_arn(t, "ProcessorRole")
    secure = {"aws:SecureTransport": "true"}
    ingest = physical(t, "IngestQueue", "Arn")
    queue_policy = t.props("IngestQueuePolicy")["PolicyDocument"]
    group = resolve({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"},
                    t) + naming.function_log_group(config(t.env))
    subnet = f"arn:aws:ec2:{t.region}:{ACCOUNT}:subnet/{physical(t, 'PrivateSubnet1')}"
    cases = [(Request(me, f"sqs:{a}", ingest, secure), role_policies(t, "ProcessorRole", queue_policy))
             for a in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")]
    cases += [kms(t, "ProcessorRole", "kms:Decrypt", "sqs")]
    cases += [(Request(me, f"logs:{a}", f"{group}:log-stream:2024/05/01/[$LATEST]abc", {}),
               role_policies(t, "ProcessorRole")) for a in ("CreateLogStream", "PutLogEvents")]
    cases += [(Request(me, f"xray:{a}", "*", {}), role_policies(t, "ProcessorRole"))
              for a in ("PutTraceSegments", "PutTelemetryRecords")]
    cases += [(Request(me, "ec2:CreateNetworkInterface", subnet, {"aws:RequestedRegion": t.region}),
               role_policies(t, "ProcessorRole"))]
    assert iam_simulator.decide(cases) == [ALLOWED] * len(cases)


@per_template
def test_s3_replicates_with_the_replication_role(t):
    if t.role != "primary":
        assert not t.of_type("AWS::IAM::Role").get("ReplicationRole")
        return
    me = role_arn(t, "ReplicationRole")
    source = physical(t, "IngestBucket", "Arn")
    cases = [(Request(me, f"s3:{a}", f"{source}/in/file.jsonl", {"aws:SecureTransport": "true"}),
              role_policies(t, "ReplicationRole", t.props("IngestBucketPolicy")["PolicyDocument"]))
             for a in ("GetObjectVersionForReplication", "GetObjectRetention", "GetObjectLegalHold")]
    cases += [kms(t, "ReplicationRole", "kms:Decrypt", "s3", s3_object=f"{source}/in/file.jsonl")]
    for other in config(t.env).secondary_regions:
        target = f"arn:aws:s3:::{naming.resolve(naming.ingest_bucket(config(t.env), other), ACCOUNT)}"
        cases += [(Request(me, "s3:ReplicateObject", f"{target}/in/file.jsonl", {}),
                   role_policies(t, "ReplicationRole"))]
        cases += [kms(t, "ReplicationRole", "kms:GenerateDataKey", "s3", key_region=other,
                      s3_object=f"{target}/in/file.jsonl")]
    assert iam_simulator.decide(cases) == [ALLOWED] * len(cases)


@per_template
def test_flow_logs_and_the_trail_deliver_with_their_roles(t):
    cfg = config(t.env)
    cases = []
    for role, group in (("FlowLogRole", naming.flow_log_group(cfg)), ("TrailLogsRole", naming.trail_log_group(cfg))):
        if role not in t.resources:
            continue
        arn = f"arn:aws:logs:{t.region}:{ACCOUNT}:log-group:{group}:log-stream:stream"
        cases += [(Request(role_arn(t, role), f"logs:{a}", arn, {}), role_policies(t, role))
                  for a in ("CreateLogStream", "PutLogEvents")]
    assert cases
    assert iam_simulator.decide(cases) == [ALLOWED] * len(cases)


@per_template
def test_the_boundary_caps_what_a_role_could_be_given(t):
    """A role of the templates given more than its policy (here: every action on everything) still cannot act
    outside the project: the boundary decides (the check can fail)."""
    me = role_arn(t, "ProcessorRole")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    bounded = Policies(identity=(everything,), boundary=role_policies(t, "ProcessorRole").boundary)
    own_bucket = physical(t, "IngestBucket", "Arn")
    cases = [(Request(me, "s3:GetObject", f"{own_bucket}/in/x.json", {}), bounded),
             (Request(me, "s3:GetObject", "arn:aws:s3:::someone-elses-bucket/secret", {}), bounded),
             (Request(me, "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/backdoor", {}), bounded),
             (Request(me, "s3:PutBucketPolicy", own_bucket, {}), bounded)]
    assert iam_simulator.decide(cases) == [ALLOWED, "ImplicitlyDenied", "ImplicitlyDenied", "ImplicitlyDenied"]
