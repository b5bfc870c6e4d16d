"""The least-privilege policy of the deploying identity, rendered to ``build/<env>/deployer-policy.json``.

Whoever runs ``tap deploy``, ``tap deploy destroy`` and the operations tools (failover, reconcile, redrive, query,
reindex) for
one environment needs exactly this: the artifacts buckets and their objects, the environment's StackSets and
their instances' stacks, passing the administration role to CloudFormation (self-managed), reading the
StackSet roles, the organization's structure (service-managed) and what the operations tools read and change
in the pipeline's queues, table, event source mappings, metrics and health checks. The file is a template
holding one managed policy (``<project>-<env>-deployer``) to attach to that person's or CI's role.

Not included: ``tap deploy roles``. It creates IAM roles and policies, which needs IAM administration in each
account; an administrator runs it once per account, and keeping it out means the deploying identity cannot
write its own permissions. ``tests/deploy/test_deployer_policy.py`` and ``tests/operations/
test_operator_permissions.py`` record every call the tools make against the emulator and decide each in the
IAM policy simulator with this policy and the resource policies involved.
"""

from __future__ import annotations

from awacs import aws
from awacs.aws import Action, Condition, Statement
from troposphere import Output, Ref, Sub, Template, iam

from tap_templates import naming, tags
from tap_templates.components import policies
from tap_templates.config import PipelineConfig

FORMAT_VERSION = "2010-09-09"
P, A = naming.PARTITION, naming.ACCOUNT


def _actions(service: str, *names: str) -> list[Action]:
    return [Action(service, n) for n in names]


def artifacts_statements(cfg: PipelineConfig) -> list[Statement]:
    """The bucket the deploy creates and hardens in each region, and the content-addressed objects in it."""
    bucket = f"arn:{P}:s3:::{naming.prefix(cfg)}-artifacts-{A}-*"
    return [
        policies.allow(_actions("s3", "CreateBucket", "ListBucket", "PutBucketOwnershipControls", "PutBucketPolicy",
                                "PutBucketPublicAccessBlock", "PutBucketVersioning", "PutEncryptionConfiguration"),
                       [bucket], sid="ArtifactsBuckets"),
        # PutObject of the zip and templates; GetObject for HeadObject and for CloudFormation, which reads a
        # TemplateURL with the caller's credentials.
        policies.allow(_actions("s3", "GetObject", "PutObject"),
                       [f"{bucket}/{naming.code_object_key('*')}", f"{bucket}/{naming.template_object_key('*')}"],
                       sid="ArtifactsObjects"),
    ]


def stackset_statements(cfg: PipelineConfig) -> list[Statement]:
    p = naming.named_resources(cfg)
    stack_sets = [f"arn:{P}:cloudformation:*:{A}:stackset/{p}:*",
                  f"arn:{P}:cloudformation:*:{A}:stackset-target/{p}:*",
                  f"arn:{P}:cloudformation:*:{A}:type/resource/*"]
    found = [
        # CreateStackSet takes no resource (the service authorization reference lists none).
        policies.allow(_actions("cloudformation", "CreateStackSet"), ["*"], sid="CreateStackSets"),
        policies.allow(_actions("cloudformation", "CreateStackInstances", "DeleteStackInstances", "DeleteStackSet",
                                "DescribeStackInstance", "DescribeStackSet", "DescribeStackSetOperation",
                                "ListStackInstances", "ListStackSetOperationResults", "UpdateStackInstances",
                                "UpdateStackSet"),
                       stack_sets, sid="ManageStackSets"),
        policies.allow(_actions("cloudformation", "DescribeStacks", "ListStackResources"),
                       [f"arn:{P}:cloudformation:*:{A}:stack/{naming.stack_instance_stacks(cfg)}/*"],
                       sid="ReadInstanceStacks"),
        policies.allow(_actions("iam", "GetRole"), [f"arn:{P}:iam::{A}:role/{naming.prefix(cfg)}-stackset-*"],
                       sid="CheckStackSetRoles"),
    ]
    if cfg.stacksets.permission_model == "SELF_MANAGED":
        admin = f"arn:{P}:iam::{A}:role/{naming.stackset_administration_role(cfg)}"
        found.append(policies.allow(
            _actions("iam", "PassRole"), [admin],
            Condition(aws.StringEquals("iam:PassedToService", "cloudformation.amazonaws.com")),
            sid="PassAdministrationRole"))
    else:
        found += [
            policies.allow(_actions("organizations", "DescribeOrganization"), ["*"], sid="ReadOrganization"),
            policies.allow(_actions("organizations", "ListAccountsForParent", "ListChildren"),
                           [f"arn:{P}:organizations::*:ou/o-*/ou-*", f"arn:{P}:organizations::*:root/o-*/r-*"],
                           sid="ListOrganizationalUnits"),
        ]
    return found


