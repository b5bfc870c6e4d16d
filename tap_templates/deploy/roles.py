"""The two IAM roles self-managed StackSets need, as one template: ``build/<env>/stackset-roles.json``.

- The *administration* role lives in the account that runs ``scripts/deploy.py``. CloudFormation assumes it
  and it may do one thing: assume this project's execution role in the target accounts.
- The *execution* role lives in every target account. CloudFormation creates the stack instances with it,
  so it may manage the stack instances and this project's resources only (everything the pipeline names
  from ``<project>-<env>``), instead of the ``AdministratorAccess`` of AWS's sample role.

Deploy the template once per account (``python scripts/deploy.py roles``, or ``aws cloudformation deploy`` in
another target account with ``AdministratorAccountId``): the administration role is created only where the
administrator account is the account itself. Project-specific role names, not AWS's default
``AWSCloudFormationStackSet*`` names, keep one project's StackSets from reaching another project's resources.

When a component starts using a new AWS service, add its statement here: ``tests/deploy`` checks that every
resource type in the region templates belongs to a service the execution role manages.
"""

from __future__ import annotations

from awacs import aws
from awacs.aws import Action, Condition, Principal, Statement
from troposphere import Equals, GetAtt, If, Or, Output, Parameter, Ref, Sub, Template, iam

from tap_templates import naming, tags
from tap_templates.components import policies, scanner_skips
from tap_templates.config import PipelineConfig

FORMAT_VERSION = "2010-09-09"
ADMIN_ACCOUNT_PARAMETER = "AdministratorAccountId"
THIS_ACCOUNT_IS_ADMIN = "ThisAccountAdministers"
NO_ADMIN_ACCOUNT_GIVEN = "AdministratorIsThisAccount"
# The services the region templates use, each managed by the execution role (see execution_statements).
MANAGED_SERVICES = ("cloudformation", "cloudtrail", "cloudwatch", "codedeploy", "config", "dynamodb", "ec2", "iam",
                    "kms", "lambda", "logs", "route53", "s3", "secretsmanager", "sns", "sqs")


def _arn(service: str, resource: str, region: str = "*", account: str = naming.ACCOUNT) -> str:
    return f"arn:{naming.PARTITION}:{service}:{region}:{account}:{resource}"


def _wildcards(service: str, *names: str) -> list[Action]:
    return [Action(service, name) for name in names]


def administration_statements(cfg: PipelineConfig) -> list[Statement]:
    """Assume the execution role, by name, in any account: the accounts are chosen per deploy."""
    execution = f"arn:{naming.PARTITION}:iam::*:role/{naming.stackset_execution_role(cfg)}"
    return [policies.allow([Action("sts", "AssumeRole")], [execution], sid="AssumeProjectExecutionRole")]


def stack_statements(cfg: PipelineConfig) -> list[Statement]:
    stacks = _arn("cloudformation", f"stack/{naming.stack_instance_stacks(cfg)}")
    return [policies.allow([Action("cloudformation", "*")], [stacks], sid="ManageStackInstances")]


def storage_statements(cfg: PipelineConfig) -> list[Statement]:
    """Buckets (ingestion, access logs, audit) and reading the handler zip from the artifacts bucket."""
    named = naming.named_resources(cfg)
    return [policies.allow([Action("s3", "*")], [f"arn:{naming.PARTITION}:s3:::{named}",
                                                 f"arn:{naming.PARTITION}:s3:::{named}/*"], sid="ManageBuckets")]


def messaging_statements(cfg: PipelineConfig) -> list[Statement]:
    named = naming.named_resources(cfg)
    return [
        policies.allow([Action("sqs", "*")], [_arn("sqs", named)], sid="ManageQueues"),
        policies.allow([Action("sns", "*")], [_arn("sns", named)], sid="ManageTopics"),
    ]


def compute_statements(cfg: PipelineConfig) -> list[Statement]:
    """Event source mappings have random IDs: they are managed on the account's mappings, but only for the
    project's functions (``lambda:FunctionArn``); creating one has no resource type, only that condition."""
    named = naming.named_resources(cfg)
    function = _arn("lambda", f"function:{named}")
    for_our_functions = Condition(aws.ArnLike("lambda:FunctionArn", Sub(function)))
    return [
        policies.allow([Action("lambda", "*")], [function], sid="ManageFunction"),
        policies.allow(_wildcards("lambda", "CreateEventSourceMapping"), ["*"], for_our_functions,
                       sid="CreateEventSourceMappings"),
        policies.allow(_wildcards("lambda", "GetEventSourceMapping", "UpdateEventSourceMapping",
                                  "DeleteEventSourceMapping"),
                       [_arn("lambda", "event-source-mapping:*")], for_our_functions, sid="ManageEventSourceMappings"),
        policies.allow(_wildcards("lambda", "TagResource", "UntagResource", "ListTags"),
                       [_arn("lambda", "event-source-mapping:*")], sid="TagEventSourceMappings"),
        policies.allow(_wildcards("lambda", "ListEventSourceMappings"), ["*"], sid="ListEventSourceMappings"),
    ]


