"""The roles template, ``build/<env>/stackset-roles.json``: the permissions boundary of every role the region
templates create, and the two IAM roles self-managed StackSets need.

- The *permissions boundary* (``<project>-<env>-role-boundary``) caps every role of the region templates at
  what those roles' own policies use, on the project's resources. The execution role may create or change a
  role only with this boundary attached (``iam:PermissionsBoundary``) and cannot change the boundary itself,
  so writing a policy into a role, or code into a function that runs with one, never reaches beyond it.
- The *administration* role lives in the account that runs ``scripts/deploy.py``. CloudFormation assumes it
  and it may do one thing: assume this project's execution role in the target accounts.
- The *execution* role lives in every target account. CloudFormation creates the stack instances with it.
  Its permissions are derived from the region templates (``tap_templates/deploy/permissions.py``): what
  each resource type's CloudFormation handlers need, on this project's resources, instead of the
  ``AdministratorAccess`` of AWS's sample role.

Deploy the template once per account (``python scripts/deploy.py roles``, or ``aws cloudformation deploy`` in
another target account with ``AdministratorAccountId``): the administration role is created only where the
administrator account is the account itself. Project-specific role names, not AWS's default
``AWSCloudFormationStackSet*`` names, keep one project's StackSets from reaching another project's resources.
With service-managed StackSets neither role is the project's and each region template creates its own
boundary (so an account that joins an organizational unit gets it with the stack that needs it).
"""

from __future__ import annotations

import json
from typing import Any

from awacs import aws
from awacs.aws import Action, Condition, Principal, Statement
from troposphere import Equals, GetAtt, If, Or, Output, Parameter, Ref, Sub, Template, iam

from tap_templates import naming, tags
from tap_templates.components import policies, scanner_skips
from tap_templates.config import PipelineConfig
from tap_templates.deploy import permissions
from tap_templates.errors import ConfigError

FORMAT_VERSION = "2010-09-09"
ADMIN_ACCOUNT_PARAMETER = "AdministratorAccountId"
THIS_ACCOUNT_IS_ADMIN = "ThisAccountAdministers"
NO_ADMIN_ACCOUNT_GIVEN = "AdministratorIsThisAccount"
# IAM quotas: 6,144 characters per managed policy (whitespace not counted), 10 managed policies per role.
POLICY_BUDGET = 6000
MAX_MANAGED_POLICIES = 10


def _arn(service: str, resource: str, region: str = "*", account: str = naming.ACCOUNT) -> str:
    return f"arn:{naming.PARTITION}:{service}:{region}:{account}:{resource}"


def administration_statements(cfg: PipelineConfig) -> list[Statement]:
    """Assume the execution role, by name, in any account: the accounts are chosen per deploy."""
    execution = f"arn:{naming.PARTITION}:iam::*:role/{naming.stackset_execution_role(cfg)}"
    return [policies.allow([Action("sts", "AssumeRole")], [execution], sid="AssumeProjectExecutionRole")]


def stack_statements(cfg: PipelineConfig) -> list[Statement]:
    """What CloudFormation does with the instance stacks themselves when StackSets drive them; StackSet drift
    detection (``deploy drift``) detects each instance stack's drift with this role too (AWS CloudFormation User
    Guide, "Detecting unmanaged changes in StackSets"), reading each resource with the read permissions the
    resource types need."""
    stacks = _arn("cloudformation", f"stack/{naming.stack_instance_stacks(cfg)}")
    actions = ("CreateStack", "DeleteStack", "DescribeStackEvents", "DescribeStacks", "GetTemplate",
               "UpdateStack", "DescribeStackResources", "ListStackResources", "DetectStackDrift",
               "DetectStackResourceDrift", "DescribeStackResourceDrifts")
    return [policies.allow([Action("cloudformation", a) for a in actions], [stacks], sid="ManageStackInstances")]


def _size(statement: Statement) -> int:
    """Characters IAM counts (no whitespace), with the pseudo parameters at their longest resolved values."""
    probe = Template()
    probe.add_resource(iam.ManagedPolicy("Probe", PolicyDocument=policies.document([statement])))
    rendered = probe.to_dict()["Resources"]["Probe"]["Properties"]["PolicyDocument"]["Statement"][0]
    text = json.dumps(rendered, separators=(",", ":"))
    return len(text.replace(naming.PARTITION, "aws-us-gov").replace(naming.ACCOUNT, "123456789012"))


def chunks(statements: list[Statement], budget: int = POLICY_BUDGET) -> list[list[Statement]]:
    """Statements packed in order into documents under IAM's managed-policy size limit."""
    found: list[list[Statement]] = [[]]
    used = 0
    for statement in statements:
        size = _size(statement) + 1
        if found[-1] and used + size > budget:
            found.append([])
            used = 0
        found[-1].append(statement)
        used += size
    return found


