"""The AWS calls a tool really makes, recorded from its boto3 session, and the IAM requests AWS authorizes for
each (the service authorization reference's action, resource and context; the requests a service makes on the
caller's behalf, such as SQS's KMS calls or CloudFormation reading a TemplateURL).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.iam_simulator import ACCOUNT, Request

# Operations authorized as another action (each API reference's "Permissions" section).
RENAMED = {
    ("s3", "HeadBucket"): "ListBucket", ("s3", "HeadObject"): "GetObject", ("s3", "ListObjectVersions"):
    "ListBucketVersions", ("s3", "ListObjectsV2"): "ListBucket", ("s3", "PutPublicAccessBlock"):
    "PutBucketPublicAccessBlock", ("s3", "PutBucketEncryption"): "PutEncryptionConfiguration",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("sqs", "SendMessageBatch"): "SendMessage", ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
}
# botocore's service names where IAM's action prefix differs.
IAM_PREFIX = {"service-quotas": "servicequotas"}
NO_PERMISSION = {("sts", "GetCallerIdentity")}
KMS_QUEUE_OPERATIONS = {"SendMessage": ("GenerateDataKey", "Decrypt"),
                        "SendMessageBatch": ("GenerateDataKey", "Decrypt"), "ReceiveMessage": ("Decrypt",)}
# The ingestion bucket's default encryption is SSE-KMS with the pipeline's key: S3 asks KMS on the caller's behalf
# (Amazon S3 User Guide, UsingKMSEncryption.html). The artifacts and access-log buckets use SSE-S3.
KMS_OBJECT_OPERATIONS = {"PutObject": "GenerateDataKey", "GetObject": "Decrypt"}
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    region: str
    params: dict[str, Any]


class Recorder:
    """Registers on a boto3 session; every client made from it afterwards reports its calls here."""

    def __init__(self, session: Any) -> None:
        self.calls: list[Call] = []
        session.events.register("provide-client-params", self._record)

    def _record(self, params: dict[str, Any], model: Any, context: Any = None, **_: Any) -> None:
        region = (context or {}).get("client_region") or ""
        self.calls.append(Call(model.service_model.service_name, model.name, region, dict(params)))


def requests(call: Call, principal: str, prefix: str, account: str = ACCOUNT,
             resource_tags: dict[str, dict[str, str]] | None = None) -> list[Request]:
    """The IAM requests one call makes (empty for calls that need no permission). ``resource_tags``: the tags
    AWS reads from a resource the call names by ID (a KMS key ID), for ``aws:ResourceTag`` conditions."""
    service, op = call.service, call.operation
    if (service, op) in NO_PERMISSION:
        return []
    action = f"{IAM_PREFIX.get(service, service)}:{RENAMED.get((service, op), op)}"
    where = Where(principal, prefix, call.region or "us-east-1", account, resource_tags or {})
    mapping = MAPPINGS.get(service)
    if mapping is None:
        raise AssertionError(f"no IAM mapping for {service}:{op}; add it to tests/support/calls.py")
    return mapping(action, op, call.params, where)


@dataclass(frozen=True)
class Where:
    """Who calls, for which environment, in which region and account."""

    principal: str
    prefix: str
    region: str
    account: str
    resource_tags: dict[str, dict[str, str]]

    def request(self, action: str, resource: str, context: dict[str, Any] | None = None) -> Request:
        return Request(self.principal, action, resource, {**SECURE, **(context or {})})

    def key(self, action: str, via: str) -> Request:
        """A KMS request a service makes with the caller's credentials for the pipeline's key."""
        return self.request(action, f"arn:aws:kms:{self.region}:{self.account}:key/{KEY_ID}", {
            "kms:ViaService": f"{via}.{self.region}.amazonaws.com", "kms:CallerAccount": self.account,
            "kms:ResourceAliases": [f"alias/{self.prefix}-data"]})


SECURE = {"aws:SecureTransport": "true"}


def _s3(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    bucket = f"arn:aws:s3:::{p['Bucket']}"
    if op == "DeleteObjects":
        return [r for o in p["Delete"]["Objects"] for r in _s3_object(action, op, dict(p, **o), w)]
    if "Key" in p:
        return _s3_object(action, op, p, w)
    found = [w.request(action, bucket)]
    if op == "CreateBucket" and p.get("ObjectOwnership"):
        found.append(w.request("s3:PutBucketOwnershipControls", bucket))
    return found


def _s3_object(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    """A version is read with GetObjectVersion; deleting one needs DeleteObject and DeleteObjectVersion (Amazon S3
    API Reference, DeleteObject and DeleteObjects, "Permissions")."""
    resource = f"arn:aws:s3:::{p['Bucket']}/{p['Key']}"
    if p.get("VersionId") and action == "s3:GetObject":
        action = "s3:GetObjectVersion"
    found = [w.request(action, resource)]
    if p.get("VersionId") and action == "s3:DeleteObject":
        found.append(w.request("s3:DeleteObjectVersion", resource))
    if op in KMS_OBJECT_OPERATIONS and p["Bucket"].startswith(f"{w.prefix}-ingest-"):
        found.append(w.key(f"kms:{KMS_OBJECT_OPERATIONS[op]}", "s3"))
    return found


def _sqs(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    found = [w.request(action, _queue_arn(p, w.region, w.account))]
    return found + [w.key(f"kms:{k}", "sqs") for k in KMS_QUEUE_OPERATIONS.get(op, ())]


def _dynamodb(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    """Deleting a global table's replica through UpdateTable needs DeleteTable and DeleteTableReplica on the
    replica (Amazon DynamoDB Developer Guide, globaltables-security.html)."""
    tables = [p["TableName"]] if "TableName" in p else list(p.get("RequestItems", {}))
    suffix = f"/index/{p['IndexName']}" if p.get("IndexName") else ""
    found = [w.request(action, f"arn:aws:dynamodb:{w.region}:{w.account}:table/{t}{suffix}") for t in tables]
    if not tables:  # an account-wide call (DescribeLimits, ListTables): the reference gives it no resource type
        found = [w.request(action, "*")]
    for update in p.get("ReplicaUpdates", []):
        if "Delete" in update:
            replica = f"arn:aws:dynamodb:{update['Delete']['RegionName']}:{w.account}:table/{p['TableName']}"
            found += [w.request(a, replica) for a in ("dynamodb:DeleteTable", "dynamodb:DeleteTableReplica")]
    return found


def _queue_arn(p: dict[str, Any], region: str, account: str) -> str:
    if "QueueUrl" in p:
        owner, name = p["QueueUrl"].split("/")[3:5]
        return f"arn:aws:sqs:{region}:{owner if owner.isdigit() else account}:{name}"
    return f"arn:aws:sqs:{region}:{p.get('QueueOwnerAWSAccountId') or account}:{p['QueueName']}"


def _lambda(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    """The tools switch only the mappings ListEventSourceMappings returns for the pipeline's processor."""
    if "UUID" in p:
        function = f"arn:aws:lambda:{w.region}:{w.account}:function:{w.prefix}-processor"
        return [Request(w.principal, action,
                        f"arn:aws:lambda:{w.region}:{w.account}:event-source-mapping:{p['UUID']}",
                        {"lambda:FunctionArn": function})]
    if "FunctionName" in p:
        return [w.request(action, f"arn:aws:lambda:{w.region}:{w.account}:function:{p['FunctionName']}")]
    return [Request(w.principal, action, "*", {})]


