"""The least-privilege policy of the deploying identity, rendered to ``build/<env>/deployer-policy.json``.

Whoever runs ``tap deploy`` (and its dry run), ``deploy destroy``, ``deploy purge``, ``deploy smoke``, ``deploy
drift`` and the operations tools (failover, reconcile, redrive, query, reindex) for one environment needs exactly
this: the artifacts buckets and their objects; the environment's StackSets, their drift and their instances' stacks;
passing the administration role to CloudFormation (self-managed) or reading the organization's structure (service-
managed); what the pre-flight reads (the account's Lambda concurrency, VPC quotas and zones, Config recorders);
finding and deleting what a destroy kept (the retained buckets, table, secret and keys); the smoke check's canary
object, items and alarms; and what the operations tools read and change in the pipeline's queues, table (and its
description), ingested objects (a file's records are read again from its object), event source mappings, metrics and
health checks. Each action is granted on the project's resources where the service authorization reference gives it
a resource type, and on ``"*"`` only where it gives none. The file is a template of managed policies
(``<project>-<env>-deployer-<n>``, split under IAM's size limit as the execution role's are) to attach together to
that person's or CI's role.

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
from tap_templates.deploy import permissions, preflight, roles

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
                                "DetectStackSetDrift", "ListStackInstanceResourceDrifts", "ListStackInstances",
                                "ListStackSetOperationResults", "UpdateStackInstances", "UpdateStackSet"),
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


def preflight_statements(cfg: PipelineConfig) -> list[Statement]:
    """What the pre-flight reads before every deploy and dry run (deploy/preflight.py): the account's Lambda
    concurrency and the processor's reservation, the table-level write throughput quota; with the isolated
    network, the zones, endpoint services and VPC quotas; with Config rules, the account's configuration
    recorders."""
    unscoped = [*_actions("lambda", "GetAccountSettings"), Action("dynamodb", "DescribeLimits")]
    if cfg.network.isolated:
        unscoped += [*_actions("ec2", "DescribeAvailabilityZones", "DescribeVpcEndpointServices",
                               "DescribeVpcEndpoints", "DescribeVpcs"),
                     Action("servicequotas", "GetAWSDefaultServiceQuota")]
    found = [
        # None of these takes a resource (the service authorization reference lists none): "*" is the only value.
        policies.allow(unscoped, ["*"], sid="ReadAccountLimits"),
        policies.allow(_actions("lambda", "GetFunction", "GetFunctionConcurrency"),
                       [f"arn:{P}:lambda:*:{A}:function:{naming.function(cfg)}"], sid="ReadProcessorConcurrency"),
    ]
    if cfg.network.isolated:
        found.append(policies.allow(
            _actions("servicequotas", "GetServiceQuota"),
            [f"arn:{P}:servicequotas:*:{A}:{q.service}/{q.code}" for q in preflight.QUOTAS], sid="ReadVpcQuotas"))
    if cfg.audit.config_rules:
        # The account's recorders, whoever made them (the templates create none); their ARNs end in generated IDs.
        found.append(policies.allow(
            _actions("config", "DescribeConfigurationRecorderStatus", "DescribeConfigurationRecorders"),
            [f"arn:{P}:config:*:{A}:configuration-recorder/*"], sid="ReadConfigurationRecorders"))
    return found


def operations_statements(cfg: PipelineConfig) -> list[Statement]:
    """What failover, reconcile, redrive, the queries, reindex and the smoke check read and change
    (tap_templates/operations, deploy/smoke.py)."""
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
        # The queues' messages and the ingested objects are encrypted with the pipeline's key; SQS and S3 use it on
        # the caller's behalf (SSE-KMS uploads need kms:GenerateDataKey, Amazon S3 User Guide,
        # UsingKMSEncryption.html).
        policies.allow(_actions("kms", "Decrypt", "GenerateDataKey"), [f"arn:{P}:kms:*:{A}:key/*"],
                       Condition([aliases, aws.StringLike("kms:ViaService", ["s3.*.amazonaws.com",
                                                                             "sqs.*.amazonaws.com"])]),
                       sid="PipelineKeyThroughQueuesAndBuckets"),
        policies.allow(_actions("dynamodb", "BatchGetItem", "DeleteItem", "DescribeTable", "GetItem", "Query", "Scan",
                                "UpdateItem"),
                       [f"arn:{P}:dynamodb:*:{A}:table/{p}", f"arn:{P}:dynamodb:*:{A}:table/{p}/index/*"],
                       sid="LedgerAndRecords"),
        # tap query file reads an ingested object again (its records' keys); its bytes are under the data key.
        policies.allow(_actions("s3", "GetObject", "GetObjectVersion"),
                       [f"arn:{P}:s3:::{naming.ingest_bucket(cfg, '*')}/*"], sid="ReadIngestedObjects"),
        policies.allow(_actions("s3", "ListBucketVersions"), [f"arn:{P}:s3:::{naming.ingest_bucket(cfg, '*')}"],
                       sid="ListIngestedVersions"),
        # The canary file only: the smoke check writes, heads and deletes nothing else in the ingestion bucket.
        policies.allow(_actions("s3", "DeleteObject", "DeleteObjectVersion", "GetObjectVersion", "PutObject"),
                       [f"arn:{P}:s3:::{naming.ingest_bucket(cfg, '*')}/{naming.smoke_object_key('*')}"],
                       sid="SmokeCanaryObject"),
        # Metric alarms by name. (DescribeAlarms returns composite alarms only when granted on "*": the smoke check
        # reads none.)
        policies.allow(_actions("cloudwatch", "DescribeAlarms"), [f"arn:{P}:cloudwatch:*:{A}:alarm:{p}"],
                       sid="ReadKeyAlarms"),
        policies.allow(_actions("cloudwatch", "GetMetricStatistics"), ["*"], sid="ReadMetrics"),
        policies.allow(_actions("route53", "GetHealthCheck", "GetHealthCheckStatus"),
                       [f"arn:{P}:route53:::healthcheck/*"], sid="ReadHealthChecks"),
    ]


def kept_buckets(cfg: PipelineConfig) -> list[str]:
    """The buckets a destroy keeps (DeletionPolicy Retain) and the artifacts buckets, by name in every region."""
    names = [naming.ingest_bucket, naming.access_log_bucket, naming.artifacts_bucket]
    if cfg.audit.cloudtrail:
        names.append(naming.audit_bucket)
    return [f"arn:{P}:s3:::{name(cfg, '*')}" for name in names]


def kept_statements(cfg: PipelineConfig) -> list[Statement]:
    """What finds the resources a destroy kept (before every deploy, and for purge) and what purge deletes
    (deploy/kept.py): the buckets with every object version, the table with its replicas, the secret with its
    replicas, and the keys, which have no name."""
    buckets = kept_buckets(cfg)
    table = f"arn:{P}:dynamodb:*:{A}:table/{naming.table(cfg)}"
    found = [
        policies.allow(_actions("s3", "DeleteBucket", "ListBucket", "ListBucketVersions"), buckets,
                       sid="KeptBuckets"),
        # Deleting a version needs both (Amazon S3 API Reference, DeleteObjects, "Permissions").
        policies.allow(_actions("s3", "DeleteObject", "DeleteObjectVersion"), [f"{b}/*" for b in buckets],
                       sid="KeptObjects"),
        # A global table's replicas are deleted through UpdateTable, which needs DeleteTable and DeleteTableReplica
        # on each replica (Amazon DynamoDB Developer Guide, globaltables-security.html).
        policies.allow(_actions("dynamodb", "DeleteTable", "DeleteTableReplica", "DescribeTable", "UpdateTable"),
                       [table], sid="KeptTable"),
        # ListKeys takes no resource (the service authorization reference lists none).
        policies.allow(_actions("kms", "ListKeys"), ["*"], sid="ListKeys"),
        # Keys have generated IDs and, once destroy removed their alias, only their tags say whose they are.
        policies.allow(_actions("kms", "DescribeKey", "ScheduleKeyDeletion"), [f"arn:{P}:kms:*:{A}:key/*"],
                       Condition(aws.StringEquals({f"aws:ResourceTag/{k}": v for k, v in tags.values(cfg).items()
                                                   if k in permissions.SCOPING_TAGS})), sid="KeptKeys"),
    ]
    if cfg.pseudonymization.enabled:
        found.append(policies.allow(
            _actions("secretsmanager", "DeleteSecret", "DescribeSecret", "RemoveRegionsFromReplication"),
            [naming.secret_arn(cfg, "*")], sid="KeptSecret"))
    return found


def statements(cfg: PipelineConfig) -> list[Statement]:
    return [*artifacts_statements(cfg), *stackset_statements(cfg), *preflight_statements(cfg),
            *kept_statements(cfg), *operations_statements(cfg)]


def managed_policies(cfg: PipelineConfig) -> list[iam.ManagedPolicy]:
    """As many managed policies as IAM's 6,144 characters each need (deploy/roles.py packs them the same way;
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)."""
    parts = roles.chunks(statements(cfg))
    return [iam.ManagedPolicy(
        f"DeployerPolicy{number}", ManagedPolicyName=f"{naming.prefix(cfg)}-deployer-{number}",
        Description=f"Deploy and operate {naming.prefix(cfg)} (part {number} of {len(parts)}): StackSets, artifacts, "
                    "pre-flight, drift, purge, smoke check, failover, reconcile, redrive",
        PolicyDocument=policies.document(part)) for number, part in enumerate(parts, start=1)]


def build(cfg: PipelineConfig) -> Template:
    template = Template(Description=f"tap-pipeline {cfg.environment}: the policies of the identity that deploys and "
                                    "operates the environment (attach them all to that role)")
    template.set_version(FORMAT_VERSION)
    for policy in managed_policies(cfg):
        template.add_resource(policy)
        template.add_output(Output(f"{policy.title}Arn", Value=Ref(policy)))
    tags.apply(template, cfg)
    return template
