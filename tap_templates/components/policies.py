"""IAM policy building blocks, all written with awacs.

Statements are small lists that compose by concatenation. Every document gets ``Version: 2012-10-17``
here, so no caller can forget it, and every ARN goes through ``Sub`` so ``${AWS::Partition}`` and
``${AWS::AccountId}`` resolve in whichever account and partition the stack lands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from awacs import aws
from awacs.aws import Action, Allow, Condition, Deny, Principal, Statement
from troposphere import AWSHelperFn, AWSObject, GetAtt, Join, Ref, Sub

from tap_templates import naming

if TYPE_CHECKING:
    from tap_templates.config import PipelineConfig

Resource = str | AWSHelperFn
VERSION = "2012-10-17"


def document(statements: Sequence[Statement]) -> aws.PolicyDocument:
    return aws.PolicyDocument(Version=VERSION, Statement=list(statements))


def sub(value: Resource) -> Resource:
    """Plain strings that contain ${...} become Sub; CloudFormation functions pass through."""
    return Sub(value) if isinstance(value, str) and "${" in value else value


def actions(service: str, *names: str) -> list[Action]:
    return [Action(service, name) for name in names]


def allow(action_list: Sequence[Action], resources: Sequence[Resource], condition: Condition | None = None,
          sid: str | None = None) -> Statement:
    kwargs = {"Condition": condition} if condition else {}
    if sid:
        kwargs["Sid"] = sid
    return Statement(Effect=Allow, Action=list(action_list), Resource=[sub(r) for r in resources], **kwargs)


def account_root() -> Principal:
    return Principal("AWS", Sub(f"arn:{naming.PARTITION}:iam::{naming.ACCOUNT}:root"))


def service_principal(service: str) -> Principal:
    return Principal("Service", service)


BOUNDARY_LOGICAL_ID = "RoleBoundary"


def role_boundary(cfg: PipelineConfig) -> AWSHelperFn:
    """Every role of the region templates carries the permissions boundary (deploy/roles.py): the one the roles
    template creates in the account, or with service-managed StackSets, where AWS Organizations' role deploys
    and no roles template is needed, the region template's own."""
    if cfg.stacksets.permission_model == "SERVICE_MANAGED":
        return Ref(BOUNDARY_LOGICAL_ID)
    return Sub(naming.boundary_arn(cfg))


def bucket_and_objects(bucket: AWSObject) -> list[AWSHelperFn]:
    """A bucket's ARN and its objects', as local references (the form AWS Control Tower's CT.S3.PR.8
    recognizes as the bucket's own: GetAtt Arn and Join of it with "/*")."""
    arn = GetAtt(bucket, "Arn")
    return [arn, Join("", [arn, "/*"])]


def deny_insecure_transport(service: str, resources: Sequence[Resource]) -> Statement:
    """Refuse any request over plain HTTP. A Deny with the service's wildcard is the point: it must cover
    actions AWS adds later too (see tap_templates/components/iam_rules.py)."""
    return Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[Action(service, "*")],
        Resource=[sub(r) for r in resources],
        Condition=Condition(aws.Bool("aws:SecureTransport", "false")),
    )


def source_conditions(source_arn: Resource) -> Condition:
    """Confused-deputy guard for service principals: only this account's named resource may call."""
    return Condition([
        aws.ArnEquals("aws:SourceArn", sub(source_arn)),
        aws.StringEquals("aws:SourceAccount", Sub(naming.ACCOUNT)),
    ])