def data_statements(cfg: PipelineConfig) -> list[Statement]:
    named = naming.named_resources(cfg)
    secrets = [_arn("secretsmanager", f"secret:{p}") for p in naming.path_named_resources(cfg)]
    return [
        policies.allow([Action("dynamodb", "*")], [_arn("dynamodb", f"table/{named}")], sid="ManageTable"),
        policies.allow([Action("secretsmanager", "*")], secrets, sid="ManageSecrets"),
    ]


def key_statements(cfg: PipelineConfig) -> list[Statement]:
    """A new key has no name to scope by: creating one is allowed with the project's tags, everything else
    only on keys carrying them (each key's own policy still decides who may use it)."""
    project_tags = {f"aws:RequestTag/{k}": v for k, v in tags.values(cfg).items() if k in ("Environment", "Project")}
    resource_tags = {f"aws:ResourceTag/{k}": v for k, v in tags.values(cfg).items() if k in ("Environment", "Project")}
    return [
        policies.allow(_wildcards("kms", "CreateKey", "TagResource"), ["*"],
                       Condition(aws.StringEquals(project_tags)), sid="CreateProjectKeys"),
        policies.allow(_wildcards("kms", "ListAliases", "ListKeys"), ["*"], sid="ListKeys"),
        policies.allow([Action("kms", "*")], [_arn("kms", "key/*")],
                       Condition(aws.StringEquals(resource_tags)), sid="ManageProjectKeys"),
        policies.allow([Action("kms", "*")], [_arn("kms", f"alias/{naming.named_resources(cfg)}")],
                       sid="ManageProjectAliases"),
    ]


def identity_statements(cfg: PipelineConfig) -> list[Statement]:
    """CloudFormation names the template's roles after the instance stack (StackSet-<prefix>-...)."""
    roles = f"arn:{naming.PARTITION}:iam::{naming.ACCOUNT}:role/{naming.stack_instance_stacks(cfg)}"
    role_actions = _wildcards("iam", "CreateRole", "DeleteRole", "GetRole", "UpdateRole", "UpdateRoleDescription",
                              "UpdateAssumeRolePolicy", "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy",
                              "ListRolePolicies", "ListAttachedRolePolicies", "TagRole", "UntagRole", "ListRoleTags")
    pass_to = ["lambda.amazonaws.com", "s3.amazonaws.com", "vpc-flow-logs.amazonaws.com", "config.amazonaws.com",
               "cloudtrail.amazonaws.com", "codedeploy.amazonaws.com"]
    linked = ["replication.dynamodb.amazonaws.com", "config.amazonaws.com"]
    return [
        policies.allow(role_actions, [roles], sid="ManageStackRoles"),
        policies.allow([Action("iam", "PassRole")], [roles],
                       Condition(aws.StringEquals("iam:PassedToService", pass_to)), sid="PassStackRoles"),
        policies.allow([Action("iam", "CreateServiceLinkedRole")], ["*"],
                       Condition(aws.StringEquals("iam:AWSServiceName", linked)), sid="GlobalTableReplication"),
    ]


def observability_statements(cfg: PipelineConfig) -> list[Statement]:
    named = naming.named_resources(cfg)
    groups = [_arn("logs", f"log-group:{p}") for p in naming.path_named_resources(cfg)]
    return [
        policies.allow([Action("logs", "*")], groups, sid="ManageLogGroups"),
        policies.allow(_wildcards("logs", "DescribeLogGroups"), ["*"], sid="FindLogGroups"),
        policies.allow([Action("cloudwatch", "*")],
                       [_arn("cloudwatch", f"alarm:{named}"), _arn("cloudwatch", f"dashboard/{named}", region="")],
                       sid="ManageAlarmsAndDashboard"),
        policies.allow(_wildcards("cloudwatch", "DescribeAlarms", "ListTagsForResource"), ["*"], sid="FindAlarms"),
        policies.allow([Action("cloudtrail", "*")], [_arn("cloudtrail", f"trail/{named}")], sid="ManageTrail"),
        policies.allow(_wildcards("config", "PutConfigRule", "DeleteConfigRule", "DescribeConfigRules",
                                  "TagResource", "UntagResource", "ListTagsForResource"),
                       [_arn("config", "config-rule/*")], sid="ManageConfigRules"),
    ]


