"""The StackSet execution role's permissions, derived from the rendered region templates.

For each resource type a template holds, CloudFormation's handlers need the permissions its resource schema
lists (``tap_templates/cfn_permissions.json``, generated from the schemas cfn-lint ships and checked against the AWS
service authorization reference by ``tests/deploy/test_execution_role.py``). Each action is granted on the
project's own resources where the action supports resource-level permissions, and on ``"*"`` only where it
does not (``Resource`` is then the only value IAM accepts):

- resources with names: the project's name patterns (``<project>-<env>-*`` and the path-named log groups and
  secrets);
- VPC resources, which have generated IDs: by the project's tags, set when CloudFormation creates them
  (``aws:RequestTag``) and required afterwards (``aws:ResourceTag``). Tagging an existing resource is allowed
  only on resources that already carry the tags, and at creation (``ec2:CreateAction``), so no other network
  of the account can be tagged into reach;
- KMS keys, which have generated IDs too: no IAM grant at all but creating a key with the project's tags. The
  key policy of each pipeline key names the execution role for the actions below (``key_policy_actions``), so
  tags grant nothing and tagging a key cannot bring it within reach;
- roles: CloudFormation names them after the instance stack (``StackSet-<project>-<env>-*``); every action
  that can change what a role may do requires the permissions boundary (``iam:PermissionsBoundary``), and
  the role may pass them only to the services the templates' roles trust;
- a few types whose IDs are generated and which take neither tags nor a name condition (Route 53 health
  checks, Config rules, scalable targets, code-signing configs, EFS): ``<type>/*`` of the account, listed in
  ``ID_BASED`` with the reason.

See https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
for resource types and condition keys, and
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-type-schemas.html for ``handlers``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from awacs import aws
from awacs.aws import Action, Condition, Statement
from troposphere import Sub

from tap_templates import naming, tags
from tap_templates.cfn_permissions import data, needed_actions, template_resource_types
from tap_templates.components import policies
from tap_templates.config import PipelineConfig
from tap_templates.errors import ConfigError

P, A = naming.PARTITION, naming.ACCOUNT
SCOPING_TAGS = ("Environment", "Project")

# VPC resources the templates create, scoped by tags; ("vpce", ...) is the same ARN under VPC endpoints' prefix.
TAGGED_NETWORK = ("vpc", "subnet", "security-group", "network-acl", "route-table", "vpc-endpoint", "vpc-flow-log",
                  "vpc-encryption-control")
# EC2 create actions and the resource each one creates (tagged in the same request); the others it names exist.
EC2_CREATES: dict[str, str] = {
    "CreateVpc": "vpc", "CreateSubnet": "subnet", "CreateSecurityGroup": "security-group",
    "CreateNetworkAcl": "network-acl", "CreateRouteTable": "route-table", "CreateVpcEndpoint": "vpc-endpoint",
    "CreateFlowLogs": "vpc-flow-log", "CreateVpcEncryptionControl": "vpc-encryption-control",
}
# Security group rules get IDs when authorized; the security group itself must be the project's (tagged).
SECURITY_GROUP_RULE = "security-group-rule"
# IAM role actions that can change what a role may do: each requires the pipeline's permissions boundary
# (the condition key iam:PermissionsBoundary is the boundary the role has, or is given).
BOUNDED_ROLE_ACTIONS = ("AttachRolePolicy", "CreateRole", "DeleteRole", "DeleteRolePolicy", "DetachRolePolicy",
                        "PutRolePermissionsBoundary", "PutRolePolicy", "UpdateAssumeRolePolicy", "UpdateRole",
                        "UpdateRoleDescription")
# Service-linked roles CloudFormation's handlers may create the first time in an account.
SERVICE_LINKED_ROLES = ("config.amazonaws.com", "contributorinsights.dynamodb.amazonaws.com",
                        "replication.dynamodb.amazonaws.com")
# Event source mapping actions that take lambda:FunctionArn; tagging them does not (and grants nothing).
ESM_BY_FUNCTION = ("CreateEventSourceMapping", "DeleteEventSourceMapping", "GetEventSourceMapping",
                   "UpdateEventSourceMapping")

# Actions without a resource type that still take a condition naming the project's resources.
NO_RESOURCE_CONDITIONS = {"kms:CreateKey": "RequestTagged", "lambda:CreateEventSourceMapping": "PipelineFunctions"}

# Types with generated IDs and no tag or name condition the handlers' calls carry: every one of the account.
ID_BASED: dict[tuple[str, str], tuple[str, str]] = {
    ("route53", "healthcheck"): (f"arn:{P}:route53:::healthcheck/*",
                                 "health check IDs are generated and Route 53 offers no condition on them"),
    ("route53", "change"): (f"arn:{P}:route53:::change/*",
                            "read-only: the status of a record change, whose ID Route 53 generates"),
    ("config", "ConfigRule"): (f"arn:{P}:config:*:{A}:config-rule/*",
                               "rule ARNs carry a generated ID, not the name, and AWS::Config::ConfigRule has no "
                               "tags to scope by"),
    ("application-autoscaling", "ScalableTarget"): (
        f"arn:{P}:application-autoscaling:*:{A}:scalable-target/*",
        "scalable target IDs are generated (called only for provisioned tables; the pipeline's is on-demand)"),
    ("lambda", "code signing config"): (f"arn:{P}:lambda:*:{A}:code-signing-config:*",
                                        "read when a function names one; IDs are generated"),
    ("lambda", "eventSourceMapping"): (f"arn:{P}:lambda:*:{A}:event-source-mapping:*",
                                       "mapping IDs are generated; lambda:FunctionArn names the project's "
                                       "functions where the action supports it"),
    ("elasticfilesystem", "file-system"): (f"arn:{P}:elasticfilesystem:*:{A}:file-system/*",
                                           "read-only, when a function mounts one; IDs are generated"),
    ("elasticfilesystem", "access-point"): (f"arn:{P}:elasticfilesystem:*:{A}:access-point/*",
                                            "read-only, when a function mounts one; IDs are generated"),
    ("route53-recovery-control-config", "routingcontrol"): (
        f"arn:{P}:route53-recovery-control::{A}:controlpanel/*/routingcontrol/*",
        "read-only, when a health check follows a routing control; IDs are generated"),
}




@dataclass(frozen=True, order=True)
class Grant:
    """One action on one resource pattern, under one kind of condition (``""``: none)."""

    condition: str
    action: str
    resource: str


def named(cfg: PipelineConfig) -> dict[tuple[str, str], tuple[str, ...]]:
    """(service, IAM resource type) -> the project's name patterns of that type."""
    p = naming.named_resources(cfg)
    paths = [f"arn:{P}:logs:*:{A}:log-group:{path}" for path in naming.path_named_resources(cfg)
             if path.startswith("/")]
    secrets = [f"arn:{P}:secretsmanager:*:{A}:secret:{path}" for path in naming.path_named_resources(cfg)
               if not path.startswith("/")]
    return {
        ("s3", "bucket"): (f"arn:{P}:s3:::{p}",), ("s3", "object"): (f"arn:{P}:s3:::{p}/*",),
        ("sqs", "queue"): (f"arn:{P}:sqs:*:{A}:{p}",), ("sns", "topic"): (f"arn:{P}:sns:*:{A}:{p}",),
        ("dynamodb", "table"): (f"arn:{P}:dynamodb:*:{A}:table/{p}",),
        ("dynamodb", "index"): (f"arn:{P}:dynamodb:*:{A}:table/{p}/index/*",),
        ("dynamodb", "stream"): (f"arn:{P}:dynamodb:*:{A}:table/{p}/stream/*",),
        ("dynamodb", "backup"): (f"arn:{P}:dynamodb:*:{A}:table/{p}/backup/*",),
        ("dynamodb", "export"): (f"arn:{P}:dynamodb:*:{A}:table/{p}/export/*",),
        ("dynamodb", "import"): (f"arn:{P}:dynamodb:*:{A}:table/{p}/import/*",),
        ("dynamodb", "global-table"): (f"arn:{P}:dynamodb::{A}:global-table/{p}",),
        ("lambda", "function"): (f"arn:{P}:lambda:*:{A}:function:{p}",),
        ("lambda", "function alias"): (f"arn:{P}:lambda:*:{A}:function:{p}:*",),
        ("lambda", "function version"): (f"arn:{P}:lambda:*:{A}:function:{p}:*",),
        ("lambda", "layerVersion"): (f"arn:{P}:lambda:*:{A}:layer:{p}:*",),
        ("lambda", "capacityProvider"): (f"arn:{P}:lambda:*:{A}:capacity-provider:{p}",),
        ("logs", "log-group"): tuple(paths),
        ("kms", "alias"): (f"arn:{P}:kms:*:{A}:alias/{p}",),
        ("cloudwatch", "alarm"): (f"arn:{P}:cloudwatch:*:{A}:alarm:{p}",),
        ("codedeploy", "application"): (f"arn:{P}:codedeploy:*:{A}:application:{p}",),
        ("codedeploy", "deploymentgroup"): (f"arn:{P}:codedeploy:*:{A}:deploymentgroup:{p}/*",),
        # The release's own canary config, and AWS's predefined ones (all-at-once) the group may name.
        ("codedeploy", "deploymentconfig"): (f"arn:{P}:codedeploy:*:{A}:deploymentconfig:{p}",
                                             f"arn:{P}:codedeploy:*:{A}:deploymentconfig:CodeDeployDefault.*"),
        ("codedeploy", "instance"): (f"arn:{P}:codedeploy:*:{A}:instance:{p}",),
        ("cloudwatch", "dashboard"): (f"arn:{P}:cloudwatch::{A}:dashboard/{p}",),
        ("cloudtrail", "trail"): (f"arn:{P}:cloudtrail:*:{A}:trail/{p}",),
        ("secretsmanager", "Secret"): tuple(secrets),
        ("firehose", "deliverystream"): (f"arn:{P}:firehose:*:{A}:deliverystream/{p}",),
        ("kinesis", "stream"): (f"arn:{P}:kinesis:*:{A}:stream/{p}",),
        ("s3tables", "TableBucket"): (f"arn:{P}:s3tables:*:{A}:bucket/{p}",),
        ("s3tables", "Table"): (f"arn:{P}:s3tables:*:{A}:bucket/{p}/table/*",),
    }