def _kms(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    """A key named by ID, with the tags KMS reads from it for ``aws:ResourceTag`` conditions."""
    if "KeyId" not in p:
        return [w.request(action, "*")]
    tags = {f"aws:ResourceTag/{k}": v for k, v in w.resource_tags.get(p["KeyId"], {}).items()}
    return [w.request(action, f"arn:aws:kms:{w.region}:{w.account}:key/{p['KeyId']}", tags)]


def _secretsmanager(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    """A secret's ARN is its name and six random characters."""
    secret = p["SecretId"]
    arn = secret if secret.startswith("arn:") else \
        f"arn:aws:secretsmanager:{w.region}:{w.account}:secret:{secret}-AbCdEf"
    return [w.request(action, arn)]


def _config(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    """The recorders named, or, unnamed, the account's own (the emulator's account has one, "default"); their
    ARNs end in a generated ID."""
    names = p.get("ConfigurationRecorderNames") or ["default"]
    return [w.request(action, f"arn:aws:config:{w.region}:{w.account}:configuration-recorder/{n}/0a1b2c3d")
            for n in names]


def _service_quotas(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    """An applied quota by its ARN; the AWS default value takes no resource."""
    if op == "GetServiceQuota":
        return [w.request(action, f"arn:aws:servicequotas:{w.region}:{w.account}:{p['ServiceCode']}/"
                                  f"{p['QuotaCode']}")]
    return [w.request(action, "*")]


def _cloudwatch(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    if p.get("AlarmNames"):
        return [w.request(action, f"arn:aws:cloudwatch:{w.region}:{w.account}:alarm:{n}") for n in p["AlarmNames"]]
    return [w.request(action, "*")]


def _iam(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    return [w.request(action, f"arn:aws:iam::{w.account}:role/{p['RoleName']}")]


def _route53(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    return [w.request(action, f"arn:aws:route53:::healthcheck/{p['HealthCheckId']}")]


def _unscoped(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    """Services whose calls here take no resource (EC2's Describe*, Organizations' reads)."""
    return [w.request(action, "*")]


def _cloudformation(action: str, op: str, p: dict[str, Any], w: Where) -> list[Request]:
    principal, region, account = w.principal, w.region, w.account
    if "StackSetName" in p:
        name = p["StackSetName"]
        found = [Request(principal, action, f"arn:aws:cloudformation:{region}:{account}:stackset/{name}:0a1b", {})]
        if op in ("CreateStackInstances", "UpdateStackInstances", "DeleteStackInstances", "UpdateStackSet"):
            target = f"arn:aws:cloudformation:{region}:{account}:stackset-target/{name}:0a1b/{account}"
            found.append(Request(principal, action, target, {}))
        if op == "CreateStackSet":
            found = [Request(principal, action, "*", {})]
        if p.get("AdministrationRoleARN"):
            found.append(Request(principal, "iam:PassRole", p["AdministrationRoleARN"],
                                 {"iam:PassedToService": "cloudformation.amazonaws.com"}))
        if p.get("TemplateURL"):  # CloudFormation reads it with the caller's credentials
            host, _, key = p["TemplateURL"].split("://", 1)[1].partition("/")
            found.append(Request(principal, "s3:GetObject", f"arn:aws:s3:::{host.split('.s3.')[0]}/{key}", {}))
        return found
    stack = p.get("StackName", "")
    # moto names an instance's stack StackSet:<stack set>; CloudFormation names it StackSet-<stack set>-<uuid>.
    stack = re.sub(r"stack/StackSet:([^/]+)/", r"stack/StackSet-\1-0a1b/", stack)
    arn = stack if stack.startswith("arn:") else f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/0a1b"
    return [Request(principal, action, arn, {})]


MAPPINGS: dict[str, Callable[[str, str, dict[str, Any], Where], list[Request]]] = {
    "s3": _s3, "sqs": _sqs, "dynamodb": _dynamodb, "lambda": _lambda, "cloudformation": _cloudformation,
    "iam": _iam, "route53": _route53, "kms": _kms, "secretsmanager": _secretsmanager, "config": _config,
    "service-quotas": _service_quotas, "cloudwatch": _cloudwatch, "ec2": _unscoped, "organizations": _unscoped,
}
