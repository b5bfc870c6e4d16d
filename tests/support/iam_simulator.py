"""Policies as AWS evaluates them, offline: the rendered templates' documents resolved for the sample account,
and ``@cloud-copilot/iam-simulate`` (npm, installed by ``.ci/run``) deciding requests against them together:
the caller's identity policies, its permissions boundary, the resource's policy (bucket, queue, key) and the
VPC endpoint's policy, as in https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html.

moto evaluates none of this (a bucket policy, a key policy or an endpoint policy never denies there), so every
permission test runs its requests through here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tap_templates import naming
from tests.support.rendered import RegionTemplate, rendering, templates

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("simulate.mjs")
PACKAGE = ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate"
ACCOUNT = naming.SAMPLE_ACCOUNT
ALLOWED = "Allowed"


def require() -> None:
    """Skip where the npm packages are not installed (a developer who has not run ``npm ci``); in CI, where
    ``.ci/run`` installs them, a missing simulator is a failure."""
    missing = [what for what, ok in (("node", shutil.which("node")), (str(PACKAGE), PACKAGE.is_dir())) if not ok]
    if missing:
        message = f"IAM simulator not installed ({', '.join(missing)}): run npm ci at the repository root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@dataclass(frozen=True)
class Request:
    principal: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    account: str = ACCOUNT


@dataclass(frozen=True)
class Policies:
    """Everything that decides a request besides the request itself."""

    identity: tuple[dict[str, Any], ...] = ()
    boundary: dict[str, Any] | None = None
    resource: dict[str, Any] | None = None
    endpoint: dict[str, Any] | None = None


def simulation(request: Request, policies: Policies) -> dict[str, Any]:
    found: dict[str, Any] = {
        "request": {"principal": request.principal, "action": request.action,
                    "resource": {"resource": request.resource, "accountId": request.account},
                    "contextVariables": request.context},
        "identityPolicies": [{"name": f"identity{i}", "policy": p} for i, p in enumerate(policies.identity)],
        "serviceControlPolicies": [], "resourceControlPolicies": [],
    }
    if policies.boundary is not None:
        found["permissionBoundaryPolicies"] = [{"name": "boundary", "policy": policies.boundary}]
    if policies.resource is not None:
        found["resourcePolicy"] = policies.resource
    if policies.endpoint is not None:
        found["vpcEndpointPolicies"] = [{"name": "endpoint", "policy": policies.endpoint}]
    return found


def decide(cases: list[tuple[Request, Policies]]) -> list[str]:
    """The simulator's decision for each case, in order; an invalid request (unknown action, a resource of
    the wrong type, an unknown condition key) is an error, never a decision."""
    require()
    if not cases:
        return []
    done = subprocess.run(["node", str(RUNNER)], input=json.dumps([simulation(r, p) for r, p in cases]),
                          capture_output=True, text=True, cwd=ROOT, timeout=600, check=True)
    results = json.loads(done.stdout)
    errors = [(r, res["error"]) for (r, _), res in zip(cases, results, strict=True) if "error" in res]
    assert not errors, f"the simulator refused {len(errors)} request(s), first: {errors[0]}"
    return [res["result"] for res in results]


# --- the rendered documents, resolved for the sample account --------------------------------------------------

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def physical(t: RegionTemplate, logical_id: str, attribute: str | None = None) -> str:
    """What Ref or GetAtt of a template resource gives in the sample account."""
    resource = t.resources[logical_id]
    kind, props = resource["Type"], resource.get("Properties", {})
    name = {"AWS::S3::Bucket": "BucketName", "AWS::SQS::Queue": "QueueName", "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::SNS::Topic": "TopicName", "AWS::Lambda::Function": "FunctionName",
            "AWS::DynamoDB::GlobalTable": "TableName", "AWS::CloudTrail::Trail": "TrailName"}.get(kind)
    value = resolve(props[name], t) if name else None
    region, account = t.region, ACCOUNT
    arns = {
        "AWS::S3::Bucket": lambda: f"arn:aws:s3:::{value}",
        "AWS::SQS::Queue": lambda: f"arn:aws:sqs:{region}:{account}:{value}",
        "AWS::KMS::Key": lambda: f"arn:aws:kms:{region}:{account}:key/{KEY_ID}",
        "AWS::Logs::LogGroup": lambda: f"arn:aws:logs:{region}:{account}:log-group:{value}:*",
        "AWS::SNS::Topic": lambda: f"arn:aws:sns:{region}:{account}:{value}",
        "AWS::Lambda::Function": lambda: f"arn:aws:lambda:{region}:{account}:function:{value}",
        "AWS::DynamoDB::GlobalTable": lambda: f"arn:aws:dynamodb:{region}:{account}:table/{value}",
        "AWS::IAM::Role": lambda: role_arn(t, logical_id),
        "AWS::CloudTrail::Trail": lambda: f"arn:aws:cloudtrail:{region}:{account}:trail/{value}",
    }
    if attribute == "Arn":
        return arns[kind]()
    refs = {"AWS::SQS::Queue": lambda: f"https://sqs.{region}.amazonaws.com/{account}/{value}",
            "AWS::KMS::Key": lambda: KEY_ID, "AWS::SNS::Topic": arns["AWS::SNS::Topic"]}
    if kind in refs:
        return refs[kind]()
    if value is not None:
        return value
    return f"{kind.split('::')[-1].lower()}-{abs(hash(logical_id)) % 10**8:08d}"


def deployer_documents(env: str, t: RegionTemplate | None = None) -> tuple[dict[str, Any], ...]:
    """Every managed policy of ``build/<env>/deployer-policy.json``, resolved (the deploying identity has them
    all attached)."""
    body = json.loads(rendering(env).deployer)
    return tuple(resolve(r["Properties"]["PolicyDocument"], t or templates(env)[0])
                 for r in body["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy")


def role_arn(t: RegionTemplate, logical_id: str) -> str:
    """CloudFormation names a template's role after the instance stack: StackSet-<stack set>-<id>-<logical ID>."""
    from tests.support.rendered import config

    return f"arn:aws:iam::{ACCOUNT}:role/StackSet-{naming.prefix(config(t.env))}-{t.region}-0a1b-{logical_id}"