def stack_roles(cfg: PipelineConfig) -> str:
    return f"arn:{P}:iam::{A}:role/{naming.stack_instance_stacks(cfg)}"


def _ec2(action: str, resource_types: list[str]) -> list[Grant]:
    service, name = action.split(":", 1)
    if service == "vpce":  # permission-only actions checked with CreateVpcEndpoint, which is tag-scoped
        return [Grant("", action, f"arn:{P}:ec2:*:{A}:vpc-endpoint/*")]
    grants = []
    for kind in resource_types:
        if kind == SECURITY_GROUP_RULE:
            grants.append(Grant("", action, f"arn:{P}:ec2:*:{A}:{kind}/*"))
            continue
        if kind not in TAGGED_NETWORK:
            continue
        arn = f"arn:{P}:ec2:*:{A}:{kind}/*"
        if name == "CreateTags":
            grants += [Grant("TagOnCreate", action, arn), Grant("Retag", action, arn)]
        elif EC2_CREATES.get(name) == kind:
            grants.append(Grant("RequestTagged", action, arn))
        else:
            grants.append(Grant("ResourceTagged", action, arn))
    return grants


def _iam(cfg: PipelineConfig, name: str, resource_types: list[str]) -> list[Grant]:
    if "role" not in resource_types:
        return []
    action = f"iam:{name}"
    if name == "CreateServiceLinkedRole":
        return [Grant("ServiceLinkedRoles", action, f"arn:{P}:iam::{A}:role/aws-service-role/*")]
    if name == "PassRole":
        return [Grant("PassedToTemplateServices", action, stack_roles(cfg))]
    return [Grant("Bounded" if name in BOUNDED_ROLE_ACTIONS else "", action, stack_roles(cfg))]