def execution_statements(cfg: PipelineConfig, bodies: list[dict[str, Any]]) -> list[Statement]:
    """Every permission the region templates' handlers need, scoped (tap_templates/deploy/permissions.py)."""
    return [*stack_statements(cfg), *permissions.statements(cfg, bodies)]


def execution_policies(cfg: PipelineConfig, bodies: list[dict[str, Any]]) -> list[iam.ManagedPolicy]:
    """Managed policies rather than inline ones: the permissions exceed the 10,240 characters a role's inline
    policies may hold together, and a role may carry 10 managed policies of 6,144 characters each
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)."""
    parts = chunks(execution_statements(cfg, bodies))
    if len(parts) > MAX_MANAGED_POLICIES:
        raise ConfigError(f"the execution role needs {len(parts)} managed policies; IAM attaches at most "
                          f"{MAX_MANAGED_POLICIES} to a role")
    return [iam.ManagedPolicy(
        f"ExecutionPolicy{number}",
        ManagedPolicyName=f"{naming.stackset_execution_role(cfg)}-{number}",
        Description=f"StackSet execution role of {naming.prefix(cfg)}, part {number} of {len(parts)}",
        PolicyDocument=policies.document(part)) for number, part in enumerate(parts, start=1)]


def boundary_statements(cfg: PipelineConfig, bodies: list[dict[str, Any]]) -> list[Statement]:
    """What any role of the region templates may ever do: the actions their policies use, per service, on the
    project's resources only. A role the execution role creates or changes must carry this boundary, so
    whatever it writes into a role's policy or passes to a function never reaches beyond it."""
    used: dict[str, set[str]] = {}
    for body in bodies:
        for resource in body.get("Resources", {}).values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    for action in actions:
                        service, name = action.split(":", 1)
                        used.setdefault(service, set()).add(name)
    where = boundary_resources(cfg)
    found = []
    for service in sorted(used):
        if service not in where:
            raise ConfigError(f"a template role uses {service}, which the permissions boundary does not cover: "
                              "add it to tap_templates/deploy/roles.py boundary_resources")
        resources, condition = where[service]
        sid = f"Pipeline{service.title().replace('-', '')}"
        reads = sorted(a for a in used[service] if service == "ec2" and a.startswith("Describe"))
        writes = sorted(used[service] - set(reads))
        if writes:
            found.append(policies.allow([Action(service, a) for a in writes], resources, condition, sid=sid))
        if reads:  # EC2's Describe actions take no resource
            found.append(policies.allow([Action(service, a) for a in reads], ["*"], condition, sid=f"{sid}Describe"))
    return found


def boundary_resources(cfg: PipelineConfig) -> dict[str, tuple[list[str], Condition | None]]:
    p = naming.named_resources(cfg)
    logs = [_arn("logs", f"log-group:{path}") for path in naming.path_named_resources(cfg) if path.startswith("/")]
    secrets = [_arn("secretsmanager", f"secret:{path}") for path in naming.path_named_resources(cfg)
               if not path.startswith("/")]
    aliases = aws.ForAnyValueStringLike("kms:ResourceAliases", f"alias/{p}")
    return {
        "s3": ([f"arn:{naming.PARTITION}:s3:::{p}", f"arn:{naming.PARTITION}:s3:::{p}/*"], None),
        "sqs": ([_arn("sqs", p)], None),
        "dynamodb": ([_arn("dynamodb", f"table/{p}")], None),
        "logs": (logs, None),
        "secretsmanager": (secrets, None),
        "kms": ([_arn("kms", "key/*")], Condition(aliases)),
        # Lambda manages the function's network interfaces with its role; they have generated IDs.
        "ec2": ([_arn("ec2", f"{kind}/*") for kind in ("network-interface", "security-group", "subnet")],
                Condition(aws.StringEquals("aws:RequestedRegion", list(cfg.regions)))),
        # X-Ray's write API takes no resource.
        "xray": (["*"], None),
        # CodeDeploy's release role moves the function's live alias and reads the release alarms.
        "lambda": ([_arn("lambda", f"function:{p}"), _arn("lambda", f"function:{p}:*")], None),
        "cloudwatch": ([_arn("cloudwatch", f"alarm:{p}")], None),
    }


def boundary_policy(cfg: PipelineConfig, bodies: list[dict[str, Any]], region: str = "") -> iam.ManagedPolicy:
    """In the roles template; with service-managed StackSets in each region template instead (``region``)."""
    return iam.ManagedPolicy(
        policies.BOUNDARY_LOGICAL_ID,
        ManagedPolicyName=f"{naming.role_boundary(cfg)}-{region}" if region else naming.role_boundary(cfg),
        Description=f"Permissions boundary of every role the {naming.prefix(cfg)} templates create",
        PolicyDocument=policies.document(boundary_statements(cfg, bodies)))


