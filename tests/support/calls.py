"""The AWS calls a tool really makes, recorded from its boto3 session, and the IAM requests AWS authorizes for
each (the service authorization reference's action, resource and context; the requests a service makes on the
caller's behalf, such as SQS's KMS calls or CloudFormation reading a TemplateURL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.support.iam_simulator import ACCOUNT, Request

# Operations authorized as another action (each API reference's "Permissions" section).
RENAMED = {
    ("s3", "HeadBucket"): "ListBucket", ("s3", "HeadObject"): "GetObject", ("s3", "ListObjectVersions"):
    "ListBucketVersions", ("s3", "ListObjectsV2"): "ListBucket", ("s3", "PutPublicAccessBlock"):
    "PutBucketPublicAccessBlock", ("s3", "PutBucketEncryption"): "PutEncryptionConfiguration",
    ("sqs", "SendMessageBatch"): "SendMessage", ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
}
NO_PERMISSION = {("sts", "GetCallerIdentity")}
KMS_QUEUE_OPERATIONS = {"SendMessage": ("GenerateDataKey", "Decrypt"),
                        "SendMessageBatch": ("GenerateDataKey", "Decrypt"), "ReceiveMessage": ("Decrypt",)}


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


def requests(call: Call, principal: str, prefix: str, account: str = ACCOUNT) -> list[Request]:
    """The IAM requests one call makes (empty for calls that need no permission)."""
    service, op, p, region = call.service, call.operation, call.params, call.region or "us-east-1"
    if (service, op) in NO_PERMISSION:
        return []
    action = f"{service}:{RENAMED.get((service, op), op)}"
    secure = {"aws:SecureTransport": "true"}
    if service == "s3":
        found = _s3(action, op, p, principal, secure)
        if op in ("GetObject", "HeadObject") and f"{prefix}-ingest-" in p.get("Bucket", ""):
            # the ingest buckets' objects are SSE-KMS: S3 decrypts their data key with the caller's permission
            key = f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            context = {"kms:ViaService": f"s3.{region}.amazonaws.com", "kms:CallerAccount": account,
                       "kms:ResourceAliases": [f"alias/{prefix}-data"], **secure}
            found.append(Request(principal, "kms:Decrypt", key, context))
    elif service == "sqs":
        queue = _queue_arn(p, region, account)
        found = [Request(principal, action, queue, secure)]
        key = f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        context = {"kms:ViaService": f"sqs.{region}.amazonaws.com", "kms:CallerAccount": account,
                   "kms:ResourceAliases": [f"alias/{prefix}-data"], **secure}
        found += [Request(principal, f"kms:{k}", key, context) for k in KMS_QUEUE_OPERATIONS.get(op, ())]
    elif service == "dynamodb":
        tables = [p["TableName"]] if "TableName" in p else list(p.get("RequestItems", {}))
        suffix = f"/index/{p['IndexName']}" if p.get("IndexName") else ""
        found = [Request(principal, action, f"arn:aws:dynamodb:{region}:{account}:table/{t}{suffix}", secure)
                 for t in tables]
    elif service == "lambda":
        found = [_lambda(action, p, principal, region, account, prefix)]
    elif service == "cloudformation":
        found = _cloudformation(action, op, p, principal, region, account)
    elif service == "iam":
        found = [Request(principal, action, f"arn:aws:iam::{account}:role/{p['RoleName']}", secure)]
    elif service == "route53":
        found = [Request(principal, action, f"arn:aws:route53:::healthcheck/{p['HealthCheckId']}", secure)]
    elif service in ("cloudwatch", "organizations"):
        found = [Request(principal, action, "*", secure)]
    else:
        raise AssertionError(f"no IAM mapping for {service}:{op}; add it to tests/support/calls.py")
    return found


def _s3(action: str, op: str, p: dict[str, Any], principal: str, secure: dict[str, str]) -> list[Request]:
    bucket = f"arn:aws:s3:::{p['Bucket']}"
    if "Key" in p:
        if p.get("VersionId") and action == "s3:GetObject":
            action = "s3:GetObjectVersion"
        return [Request(principal, action, f"{bucket}/{p['Key']}", secure)]
    found = [Request(principal, action, bucket, secure)]
    if op == "CreateBucket" and p.get("ObjectOwnership"):
        found.append(Request(principal, "s3:PutBucketOwnershipControls", bucket, secure))
    return found


def _queue_arn(p: dict[str, Any], region: str, account: str) -> str:
    if "QueueUrl" in p:
        owner, name = p["QueueUrl"].split("/")[3:5]
        return f"arn:aws:sqs:{region}:{owner if owner.isdigit() else account}:{name}"
    return f"arn:aws:sqs:{region}:{p.get('QueueOwnerAWSAccountId') or account}:{p['QueueName']}"


def _lambda(action: str, p: dict[str, Any], principal: str, region: str, account: str, prefix: str) -> Request:
    """The tools switch only the mappings ListEventSourceMappings returns for the pipeline's processor."""
    if "UUID" in p:
        function = f"arn:aws:lambda:{region}:{account}:function:{prefix}-processor"
        return Request(principal, action, f"arn:aws:lambda:{region}:{account}:event-source-mapping:{p['UUID']}",
                       {"lambda:FunctionArn": function})
    return Request(principal, action, "*", {})


def _cloudformation(action: str, op: str, p: dict[str, Any], principal: str, region: str,
                    account: str) -> list[Request]:
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