def network_statements(cfg: PipelineConfig) -> list[Statement]:
    """VPC resources have generated IDs; the actions are limited to the networking the template builds and to
    the environment's regions."""
    families = ("*Vpc*", "*Subnet*", "*RouteTable*", "*NetworkAcl*", "*SecurityGroup*", "*FlowLogs*", "*Tags",
                "Describe*")
    return [policies.allow(_wildcards("ec2", *families), ["*"],
                           Condition(aws.StringEquals("aws:RequestedRegion", list(cfg.regions))),
                           sid="ManageIsolatedNetwork")]


def health_statements(cfg: PipelineConfig) -> list[Statement]:
    """Health checks have generated IDs; the failover record may change only the configured hosted zone."""
    statements = [
        policies.allow(_wildcards("route53", "CreateHealthCheck", "ListHealthChecks"), ["*"], sid="CreateHealthChecks"),
        policies.allow(_wildcards("route53", "GetHealthCheck", "UpdateHealthCheck", "DeleteHealthCheck",
                                  "ChangeTagsForResource", "ListTagsForResource"),
                       [f"arn:{naming.PARTITION}:route53:::healthcheck/*"], sid="ManageHealthChecks"),
    ]
    if cfg.failover.hosted_zone_id:
        statements.append(policies.allow(
            _wildcards("route53", "ChangeResourceRecordSets", "ListResourceRecordSets", "GetHostedZone", "GetChange"),
            [f"arn:{naming.PARTITION}:route53:::hostedzone/{cfg.failover.hosted_zone_id}",
             f"arn:{naming.PARTITION}:route53:::change/*"], sid="ManageFailoverRecord"))
    return statements


def release_statements(cfg: PipelineConfig) -> list[Statement]:
    """The processor's CodeDeploy application, deployment group and canary config (components/release.py), and
    reading AWS's predefined configs; CloudFormation starts and follows each alias deployment with these."""
    named = naming.named_resources(cfg)
    return [
        policies.allow([Action("codedeploy", "*")],
                       [_arn("codedeploy", f"application:{named}"), _arn("codedeploy", f"deploymentgroup:{named}/*"),
                        _arn("codedeploy", f"deploymentconfig:{named}")], sid="ManageReleases"),
        policies.allow(_wildcards("codedeploy", "GetDeploymentConfig"),
                       [_arn("codedeploy", "deploymentconfig:CodeDeployDefault.*")], sid="ReadDefaultReleaseConfigs"),
    ]


def execution_statements(cfg: PipelineConfig) -> list[Statement]:
    return [
        *stack_statements(cfg), *storage_statements(cfg), *messaging_statements(cfg), *compute_statements(cfg),
        *release_statements(cfg),
        *data_statements(cfg), *key_statements(cfg), *identity_statements(cfg), *observability_statements(cfg),
        *network_statements(cfg), *health_statements(cfg),
    ]


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


def execution_role(cfg: PipelineConfig, admin_account: If) -> iam.Role:
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
        Policies=[iam.Policy(PolicyName="manage-pipeline-resources",
                             PolicyDocument=policies.document(execution_statements(cfg)))],
    )


def build(cfg: PipelineConfig) -> Template:
    template = Template(Description=f"tap-pipeline {cfg.environment}: self-managed StackSet administration and "
                                    "execution roles (deploy once per account)")
    template.set_version(FORMAT_VERSION)
    admin_account = template.add_parameter(Parameter(
        ADMIN_ACCOUNT_PARAMETER, Type="String", Default="", AllowedPattern=r"^(\d{12})?$",
        Description="Account that runs scripts/deploy.py; empty for this account",
    ))
    template.add_condition(NO_ADMIN_ACCOUNT_GIVEN, Equals(Ref(admin_account), ""))
    template.add_condition(THIS_ACCOUNT_IS_ADMIN, Or(
        Equals(Ref(admin_account), ""), Equals(Ref(admin_account), Ref("AWS::AccountId"))))
    admin = If(NO_ADMIN_ACCOUNT_GIVEN, Ref("AWS::AccountId"), Ref(admin_account))
    administration = template.add_resource(administration_role(cfg))
    execution = template.add_resource(execution_role(cfg, admin))
    template.add_output(Output("AdministrationRoleArn", Condition=THIS_ACCOUNT_IS_ADMIN,
                               Value=GetAtt(administration, "Arn")))
    template.add_output(Output("ExecutionRoleName", Value=Ref(execution)))
    template.add_output(Output("ExecutionRoleArn", Value=GetAtt(execution, "Arn")))
    tags.apply(template, cfg)
    scanner_skips.apply(template)
    return template