def operations_statements(cfg: PipelineConfig) -> list[Statement]:
    """What failover, reconcile, redrive, the queries and reindex read and change (tap_templates/operations)."""
    p = naming.named_resources(cfg)
    function = f"arn:{P}:lambda:*:{A}:function:{p}"
    aliases = aws.ForAnyValueStringEquals("kms:ResourceAliases", naming.key_alias(cfg))
    return [
        policies.allow(_actions("lambda", "ListEventSourceMappings"), ["*"], sid="FindEventSources"),
        policies.allow(_actions("lambda", "GetEventSourceMapping", "UpdateEventSourceMapping"),
                       [f"arn:{P}:lambda:*:{A}:event-source-mapping:*"],
                       Condition(aws.ArnLike("lambda:FunctionArn", Sub(function))), sid="SwitchEventSources"),
        policies.allow(_actions("sqs", "ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes",
                                "GetQueueUrl", "ReceiveMessage", "SendMessage"),
                       [f"arn:{P}:sqs:*:{A}:{p}"], sid="RedriveAndBackfill"),
        # Messages in the pipeline's queues are encrypted with its key; SQS uses it on the caller's behalf.
        policies.allow(_actions("kms", "Decrypt", "GenerateDataKey"), [f"arn:{P}:kms:*:{A}:key/*"],
                       Condition([aliases, aws.StringLike("kms:ViaService", "sqs.*.amazonaws.com")]),
                       sid="QueueMessagesKey"),
        policies.allow(_actions("dynamodb", "BatchGetItem", "DescribeTable", "GetItem", "Query", "Scan", "UpdateItem"),
                       [f"arn:{P}:dynamodb:*:{A}:table/{p}", f"arn:{P}:dynamodb:*:{A}:table/{p}/index/*"],
                       sid="ReadLedgerAndRecords"),
        # tap query file reads an ingested object again (its records' keys); its bytes are under the data key.
        policies.allow(_actions("s3", "GetObject", "GetObjectVersion"),
                       [f"arn:{P}:s3:::{naming.prefix(cfg)}-ingest-{A}-*/*"], sid="ReadIngestedObjects"),
        policies.allow(_actions("kms", "Decrypt"), [f"arn:{P}:kms:*:{A}:key/*"],
                       Condition([aliases, aws.StringLike("kms:ViaService", "s3.*.amazonaws.com")]),
                       sid="IngestedObjectsKey"),
        policies.allow(_actions("s3", "ListBucketVersions"), [f"arn:{P}:s3:::{naming.prefix(cfg)}-ingest-{A}-*"],
                       sid="ListIngestedVersions"),
        policies.allow(_actions("cloudwatch", "GetMetricStatistics"), ["*"], sid="ReadMetrics"),
        policies.allow(_actions("route53", "GetHealthCheck", "GetHealthCheckStatus"),
                       [f"arn:{P}:route53:::healthcheck/*"], sid="ReadHealthChecks"),
    ]


def statements(cfg: PipelineConfig) -> list[Statement]:
    return [*artifacts_statements(cfg), *stackset_statements(cfg), *operations_statements(cfg)]


def build(cfg: PipelineConfig) -> Template:
    template = Template(Description=f"tap-pipeline {cfg.environment}: the policy of the identity that deploys and "
                                    "operates the environment (attach it to that role)")
    template.set_version(FORMAT_VERSION)
    policy = template.add_resource(iam.ManagedPolicy(
        "DeployerPolicy", ManagedPolicyName=f"{naming.prefix(cfg)}-deployer",
        Description=f"Deploy and operate {naming.prefix(cfg)}: StackSets, artifacts, failover, reconcile, redrive, queries",
        PolicyDocument=policies.document(statements(cfg))))
    template.add_output(Output("DeployerPolicyArn", Value=Ref(policy)))
    tags.apply(template, cfg)
    return template