def grants_for(cfg: PipelineConfig, action: str) -> list[Grant]:
    """Where and under what condition the execution role gets one action; [] when the key policy grants it."""
    resource_types = data()["actions"][action]
    service, name = action.split(":", 1)
    if not resource_types:  # "*" is the only resource IAM accepts; a condition narrows it where one applies
        return [Grant(NO_RESOURCE_CONDITIONS.get(action, ""), action, "*")]
    if service == "ec2" or (service == "vpce" and "vpc-endpoint" in resource_types):
        return _ec2(action, resource_types)
    if service == "iam":
        grants = _iam(cfg, name, resource_types)
    elif service == "kms":
        grants = [Grant("", action, f"arn:{P}:kms:*:{A}:alias/{naming.named_resources(cfg)}")] \
            if "alias" in resource_types else []
        if action == "kms:TagResource":  # tags given to a new key (CreateKey) need TagResource on all keys
            grants.append(Grant("RequestTagged", action, f"arn:{P}:kms:*:{A}:key/*"))
        return grants
    else:
        patterns = named(cfg)
        grants = [Grant("", action, arn) for kind in resource_types for arn in patterns.get((service, kind), ())]
        for kind in resource_types:
            if (service, kind) in ID_BASED:
                condition = "PipelineFunctions" if service == "lambda" and name in ESM_BY_FUNCTION else ""
                grants.append(Grant(condition, action, ID_BASED[service, kind][0]))
        if service == "route53" and "hostedzone" in resource_types and cfg.failover.hosted_zone_id:
            grants.append(Grant("", action, f"arn:{P}:route53:::hostedzone/{cfg.failover.hosted_zone_id}"))
    if not grants:
        raise ConfigError(f"{action} applies to {', '.join(resource_types)}, none of which the execution role "
                          "knows how to scope: add it to tap_templates/deploy/permissions.py")
    return grants








