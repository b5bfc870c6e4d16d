"""The handler's AWS calls against the policies that decide them in AWS.

Every call the handler makes in these scenarios is recorded from its own clients and turned into the IAM
requests AWS authorizes for it (the action on the resource, and the KMS requests the service makes on the
caller's behalf for SSE-KMS objects, queue messages and secrets). Each is decided by the IAM policy simulator
with the processor role's policy and permissions boundary, the resource's policy (bucket, queue, key) and the
VPC endpoint's policy, all from the rendered dev templates (``build/dev``).

moto evaluates none of that, but it does authorize S3 and SQS requests by the caller's identity policy
(``INITIAL_NO_AUTH_ACTION_COUNT``): the last tests run the handler with the processor role's own credentials
for those two services. moto authorizes DynamoDB and Secrets Manager against resource ``*`` only, which a
role scoped to the table and the secret never matches, so those clients keep the test's credentials (the
simulator covers them); and moto answers a missing key with 404 whatever the role may do, so the 403/404
difference s3:ListBucket makes is checked in the simulator only.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from handlers import clients
from handlers.contracts import Reason
from tests.handlers.helpers import BUCKET, REGION, jsonl, sensor
from tests.support import iam_simulator
from tests.support.iam_simulator import ALLOWED, Policies, Request, resolve
from tests.support.rendered import by_region, rendering

ACCOUNT = iam_simulator.ACCOUNT


@pytest.fixture
def calls(pipeline) -> list[tuple[str, str, dict[str, Any]]]:
    """Every API call the handler's own clients make during the test: (service, operation, parameters)."""
    recorded: list[tuple[str, str, dict[str, Any]]] = []
    handler_clients = [getattr(clients, s)(REGION) for s in ("s3", "dynamodb", "sqs", "secretsmanager")]

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        recorded.append((model.service_model.endpoint_prefix, model.name, dict(params)))

    for client in handler_clients:
        client.meta.events.register("provide-client-params.*.*", record)
    yield recorded
    for client in handler_clients:
        client.meta.events.unregister("provide-client-params.*.*", record)


def template():
    return by_region("dev")[REGION]


def _document(value: Any) -> dict[str, Any]:
    return resolve(value, template())


def processor_policies(endpoint: str | None = None, resource: str | None = None) -> Policies:
    t = template()
    roles = json.loads(rendering("dev").roles)["Resources"]
    identity = tuple(_document(p["PolicyDocument"]) for p in t.props("ProcessorRole")["Policies"])
    boundary = resolve(roles["RoleBoundary"]["Properties"]["PolicyDocument"], t)
    endpoints = {resolve(r["Properties"]["ServiceName"], t).rsplit(".", 1)[1]: r["Properties"]["PolicyDocument"]
                 for r in t.of_type("AWS::EC2::VPCEndpoint").values()}
    resource_policies = {
        "bucket": t.props("IngestBucketPolicy")["PolicyDocument"],
        "dlq": t.props("DeadLetterQueuePolicy")["PolicyDocument"],
        "ingest": t.props("IngestQueuePolicy")["PolicyDocument"],
        "key": t.props("DataKey")["KeyPolicy"],
    }
    return Policies(identity=identity, boundary=boundary,
                    resource=_document(resource_policies[resource]) if resource else None,
                    endpoint=_document(endpoints[endpoint]) if endpoint else None)


def role() -> str:
    return iam_simulator.role_arn(template(), "ProcessorRole")


def kms_request(action: str, via: str) -> tuple[Request, Policies]:
    key = iam_simulator.physical(template(), "DataKey", "Arn")
    # KMS fills kms:ResourceAliases with the key's aliases; the permissions boundary admits pipeline keys by it.
    context = {"kms:ViaService": f"{via}.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT,
               "kms:ResourceAliases": ["alias/tap-dev-data"], "aws:SecureTransport": "true"}
    return Request(role(), action, key, context), processor_policies(resource="key")


