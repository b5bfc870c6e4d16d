"""The Lambda function that processes each new object, its execution role, log group and SQS trigger.

The event source mapping's ``Enabled`` comes from the ``ProcessingEnabled`` parameter: a passive secondary
is deployed with it off, and promotion flips it through a StackSet parameter override, with no template
change.

The trigger invokes the ``live`` alias, never ``$LATEST``: every deploy that changes the code (``CodeKey``) or
the function's configuration publishes a new version (the version's description names both, and a version's
description is create-only, so a new one replaces the resource, which publishes), and the alias moves to it
through CodeDeploy (``release``), so new code reaches a share of the batches first and can be rolled back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from awacs import aws, xray
from awacs import dynamodb as ddb
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import sqs as sqs_actions
from troposphere import AWSObject, Equals, GetAtt, If, NoValue, Output, Parameter, Ref, Sub, awslambda, iam, logs

from tap_templates import naming
from tap_templates.components import policies
from tap_templates.components.compat import EventSourceScalingConfig, FunctionLoggingConfig
from tap_templates.components.kms import DataKey
from tap_templates.components.queues import Queues
from tap_templates.components.table import TABLE_ACTIONS
from tap_templates.config import PipelineConfig

if TYPE_CHECKING:
    from tap_templates.components.network import Network
    from tap_templates.components.release import Release

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
HANDLER = "handlers.processor.handler"
ENABLED_CONDITION = "ProcessingIsEnabled"
METRICS_NAMESPACE = "TapPipeline"
SERVICE_NAME = "tap-processor"
VERSION_ID = "ProcessorVersion"
ALIAS_ID = "ProcessorAlias"


@dataclass(frozen=True)
class CodeParameters:
    """Template parameters the deploy script fills per stack instance."""

    bucket: Parameter
    key: Parameter
    enabled: Parameter

    def parameters(self) -> list[Parameter]:
        return [self.bucket, self.key, self.enabled]


@dataclass(frozen=True)
class Processor:
    function: awslambda.Function
    role: iam.Role
    log_group: logs.LogGroup
    trigger: awslambda.EventSourceMapping
    version: awslambda.Version
    alias: awslambda.Alias

    def resources(self) -> list:
        return [self.log_group, self.role, self.function, self.version, self.alias, self.trigger]

    def outputs(self) -> list[Output]:
        return [
            Output("ProcessorFunctionName", Value=Ref(self.function)),
            Output("ProcessorFunctionArn", Value=GetAtt(self.function, "Arn")),
            Output("ProcessorRoleArn", Value=GetAtt(self.role, "Arn")),
            Output("ProcessorLogGroupName", Value=Ref(self.log_group)),
            Output("ProcessorEventSourceMappingId",
                   Description="Turned on and off by failover promote and failback", Value=Ref(self.trigger)),
            Output("ProcessorAliasArn", Description="What the event source invokes", Value=Ref(self.alias)),
            Output("ProcessorVersion", Description="The version published by the last deploy",
                   Value=GetAtt(self.version, "Version")),
        ]


def code_parameters(region_role: str) -> CodeParameters:
    return CodeParameters(
        bucket=Parameter(
            "CodeBucket", Type="String", MinLength=3, MaxLength=63,
            Description="Bucket in this region holding the handler zip (the deploy script uploads it)",
        ),
        key=Parameter(
            "CodeKey", Type="String", MinLength=1,
            Description="Object key of the handler zip, content-addressed by its sha256",
        ),
        enabled=Parameter(
            "ProcessingEnabled", Type="String", AllowedValues=["true", "false"],
            Default="true" if region_role == "primary" else "false",
            Description="Whether this region consumes its ingest queue (false while it is a passive secondary)",
        ),
    )


def execution_role(cfg: PipelineConfig, region: str, key: DataKey, queues: Queues,
                   network: Network | None) -> iam.Role:
    """Exactly what the handler and Lambda on its behalf call, on exact ARNs; capped by the permissions
    boundary like every role of the templates. The only ``*`` resources are the ones AWS offers no narrower
    resource for (see tap_templates/components/iam_rules.py)."""
    bucket = naming.bucket_arn(naming.ingest_bucket(cfg, region))
    log_group = naming.log_group_arn(region, naming.function_log_group(cfg))
    statements = [
        policies.allow([s3_actions.GetObject, s3_actions.GetObjectVersion], [f"{bucket}/*"],
                       sid="ReadIngestObjects"),
        # Without ListBucket, S3 answers a GetObject of a deleted key with 403, not 404, and the file would be
        # dead-lettered as ACCESS_DENIED instead of OBJECT_NOT_FOUND
        # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
        policies.allow([s3_actions.ListBucket], [bucket], sid="TellMissingObjectsApart"),
        policies.allow(policies.actions("kms", "Decrypt", "GenerateDataKey"), [key.arn], sid="UseDataKey"),
        policies.allow([ddb.Action(a) for a in TABLE_ACTIONS], [naming.table_arn(cfg, region)],
                       sid="WriteRecordsAndLedger"),
        # Lambda's poller, with this role (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).
        policies.allow([sqs_actions.ReceiveMessage, sqs_actions.DeleteMessage, sqs_actions.GetQueueAttributes],
                       [queues.ingest_arn], sid="ConsumeIngestQueue"),
        policies.allow([sqs_actions.SendMessage], [queues.dead_letter_arn], sid="ReportFailedFiles"),
        policies.allow([logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                       [f"{log_group}:log-stream:*"], sid="WriteOwnLogs"),
        policies.allow([xray.PutTraceSegments, xray.PutTelemetryRecords], ["*"], sid="WriteTraces"),
    ]
    if cfg.pseudonymization.enabled:
        statements.append(policies.allow([aws.Action("secretsmanager", "GetSecretValue")],
                                         [naming.secret_arn(cfg, region)], sid="ReadPseudonymizationKey"))
    if network:
        statements += _network_statements(region, network)
    return iam.Role(
        "ProcessorRole",
        Description=f"Execution role of {naming.function(cfg)}",
        AssumeRolePolicyDocument=policies.document([
            aws.Statement(Effect=aws.Allow, Principal=policies.service_principal("lambda.amazonaws.com"),
                          Action=[aws.Action("sts", "AssumeRole")]),
        ]),
        PermissionsBoundary=policies.role_boundary(cfg),
        Policies=[iam.Policy(PolicyName="process-ingested-objects", PolicyDocument=policies.document(statements))],
    )


def _network_statements(region: str, network: Network) -> list[aws.Statement]:
    """What Lambda does with the role to attach the function to its subnets
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions)."""
    interface = f"arn:{naming.PARTITION}:ec2:{region}:{naming.ACCOUNT}:network-interface/*"
    return [
        policies.allow(
            [aws.Action("ec2", "CreateNetworkInterface")],
            [interface, *(Sub(f"arn:{naming.PARTITION}:ec2:{region}:{naming.ACCOUNT}:subnet/${{{s.title}}}")
                          for s in network.subnets),
             Sub(f"arn:{naming.PARTITION}:ec2:{region}:{naming.ACCOUNT}:security-group/"
                 f"${{{network.function_security_group.title}}}")],
            sid="AttachToPrivateSubnets",
        ),
        policies.allow([aws.Action("ec2", a) for a in ("DeleteNetworkInterface", "AssignPrivateIpAddresses",
                                                       "UnassignPrivateIpAddresses")],
                       [interface], sid="ManageOwnNetworkInterfaces"),
        policies.allow([aws.Action("ec2", a) for a in ("DescribeNetworkInterfaces", "DescribeSubnets")],
                       ["*"], sid="DescribeNetwork"),
    ]


def environment(cfg: PipelineConfig, queues: Queues) -> dict[str, object]:
    """The handler's whole configuration; handlers/settings.py reads exactly these names."""
    p = cfg.processor
    pseudonymize = {}
    if cfg.pseudonymization.enabled:
        pseudonymize = {
            "PSEUDONYMIZATION_SECRET_ID": naming.pseudonymization_secret(cfg),
            "PSEUDONYMIZE_FIELDS": json.dumps(cfg.pseudonymization.fields, sort_keys=True, separators=(",", ":")),
        }
    return {
        **pseudonymize,
        "TABLE_NAME": naming.table(cfg),
        "DLQ_URL": queues.dead_letter_url,
        "RECORD_TTL_DAYS": str(p.record_ttl_days),
        "DATA_TYPE_SHARDS": str(cfg.table.data_type_shards),
        "REJECTED_SHARDS": str(cfg.table.rejected_shards),
        "INDEX_DATA_TYPES": "true" if cfg.table.index_data_types else "false",
        "MAX_OBJECT_BYTES": str(p.max_object_mb * 1024 * 1024),
        "MAX_DECOMPRESSION_RATIO": str(p.max_decompression_ratio),
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": p.log_level,
    }