def grants(cfg: PipelineConfig, bodies: Iterable[dict[str, Any]]) -> list[Grant]:
    return sorted({g for a in needed_actions(template_resource_types(bodies)) for g in grants_for(cfg, a)})


def trusted_services(bodies: Iterable[dict[str, Any]]) -> list[str]:
    """The service principals the templates' roles trust: the only services the execution role passes roles to."""
    found = set()
    for body in bodies:
        for resource in body.get("Resources", {}).values():
            if resource["Type"] == "AWS::IAM::Role":
                for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                    service = statement.get("Principal", {}).get("Service")
                    found |= set(service if isinstance(service, list) else [service] if service else [])
    return sorted(found)


def conditions(cfg: PipelineConfig, bodies: Iterable[dict[str, Any]]) -> dict[str, Condition]:
    values = {k: v for k, v in tags.values(cfg).items() if k in SCOPING_TAGS}
    request = {f"aws:RequestTag/{k}": v for k, v in values.items()}
    resource = {f"aws:ResourceTag/{k}": v for k, v in values.items()}
    return {
        "RequestTagged": Condition(aws.StringEquals(request)),
        "ResourceTagged": Condition(aws.StringEquals(resource)),
        "TagOnCreate": Condition([aws.StringEquals({"ec2:CreateAction": sorted(EC2_CREATES), **request})]),
        "Retag": Condition([aws.StringEquals(resource), aws.StringEqualsIfExists(request)]),
        "Bounded": Condition(aws.StringEquals("iam:PermissionsBoundary", Sub(naming.boundary_arn(cfg)))),
        "PassedToTemplateServices": Condition(aws.StringEquals("iam:PassedToService", trusted_services(bodies))),
        "ServiceLinkedRoles": Condition(aws.StringEquals("iam:AWSServiceName", list(SERVICE_LINKED_ROLES))),
        "PipelineFunctions": Condition(aws.ArnLike(
            "lambda:FunctionArn", Sub(f"arn:{P}:lambda:*:{A}:function:{naming.named_resources(cfg)}"))),
    }


def statements(cfg: PipelineConfig, bodies: list[dict[str, Any]]) -> list[Statement]:
    """The grants as few statements as their conditions allow: actions needing exactly the same resources under
    the same condition share one statement (a statement grants every action on every resource it lists)."""
    by_action: dict[tuple[str, str], set[str]] = {}
    for g in grants(cfg, bodies):
        by_action.setdefault((g.condition, g.action), set()).add(g.resource)
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (condition, action), resources in sorted(by_action.items()):
        groups.setdefault((condition, tuple(sorted(resources))), []).append(action)
    found = conditions(cfg, bodies)
    result = []
    for number, ((condition, resources), actions) in enumerate(sorted(groups.items()), start=1):
        result.append(policies.allow([Action(*a.split(":", 1)) for a in actions], list(resources),
                                     found[condition] if condition else None,
                                     sid=f"{condition or 'Scoped'}{number}"))
    return result
