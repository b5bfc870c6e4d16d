"""Audit and governance: a CloudTrail trail with its own hardened bucket and an encrypted CloudWatch Logs
group, alarms on changes to the pipeline's key, bucket policies and trail, and AWS Config managed rules
scoped to this pipeline's resources.

The trail records the ingestion bucket's data events and the region's write management events: a change to
a key policy, a bucket policy or the trail itself is a management event, and the metric filters on the trail's
log group turn each into an alarm on the alarm topic. An account that already has an organization trail pays
for this second copy of write management events (https://aws.amazon.com/cloudtrail/pricing/).

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
from troposphere import GetAtt, Output, Ref, Sub, cloudtrail, cloudwatch, iam, logs, s3, sns
from troposphere import config as awsconfig

from tap_templates import naming, retention
from tap_templates.components import policies
from tap_templates.components.kms import DataKey
from tap_templates.components.storage import AUDIT_LOG_PREFIX, event_bridge, object_lock
from tap_templates.config import PipelineConfig

TRAIL_PREFIX = "cloudtrail"
AUDIT_NAMESPACE = "TapPipeline/Audit"


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
        NotificationConfiguration=event_bridge(),
        **object_lock(),
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
            policies.deny_insecure_transport("s3", policies.bucket_and_objects(bucket)),
            aws.Statement(Sid="CloudTrailChecksAcl", Effect=aws.Allow, Principal=cloudtrail_principal,
                          Action=[s3_actions.GetBucketAcl], Resource=[Sub(arn)], Condition=trail_source),
            aws.Statement(Sid="CloudTrailWrites", Effect=aws.Allow, Principal=cloudtrail_principal,
                          Action=[s3_actions.PutObject],
                          Resource=[Sub(f"{arn}/{TRAIL_PREFIX}/AWSLogs/{naming.ACCOUNT}/*")],
                          Condition=trail_source),
        ]),
    )
    ingest_arn = naming.bucket_arn(naming.ingest_bucket(cfg, region))
    group, role = trail_log_group(cfg, region, key)
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
        CloudWatchLogsLogGroupArn=GetAtt(group, "Arn"),
        CloudWatchLogsRoleArn=GetAtt(role, "Arn"),
        EventSelectors=[cloudtrail.EventSelector(
            IncludeManagementEvents=True, ReadWriteType="WriteOnly",
            DataResources=[cloudtrail.DataResource(Type="AWS::S3::Object", Values=[Sub(f"{ingest_arn}/")])])],
        DependsOn=[policy.title],
    )
    outputs = [Output("AuditBucketName", Value=Ref(bucket)), Output("TrailArn", Value=GetAtt(data_trail, "Arn")),
               Output("TrailLogGroupName", Value=Ref(group))]
    return [bucket, policy, group, role, data_trail], outputs


def trail_log_group(cfg: PipelineConfig, region: str, key: DataKey) -> tuple[logs.LogGroup, iam.Role]:
    """The trail's CloudWatch Logs copy (AWS Control Tower control CT.CLOUDTRAIL.PR.3), encrypted with the
    region's key, and the role CloudTrail writes it with
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/send-cloudtrail-events-to-cloudwatch-logs.html)."""
    name = naming.trail_log_group(cfg)
    group = logs.LogGroup("TrailLogGroup", LogGroupName=name, RetentionInDays=cfg.retention.log_days,
                          KmsKeyId=key.arn)
    arn = naming.log_group_arn(region, name)
    role = iam.Role(
        "TrailLogsRole",
        Description="Delivers the pipeline trail's events to its CloudWatch Logs group",
        AssumeRolePolicyDocument=policies.document([aws.Statement(
            Effect=aws.Allow, Principal=policies.service_principal("cloudtrail.amazonaws.com"),
            Action=[aws.Action("sts", "AssumeRole")],
            Condition=aws.Condition([aws.StringEquals("aws:SourceAccount", Sub(naming.ACCOUNT)),
                                     aws.ArnLike("aws:SourceArn", Sub(naming.trail_arn(cfg, region)))]))]),
        PermissionsBoundary=policies.role_boundary(cfg),
        Policies=[iam.Policy(PolicyName="deliver-trail-events", PolicyDocument=policies.document([
            policies.allow([aws.Action("logs", a) for a in ("CreateLogStream", "PutLogEvents")],
                           [f"{arn}:log-stream:*"], sid="WriteTrailLogGroup"),
        ]))],
    )
    return group, role


# Changes worth waking someone for: (logical ID, alarm name suffix, what changed, CloudWatch Logs filter pattern
# over CloudTrail's JSON, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
def change_filters(cfg: PipelineConfig, region: str) -> list[tuple[str, str, str, str]]:
    def names(field: str, values: list[str]) -> str:
        return " || ".join(f'($.{field} = "{v}")' for v in values)

    key_events = ["PutKeyPolicy", "ScheduleKeyDeletion", "DisableKey", "DisableKeyRotation", "CreateGrant",
                  "UpdateAlias", "DeleteAlias"]
    bucket_events = ["PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutBucketPublicAccessBlock",
                     "DeleteBucketPublicAccessBlock", "PutBucketOwnershipControls", "PutBucketEncryption",
                     "DeleteBucketEncryption"]
    trail_events = ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]
    trail = [naming.trail(cfg), naming.trail_arn(cfg, region)]
    return [
        ("KeyChanged", "data-key-changed", "the data key's policy, state or grants changed",
         '{ ($.eventSource = "kms.amazonaws.com") && (' + names("eventName", key_events)
         + ') && ($.resources[0].ARN = "${DataKey.Arn}") }'),
        ("BucketPolicyChanged", "bucket-policy-changed", "a pipeline bucket's policy, ACL or protection changed",
         '{ ($.eventSource = "s3.amazonaws.com") && (' + names("eventName", bucket_events)
         + f') && ($.requestParameters.bucketName = "{naming.named_resources(cfg)}") }}'),
        ("TrailChanged", "trail-changed", "the pipeline's trail was stopped, deleted or changed",
         '{ ($.eventSource = "cloudtrail.amazonaws.com") && (' + names("eventName", trail_events)
         + ") && (" + names("requestParameters.name", trail) + ") }"),
    ]


def change_alarms(cfg: PipelineConfig, region: str, group: logs.LogGroup, topic: sns.Topic) -> list:
    found = []
    for title, suffix, what, pattern in change_filters(cfg, region):
        metric = f"{title}Events"
        found.append(logs.MetricFilter(
            f"{title}Filter", LogGroupName=Ref(group), FilterPattern=policies.sub(pattern),
            MetricTransformations=[logs.MetricTransformation(
                MetricNamespace=AUDIT_NAMESPACE, MetricName=metric, MetricValue="1", DefaultValue=0)]))
        found.append(cloudwatch.Alarm(
            f"{title}Alarm", AlarmName=naming.alarm(cfg, suffix), AlarmDescription=f"CloudTrail: {what}",
            Namespace=AUDIT_NAMESPACE, MetricName=metric, Statistic="Sum", Period=300, EvaluationPeriods=1,
            Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
            AlarmActions=[Ref(topic)]))
    return found


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


def build(cfg: PipelineConfig, region: str, key: DataKey, access_logs: s3.Bucket, topic: sns.Topic) -> Audit:
    found, outputs = trail(cfg, region, key, access_logs) if cfg.audit.cloudtrail else ([], [])
    if found:
        group = next(r for r in found if isinstance(r, logs.LogGroup))
        found += change_alarms(cfg, region, group, topic)
    return Audit(trail=found, trail_outputs=outputs, rules=config_rules(cfg) if cfg.audit.config_rules else [])