def iam_requests(service: str, operation: str, params: dict[str, Any]) -> list[tuple[Request, Policies]]:
    """What AWS authorizes for one recorded call (the service authorization reference's action and resource,
    and the KMS requests S3, SQS and Secrets Manager make for the caller)."""
    secure = {"aws:SecureTransport": "true"}
    if service == "s3":
        obj = f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"
        action = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
        assert operation == "GetObject", operation
        return [(Request(role(), action, obj, secure), processor_policies("s3", "bucket")),
                # A missing key answers 404 only to a caller that may list the bucket
                # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
                (Request(role(), "s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", secure),
                 processor_policies("s3", "bucket")),
                kms_request("kms:Decrypt", "s3")]
    if service == "dynamodb":
        items = params.get("RequestItems") or json.loads(params.get("TapPreserializedBody") or "{}").get("RequestItems")
        name = params.get("TableName") or next(iter(items))  # the writer sends BatchWriteItem pre-serialized
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        return [(Request(role(), f"dynamodb:{operation}", table, secure), processor_policies("dynamodb"))]
    if service == "sqs":
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{params['QueueUrl'].rsplit('/', 1)[1]}"
        return [(Request(role(), f"sqs:{operation}", queue, secure), processor_policies("sqs", "dlq")),
                kms_request("kms:GenerateDataKey", "sqs"), kms_request("kms:Decrypt", "sqs")]
    if service == "secretsmanager":
        secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{params['SecretId']}-AbCdEf"
        return [(Request(role(), f"secretsmanager:{operation}", secret, secure), processor_policies("secretsmanager")),
                kms_request("kms:Decrypt", "secretsmanager")]
    raise AssertionError(f"the handler called {service}:{operation}, which this test does not know how to authorize")


def decisions(recorded: list[tuple[str, str, dict[str, Any]]]) -> dict[str, str]:
    cases = [case for call in recorded for case in iam_requests(*call)]
    return {f"{r.action} {r.resource}": d for (r, _), d in zip(cases, iam_simulator.decide(cases), strict=True)}


def test_every_call_of_a_processed_file_is_allowed(pipeline, calls):
    response = pipeline.process("in/good.jsonl", jsonl([sensor(i) for i in range(30)]))
    assert response == {"batchItemFailures": []}
    assert {(s, o) for s, o, _ in calls} >= {("s3", "GetObject"), ("dynamodb", "BatchWriteItem"),
                                             ("dynamodb", "UpdateItem")}
    found = decisions(calls)
    assert found and all(d == ALLOWED for d in found.values()), {k: v for k, v in found.items() if v != ALLOWED}


def test_a_dead_letter_and_a_missing_object_are_allowed_as_well(pipeline, calls):
    record = pipeline.put("gone/file.jsonl", jsonl([sensor(1)]))
    pipeline.s3.delete_object(Bucket=BUCKET, Key="gone/file.jsonl", VersionId=record["s3"]["object"]["versionId"])
    pipeline.run(pipeline.event(record))
    assert [d["reason"] for d in pipeline.dead_letters()] == [Reason.OBJECT_NOT_FOUND]
    assert ("sqs", "SendMessage") in {(s, o) for s, o, _ in calls}
    found = decisions(calls)
    assert all(d == ALLOWED for d in found.values()), {k: v for k, v in found.items() if v != ALLOWED}
    assert found[f"s3:ListBucket arn:aws:s3:::{BUCKET}"] == ALLOWED, "without it S3 answers 403, not 404"


def test_reading_the_pseudonymization_key_is_allowed(pseudonymized, calls):
    from tests.handlers.helpers import event as event_record

    pseudonymized.process("in/people.jsonl", jsonl([event_record(1, email="a@example.com")]))
    assert ("secretsmanager", "GetSecretValue") in {(s, o) for s, o, _ in calls}
    found = decisions(calls)
    assert all(d == ALLOWED for d in found.values()), {k: v for k, v in found.items() if v != ALLOWED}