def resolve(value: Any, t: RegionTemplate) -> Any:
    """A template value with its intrinsic functions evaluated for the sample account (conditions as rendered:
    ``Fn::If`` takes its first branch, ``AWS::NoValue`` drops the item)."""
    if isinstance(value, list):
        return [v for v in (resolve(v, t) for v in value) if v is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {k: v for k, v in ((k, resolve(v, t)) for k, v in value.items()) if v is not _NO_VALUE}
    (function, argument), = value.items()
    if function == "Ref":
        return _pseudo(argument, t) if argument.startswith("AWS::") else physical(t, argument)
    if function == "Fn::GetAtt":
        return physical(t, argument[0], argument[1])
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        return _substitute(text, {k: resolve(v, t) for k, v in variables.items()}, t)
    if function == "Fn::Join":
        return argument[0].join(str(resolve(v, t)) for v in argument[1])
    if function == "Fn::If":
        return resolve(argument[1], t)
    return {function: resolve(argument, t)}


_NO_VALUE = object()


def _pseudo(name: str, t: RegionTemplate) -> Any:
    return {"AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::Region": t.region,
            "AWS::NoValue": _NO_VALUE, "AWS::StackName": f"StackSet-{t.region}"}[name]


def _substitute(text: str, variables: dict[str, Any], t: RegionTemplate) -> str:
    import re

    def one(match: re.Match[str]) -> str:
        name = match[1]
        if name in variables:
            return str(variables[name])
        if name.startswith("AWS::"):
            return str(_pseudo(name, t))
        logical_id, _, attribute = name.partition(".")
        return physical(t, logical_id, attribute or None)

    return re.sub(r"\$\{([^}!]+)\}", one, text)
