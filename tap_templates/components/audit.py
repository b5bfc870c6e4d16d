"""Audit and governance: a CloudTrail trail of the ingestion bucket's data events with its own hardened
bucket, and AWS Config managed rules scoped to this pipeline's resources.

Both are switches (``[audit]`` in the config), on in the shipped prod config. The Config rules need a
configuration recorder in the account and region (``PutConfigRule`` fails with
``NoAvailableConfigurationRecorderException`` otherwise) that records the types the rules check; most
organizations run one recorder per account centrally, so the template does not create one that would collide
with theirs, and the deploy's pre-flight (``tap_templates/deploy/preflight.py``) stops when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import aws
from awacs import s3 as s3_actions
from troposphere import GetAtt, Output, Ref, Sub, cloudtrail, s3
from troposphere import config as awsconfig

from tap_templates import naming, retention
from tap_templates.components import policies
from tap_templates.components.kms import DataKey
from tap_templates.components.storage import AUDIT_LOG_PREFIX
from tap_templates.config import PipelineConfig

TRAIL_PREFIX = "cloudtrail"


@dataclass(frozen=True)
class Audit:
    trail: list
    trail_outputs: list[Output]
    rules: list[awsconfig.ConfigRule]

    def resources(self) -> list:
        return [*self.trail, *self.rules]

    def outputs(self) -> list[Output]:
        return self.trail_outputs


def trail(cfg: PipelineConfig, region: str, key: DataKey, access_logs: s3.Bucket) -> tuple[list, list[Output]]:
    name = naming.audit_bucket(cfg, region)
    arn = naming.bucket_arn(name)
    trail_arn = naming.trail_arn(cfg, region)
    bucket = s3.Bucket(
        "AuditBucket",
        BucketName=Sub(name),
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
            BucketKeyEnabled=True,
            ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="aws:kms",
                                                                           KMSMasterKeyID=key.arn))]),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="ExpireTrailLogs", Status="Enabled", ExpirationInDays=cfg.audit.trail_log_days,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=30))]),
        LoggingConfiguration=s3.LoggingConfiguration(
            DestinationBucketName=Ref(access_logs), LogFilePrefix=AUDIT_LOG_PREFIX),
        **retention.KEEP_DATA,
    )
    trail_source = aws.Condition(aws.StringEquals("aws:SourceArn", Sub(trail_arn)))
    cloudtrail_principal = policies.service_principal("cloudtrail.amazonaws.com")
    policy = s3.BucketPolicy(
        "AuditBucketPolicy",
        Bucket=Ref(bucket),
        PolicyDocument=policies.document([
            policies.deny_insecure_transport("s3", [arn, f"{arn}/*"]),
            aws.Statement(Sid="CloudTrailChecksAcl", Effect=aws.Allow, Principal=cloudtrail_principal,
                          Action=[s3_actions.GetBucketAcl], Resource=[Sub(arn)], Condition=trail_source),
            aws.Statement(Sid="CloudTrailWrites", Effect=aws.Allow, Principal=cloudtrail_principal,
                          Action=[s3_actions.PutObject],
                          Resource=[Sub(f"{arn}/{TRAIL_PREFIX}/AWSLogs/{naming.ACCOUNT}/*")],
                          Condition=trail_source),
        ]),
    )
    ingest_arn = naming.bucket_arn(naming.ingest_bucket(cfg, region))
    data_trail = cloudtrail.Trail(
        "DataEventsTrail",
        TrailName=naming.trail(cfg),
        IsLogging=True,
        S3BucketName=Ref(bucket),
        S3KeyPrefix=TRAIL_PREFIX,
        KMSKeyId=key.arn,
        EnableLogFileValidation=True,
        IncludeGlobalServiceEvents=False,
        IsMultiRegionTrail=False,
        EventSelectors=[cloudtrail.EventSelector(
            IncludeManagementEvents=False, ReadWriteType="All",
            DataResources=[cloudtrail.DataResource(Type="AWS::S3::Object", Values=[Sub(f"{ingest_arn}/")])])],
        DependsOn=[policy.title],
    )
    outputs = [Output("AuditBucketName", Value=Ref(bucket)), Output("TrailArn", Value=GetAtt(data_trail, "Arn"))]
    return [bucket, policy, data_trail], outputs


# (rule suffix, managed rule identifier, resource type, logical ID of the resource it checks)
CONFIG_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("ingest-bucket-tls-only", "S3_BUCKET_SSL_REQUESTS_ONLY", "AWS::S3::Bucket", "IngestBucket"),
    ("ingest-bucket-encrypted", "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", "AWS::S3::Bucket", "IngestBucket"),
    ("ingest-bucket-versioned", "S3_BUCKET_VERSIONING_ENABLED", "AWS::S3::Bucket", "IngestBucket"),
    ("ingest-bucket-logged", "S3_BUCKET_LOGGING_ENABLED", "AWS::S3::Bucket", "IngestBucket"),
    ("processor-concurrency", "LAMBDA_CONCURRENCY_CHECK", "AWS::Lambda::Function", "ProcessorFunction"),
    ("data-key-rotation", "CMK_BACKING_KEY_ROTATION_ENABLED", "AWS::KMS::Key", "DataKey"),
)
# Managed rules whose trigger type is Periodic (each rule's page in the AWS Config Developer Guide, e.g.
# cmk-backing-key-rotation-enabled.html; the others above are "Configuration changes"). AWS Config refuses a
# Scope on a periodic rule with InvalidParameterValueException (cloud-custodian/cloud-custodian#10008, from AWS
# Support), so these evaluate every customer key of the account and region, every 24 hours.
PERIODIC_RULES = frozenset({"CMK_BACKING_KEY_ROTATION_ENABLED"})
PERIODIC_FREQUENCY = "TwentyFour_Hours"


def _rule(cfg: PipelineConfig, suffix: str, identifier: str, resource_type: str, logical_id: str
          ) -> awsconfig.ConfigRule:
    if identifier in PERIODIC_RULES:
        when = {"MaximumExecutionFrequency": PERIODIC_FREQUENCY}
        description = f"{identifier}: every customer key in the region, {logical_id} among them"
    else:
        when = {"Scope": awsconfig.Scope(ComplianceResourceTypes=[resource_type],
                                         ComplianceResourceId=Ref(logical_id))}
        description = f"{identifier} for {logical_id}"
    return awsconfig.ConfigRule(
        f"ConfigRule{logical_id}{identifier.title().replace('_', '')}",
        ConfigRuleName=naming.config_rule(cfg, suffix),
        Description=description,
        Source=awsconfig.Source(Owner="AWS", SourceIdentifier=identifier),
        **when,
    )


def config_rules(cfg: PipelineConfig) -> list[awsconfig.ConfigRule]:
    rules = [_rule(cfg, *rule) for rule in CONFIG_RULES]
    rules.append(awsconfig.ConfigRule(
        "ConfigRuleRecordsTablePitr",
        ConfigRuleName=naming.config_rule(cfg, "records-table-pitr"),
        Description="DYNAMODB_PITR_ENABLED for the records table replica in this region",
        Source=awsconfig.Source(Owner="AWS", SourceIdentifier="DYNAMODB_PITR_ENABLED"),
        Scope=awsconfig.Scope(ComplianceResourceTypes=["AWS::DynamoDB::Table"],
                              ComplianceResourceId=naming.table(cfg)),
    ))
    if cfg.network.isolated:
        rules.append(awsconfig.ConfigRule(
            "ConfigRuleProcessorInsideVpc",
            ConfigRuleName=naming.config_rule(cfg, "processor-inside-vpc"),
            Description="LAMBDA_INSIDE_VPC for the processor function",
            Source=awsconfig.Source(Owner="AWS", SourceIdentifier="LAMBDA_INSIDE_VPC"),
            Scope=awsconfig.Scope(ComplianceResourceTypes=["AWS::Lambda::Function"],
                                  ComplianceResourceId=Ref("ProcessorFunction")),
        ))
    return rules


def build(cfg: PipelineConfig, region: str, key: DataKey, access_logs: s3.Bucket) -> Audit:
    found, outputs = trail(cfg, region, key, access_logs) if cfg.audit.cloudtrail else ([], [])
    return Audit(trail=found, trail_outputs=outputs, rules=config_rules(cfg) if cfg.audit.config_rules else [])