def published_version(cfg: PipelineConfig, function: awslambda.Function, code: CodeParameters) -> awslambda.Version:
    """A version whose description changes with the code and with the function's configuration (a digest of
    its properties as rendered): either change publishes a new one."""
    digest = hashlib.sha256(json.dumps(function.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    return awslambda.Version(
        VERSION_ID, FunctionName=Ref(function),
        Description=Sub(f"code ${{{code.key.title}}}; configuration {digest}"),
    )


def build(cfg: PipelineConfig, region: str, key: DataKey, queues: Queues, code: CodeParameters,
          network: Network | None = None, depends_on: tuple[AWSObject, ...] = (),
          release: Release | None = None) -> Processor:
    """``depends_on`` holds the table in the primary: records must have somewhere to go before the
    trigger starts consuming. ``release``: the deployment group that moves the alias (else it moves at once)."""
    p = cfg.processor
    log_group = logs.LogGroup(
        "ProcessorLogGroup",
        LogGroupName=naming.function_log_group(cfg),
        RetentionInDays=cfg.retention.log_days,
        KmsKeyId=key.arn,
    )
    role = execution_role(cfg, region, key, queues, network)
    function = awslambda.Function(
        "ProcessorFunction",
        FunctionName=naming.function(cfg),
        Description="Validates, enriches and stores the records of each new ingestion object",
        Runtime=RUNTIME,
        Architectures=[ARCHITECTURE],
        Handler=HANDLER,
        Code=awslambda.Code(S3Bucket=Ref(code.bucket), S3Key=Ref(code.key)),
        MemorySize=p.memory_mb,
        Timeout=p.timeout_seconds,
        ReservedConcurrentExecutions=p.reserved_concurrency,
        Role=GetAtt(role, "Arn"),
        KmsKeyArn=key.arn,
        TracingConfig=awslambda.TracingConfig(Mode="Active"),
        LoggingConfig=FunctionLoggingConfig(LogGroup=Ref(log_group), LogFormat="JSON"),
        Environment=awslambda.Environment(Variables=environment(cfg, queues)),
        VpcConfig=awslambda.VPCConfig(SubnetIds=network.subnet_ids,
                                      SecurityGroupIds=[Ref(network.function_security_group)])
        if network else NoValue,
    )
    if cfg.release.snapstart:  # restores published versions from a snapshot taken after the handler's import
        function.SnapStart = awslambda.SnapStart(ApplyOn="PublishedVersions")
    version = published_version(cfg, function, code)
    alias = awslambda.Alias(
        ALIAS_ID, Name=naming.function_alias(cfg), FunctionName=Ref(function),
        FunctionVersion=GetAtt(version, "Version"),
        Description="What the ingest queue's event source invokes; CodeDeploy moves it to each new version",
    )
    if release is not None:
        alias.UpdatePolicy = release.update_policy()
        alias.DependsOn = [a.title for a in release.alarms]
    trigger = awslambda.EventSourceMapping(
        "ProcessorEventSource",
        EventSourceArn=queues.ingest_arn,
        FunctionName=Ref(alias),
        Enabled=If(ENABLED_CONDITION, True, False),
        BatchSize=p.batch_size,
        MaximumBatchingWindowInSeconds=p.batching_window_seconds,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig=EventSourceScalingConfig(MaximumConcurrency=p.max_concurrency),
    )
    if depends_on:
        trigger.DependsOn = [r.title for r in depends_on]
    return Processor(function=function, role=role, log_group=log_group, trigger=trigger, version=version, alias=alias)


def enabled_condition(code: CodeParameters) -> tuple[str, Equals]:
    return ENABLED_CONDITION, Equals(Ref(code.enabled), "true")