def test_a_grant_missing_from_the_role_is_denied(pipeline, calls):
    """The check can fail: the same calls against the role without s3:ListBucket, or through an endpoint
    policy without SendMessage, are refused."""
    pipeline.process("in/one.jsonl", jsonl([sensor(1)]))
    get = next(c for c in calls if c[1] == "GetObject")
    (read, policies), (listing, _), _ = iam_requests(*get)
    narrower = [dict(d, Statement=[s for s in d["Statement"] if s.get("Sid") != "TellMissingObjectsApart"])
                for d in policies.identity]
    without_send = dict(policies.endpoint or {}, Statement=[{"Effect": "Allow", "Principal": "*",
                                                             "Action": "sqs:ReceiveMessage", "Resource": "*"}])
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:tap-dev-ingest-dlq"
    cases = [(listing, Policies(tuple(narrower), policies.boundary, policies.resource, policies.endpoint)),
             (Request(role(), "sqs:SendMessage", dlq, {"aws:SecureTransport": "true"}),
              Policies(policies.identity, policies.boundary, None, without_send)),
             (read, policies)]
    assert iam_simulator.decide(cases) == ["ImplicitlyDenied", "ImplicitlyDenied", ALLOWED]


# --- moto, with the processor role's own credentials -----------------------------------------------------------


def _role_session(statements_filter=None) -> boto3.Session:
    """Create the processor role in moto with its rendered policy (optionally narrowed) and assume it."""
    iam = boto3.client("iam", region_name=REGION)
    document = _document(template().props("ProcessorRole")["Policies"][0]["PolicyDocument"])
    if statements_filter:
        document["Statement"] = [s for s in document["Statement"] if statements_filter(s)]
    name = "processor-under-test"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}))
    iam.put_role_policy(RoleName=name, PolicyName="processor", PolicyDocument=json.dumps(document))
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="processor")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=REGION)


@pytest.fixture
def as_processor(pipeline, monkeypatch):
    """Run the handler's S3 and SQS clients on the processor role's credentials with moto enforcing IAM;
    returns a function that does so for a role filtered by ``statements_filter``."""
    from moto import settings
    from moto.core.responses import ActionAuthenticatorMixin

    unenforced = settings.INITIAL_NO_AUTH_ACTION_COUNT

    def start(statements_filter=None) -> None:
        session = _role_session(statements_filter)
        frozen = session.get_credentials().get_frozen_credentials()
        clients.reset()
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", frozen.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", frozen.secret_key)
        monkeypatch.setenv("AWS_SESSION_TOKEN", frozen.token)
        monkeypatch.setenv("AWS_SECURITY_TOKEN", frozen.token)
        clients.s3(REGION), clients.sqs(REGION)
        admin = _admin_keys()
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", admin["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", admin["SecretAccessKey"])
        monkeypatch.delenv("AWS_SESSION_TOKEN")
        monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
        clients.dynamodb(REGION), clients.secretsmanager(REGION)
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)

    def stop() -> None:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = unenforced

    yield start, stop
    settings.INITIAL_NO_AUTH_ACTION_COUNT = unenforced
    clients.reset()


def _admin_keys() -> dict[str, str]:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="test-admin")
    iam.put_user_policy(UserName="test-admin", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return iam.create_access_key(UserName="test-admin")["AccessKey"]


def test_the_handler_works_with_the_processor_roles_credentials(pipeline, as_processor):
    start, stop = as_processor
    record = pipeline.put("in/role.jsonl", jsonl([sensor(i) for i in range(5)]))
    failing = pipeline.put("in/failing.xml", b"<x/>")
    start()
    response = pipeline.run(pipeline.event(record, failing))
    stop()
    assert response == {"batchItemFailures": []}
    assert len(pipeline.records()) == 5
    assert [d["reason"] for d in pipeline.dead_letters()] == [Reason.UNSUPPORTED_FORMAT], "SendMessage allowed"


def test_moto_refuses_a_read_the_role_does_not_grant(pipeline, as_processor):
    """Without s3:GetObjectVersion the handler cannot read the notified version: the call is refused with
    AccessDenied and the file is dead-lettered as such (so the role check above can fail)."""
    start, stop = as_processor
    record = pipeline.put("in/denied.jsonl", jsonl([sensor(1)]))
    start(lambda s: s.get("Sid") != "ReadIngestObjects")
    pipeline.run(pipeline.event(record))
    stop()
    assert pipeline.records() == []
    assert [d["reason"] for d in pipeline.dead_letters()] == [Reason.ACCESS_DENIED]