def administration_role(cfg: PipelineConfig) -> iam.Role:
    """Trusted by CloudFormation only for this project's StackSets in this account (confused-deputy guard)."""
    stack_sets = _arn("cloudformation", f"stackset/{naming.named_resources(cfg)}")
    trust = Statement(
        Effect=aws.Allow,
        Principal=policies.service_principal("cloudformation.amazonaws.com"),
        Action=[Action("sts", "AssumeRole")],
        Condition=Condition([
            aws.StringEquals("aws:SourceAccount", Sub(naming.ACCOUNT)),
            aws.ArnLike("aws:SourceArn", Sub(stack_sets)),
        ]),
    )
    return iam.Role(
        "AdministrationRole",
        Condition=THIS_ACCOUNT_IS_ADMIN,
        RoleName=naming.stackset_administration_role(cfg),
        Description=f"CloudFormation StackSets administration role of {naming.prefix(cfg)}",
        AssumeRolePolicyDocument=policies.document([trust]),
        Policies=[iam.Policy(PolicyName="assume-execution-role",
                             PolicyDocument=policies.document(administration_statements(cfg)))],
    )


def execution_role(cfg: PipelineConfig, admin_account: If, managed: list[iam.ManagedPolicy]) -> iam.Role:
    """Trusted by the administrator account, and there only by its administration role."""
    admin_role = Sub(f"arn:{naming.PARTITION}:iam::${{Admin}}:role/{naming.stackset_administration_role(cfg)}",
                     Admin=admin_account)
    trust = Statement(
        Effect=aws.Allow,
        Principal=Principal("AWS", Sub(f"arn:{naming.PARTITION}:iam::${{Admin}}:root", Admin=admin_account)),
        Action=[Action("sts", "AssumeRole")],
        Condition=Condition(aws.ArnEquals("aws:PrincipalArn", admin_role)),
    )
    return iam.Role(
        "ExecutionRole",
        RoleName=naming.stackset_execution_role(cfg),
        Description=f"CloudFormation StackSets execution role of {naming.prefix(cfg)}: its resources only",
        AssumeRolePolicyDocument=policies.document([trust]),
        ManagedPolicyArns=[Ref(policy) for policy in managed],
    )


def build(cfg: PipelineConfig, bodies: list[dict[str, Any]]) -> Template:
    """The roles template for the region templates ``bodies`` (self-managed StackSets only: with service-managed
    ones AWS Organizations provides the roles and each region template carries its boundary)."""
    if cfg.stacksets.permission_model == "SERVICE_MANAGED":
        raise ConfigError("service-managed StackSets use AWS Organizations' roles: there is no roles template")
    template = Template(Description=f"tap-pipeline {cfg.environment}: self-managed StackSet administration and "
                                    "execution roles and the pipeline roles' permissions boundary (deploy once per "
                                    "account)")
    template.set_version(FORMAT_VERSION)
    template.add_resource(boundary_policy(cfg, bodies))
    template.add_output(Output("RoleBoundaryArn", Value=Ref(policies.BOUNDARY_LOGICAL_ID)))
    add_stackset_roles(template, cfg, bodies)
    tags.apply(template, cfg)
    scanner_skips.apply(template)
    return template


def add_stackset_roles(template: Template, cfg: PipelineConfig, bodies: list[dict[str, Any]]) -> None:
    admin_account = template.add_parameter(Parameter(
        ADMIN_ACCOUNT_PARAMETER, Type="String", Default="", AllowedPattern=r"^(\d{12})?$",
        Description="Account that runs scripts/deploy.py; empty for this account",
    ))
    template.add_condition(NO_ADMIN_ACCOUNT_GIVEN, Equals(Ref(admin_account), ""))
    template.add_condition(THIS_ACCOUNT_IS_ADMIN, Or(
        Equals(Ref(admin_account), ""), Equals(Ref(admin_account), Ref("AWS::AccountId"))))
    admin = If(NO_ADMIN_ACCOUNT_GIVEN, Ref("AWS::AccountId"), Ref(admin_account))
    administration = template.add_resource(administration_role(cfg))
    managed = [template.add_resource(p) for p in execution_policies(cfg, bodies)]
    execution = template.add_resource(execution_role(cfg, admin, managed))
    template.add_output(Output("AdministrationRoleArn", Condition=THIS_ACCOUNT_IS_ADMIN,
                               Value=GetAtt(administration, "Arn")))
    template.add_output(Output("ExecutionRoleName", Value=Ref(execution)))
    template.add_output(Output("ExecutionRoleArn", Value=GetAtt(execution, "Arn")))
