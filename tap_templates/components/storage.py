"""The region's S3 buckets: the ingestion bucket producers write to, and the bucket holding its access logs.

In the primary region the ingestion bucket also replicates every object to each secondary's ingestion
bucket, so a promoted secondary already holds the files the primary never finished.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import s3 as s3_actions
from awacs.aws import ArnEquals, Condition, StringEquals, StringLike
from awacs.aws import ForAnyValueStringEquals as any_value_equals
from awacs.helpers.trust import make_simple_assume_policy
from troposphere import GetAtt, NoValue, Output, Ref, Sub, iam, s3

from tap_templates import naming, regions, retention
from tap_templates.components import policies
from tap_templates.components.kms import DataKey
from tap_templates.components.queues import Queues
from tap_templates.config import PipelineConfig

ACCESS_LOG_PREFIX = "ingest/"
AUDIT_LOG_PREFIX = "audit/"
SELF_LOG_PREFIX = "access-logs/"


def object_lock() -> dict[str, bool]:
    """S3 Object Lock on, with no default retention: no object is locked unless someone sets a retention or a
    legal hold on it, so lifecycle expiry and replication work as before, and an incident responder can lock
    evidence in place (AWS Control Tower control CT.S3.PR.9). Not on the access-log bucket: S3 delivers no
    server access logs to a bucket with Object Lock."""
    return {"ObjectLockEnabled": True}


def event_bridge() -> s3.NotificationConfiguration:
    """Buckets nobody processes still publish their object events to EventBridge's default bus, where AWS
    service events cost nothing until a rule matches them (CT.S3.PR.4)."""
    return s3.NotificationConfiguration(EventBridgeConfiguration=s3.EventBridgeConfiguration(EventBridgeEnabled=True))


@dataclass(frozen=True)
class Storage:
    ingest: s3.Bucket
    ingest_policy: s3.BucketPolicy
    access_logs: s3.Bucket
    access_logs_policy: s3.BucketPolicy
    replication_role: iam.Role | None

    def resources(self) -> list:
        found = [self.access_logs, self.access_logs_policy, self.ingest, self.ingest_policy]
        return found + ([self.replication_role] if self.replication_role else [])

    def outputs(self) -> list[Output]:
        return [
            Output("IngestBucketName", Description="Producers upload data files here", Value=Ref(self.ingest)),
            Output("IngestBucketArn", Value=GetAtt(self.ingest, "Arn")),
            Output("AccessLogBucketName", Value=Ref(self.access_logs)),
        ]


def _public_access_block() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
    )


def _owner_enforced() -> s3.OwnershipControls:
    return s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")])


def access_log_bucket(cfg: PipelineConfig, region: str) -> tuple[s3.Bucket, s3.BucketPolicy]:
    """S3 server access logs can only be delivered to a bucket whose default encryption is SSE-S3 and that has
    no S3 Object Lock (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html),
    so this one bucket uses AES256 instead of the region's KMS key and has no Object Lock. It logs its own
    access too (under ``access-logs/``): who read or deleted logs is recorded. S3 allows a bucket to log into
    itself but does not recommend it, since each delivery is logged in the next: a small, endless trickle of
    records that lifecycle expiry bounds. There is no other bucket in the region S3 could deliver them to."""
    name = naming.access_log_bucket(cfg, region)
    days = cfg.retention.access_log_days
    bucket = s3.Bucket(
        "AccessLogBucket",
        BucketName=Sub(name),
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"))
        ]),
        PublicAccessBlockConfiguration=_public_access_block(),
        OwnershipControls=_owner_enforced(),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        # No destination: S3 delivers into the bucket itself (a Ref to itself would be a circular dependency).
        LoggingConfiguration=s3.LoggingConfiguration(LogFilePrefix=SELF_LOG_PREFIX),
        NotificationConfiguration=event_bridge(),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[
            s3.LifecycleRule(
                Id="ExpireAccessLogs",
                Status="Enabled",
                ExpirationInDays=days,
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
            )
        ]),
        **retention.KEEP_DATA,
    )
    arn = naming.bucket_arn(name)
    sources = [naming.ingest_bucket(cfg, region), name]
    prefixes = [f"{arn}/{ACCESS_LOG_PREFIX}*", f"{arn}/{SELF_LOG_PREFIX}*"]
    if cfg.audit.cloudtrail:
        sources.append(naming.audit_bucket(cfg, region))
        prefixes.append(f"{arn}/{AUDIT_LOG_PREFIX}*")
    policy = s3.BucketPolicy(
        "AccessLogBucketPolicy",
        Bucket=Ref(bucket),
        PolicyDocument=policies.document([
            policies.deny_insecure_transport("s3", policies.bucket_and_objects(bucket)),
            policies.Statement(
                Sid="S3ServerAccessLogDelivery",
                Effect=policies.Allow,
                Principal=policies.service_principal("logging.s3.amazonaws.com"),
                Action=[s3_actions.PutObject],
                Resource=[Sub(p) for p in prefixes],
                Condition=Condition([
                    ArnEquals("aws:SourceArn", [Sub(naming.bucket_arn(b)) for b in sources]),
                    StringEquals("aws:SourceAccount", Sub(naming.ACCOUNT)),
                ]),
            ),
        ]),
    )
    return bucket, policy


def _lifecycle(cfg: PipelineConfig) -> s3.LifecycleConfiguration:
    r = cfg.retention
    return s3.LifecycleConfiguration(Rules=[
        s3.LifecycleRule(
            Id="TierThenExpire",
            Status="Enabled",
            Transitions=[
                s3.LifecycleRuleTransition(StorageClass="STANDARD_IA", TransitionInDays=r.transition_ia_days),
                s3.LifecycleRuleTransition(StorageClass="GLACIER", TransitionInDays=r.transition_glacier_days),
                s3.LifecycleRuleTransition(StorageClass="DEEP_ARCHIVE",
                                           TransitionInDays=r.transition_deep_archive_days),
            ],
            ExpirationInDays=r.object_expiry_days,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=r.noncurrent_version_days),
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                DaysAfterInitiation=r.abort_multipart_days),
        ),
    ])


def _notifications(queues: Queues) -> s3.NotificationConfiguration:
    return s3.NotificationConfiguration(QueueConfigurations=[
        s3.QueueConfigurations(
            Event="s3:ObjectCreated:*",
            Queue=queues.ingest_arn,
            Filter=s3.Filter(S3Key=s3.S3Key(Rules=[s3.Rules(Name="suffix", Value=suffix)])),
        )
        for suffix in naming.INGEST_SUFFIXES
    ])


def replication_role(cfg: PipelineConfig, region: str, key: DataKey) -> iam.Role:
    """Least privilege for S3 replication: read versions of this bucket, write replicas into each
    secondary's bucket, decrypt with this region's key and encrypt with each destination's key (found by
    its alias, since another region's key ARN is unknown when this template is rendered)."""
    source = naming.bucket_arn(naming.ingest_bucket(cfg, region))
    statements = [
        policies.allow(
            [s3_actions.GetReplicationConfiguration, s3_actions.ListBucket], [source], sid="ReadReplicationSource"
        ),
        policies.allow(
            [s3_actions.GetObjectVersionForReplication, s3_actions.GetObjectVersionAcl,
             s3_actions.GetObjectVersionTagging, s3_actions.GetObjectRetention, s3_actions.GetObjectLegalHold],
            [f"{source}/*"],
            sid="ReadSourceVersions",
        ),
        policies.allow(
            policies.actions("kms", "Decrypt"),
            [key.arn],
            Condition([
                StringEquals("kms:ViaService", f"s3.{region}.amazonaws.com"),
                StringLike("kms:EncryptionContext:aws:s3:arn", Sub(f"{source}*")),
            ]),
            sid="DecryptSource",
        ),
    ]
    for destination in regions.other_regions(cfg, region):
        target = naming.bucket_arn(naming.ingest_bucket(cfg, destination))
        sid = destination.replace("-", "").title()
        statements += [
            policies.allow(
                [s3_actions.ReplicateObject, s3_actions.ReplicateDelete, s3_actions.ReplicateTags],
                [f"{target}/*"],
                sid=f"WriteReplicasTo{sid}",
            ),
            policies.allow(
                policies.actions("kms", "Encrypt", "GenerateDataKey"),
                [naming.keys_arn(destination)],
                Condition([
                    any_value_equals("kms:ResourceAliases", naming.key_alias(cfg)),
                    StringEquals("kms:ViaService", f"s3.{destination}.amazonaws.com"),
                    StringLike("kms:EncryptionContext:aws:s3:arn", Sub(f"{target}*")),
                ]),
                sid=f"EncryptReplicasIn{sid}",
            ),
        ]
    return iam.Role(
        "ReplicationRole",
        Description="S3 replication of the ingestion bucket to the secondary regions",
        AssumeRolePolicyDocument=make_simple_assume_policy("s3.amazonaws.com"),
        PermissionsBoundary=policies.role_boundary(cfg),
        Policies=[iam.Policy(PolicyName="replicate-ingest-bucket", PolicyDocument=policies.document(statements))],
    )


def _replication(cfg: PipelineConfig, region: str, role: iam.Role) -> s3.ReplicationConfiguration:
    rules = [
        s3.ReplicationConfigurationRules(
            Id=f"to-{destination}",
            Priority=priority,
            Status="Enabled",
            Filter=s3.ReplicationRuleFilter(Prefix=""),
            DeleteMarkerReplication=s3.DeleteMarkerReplication(Status="Enabled"),
            SourceSelectionCriteria=s3.SourceSelectionCriteria(
                SseKmsEncryptedObjects=s3.SseKmsEncryptedObjects(Status="Enabled")),
            Destination=s3.ReplicationConfigurationRulesDestination(
                Bucket=Sub(naming.bucket_arn(naming.ingest_bucket(cfg, destination))),
                EncryptionConfiguration=s3.EncryptionConfiguration(
                    ReplicaKmsKeyID=Sub(naming.key_alias_arn(cfg, destination))),
                # Replication metrics feed the replication-latency column of the failover status.
                Metrics=s3.Metrics(Status="Enabled"),
            ),
        )
        for priority, destination in enumerate(regions.other_regions(cfg, region), start=1)
    ]
    return s3.ReplicationConfiguration(Role=GetAtt(role, "Arn"), Rules=rules)


def build(cfg: PipelineConfig, region: str, key: DataKey, queues: Queues) -> Storage:
    logs, logs_policy = access_log_bucket(cfg, region)
    name = naming.ingest_bucket(cfg, region)
    is_primary = regions.role(cfg, region) == "primary"
    role = replication_role(cfg, region, key) if is_primary else None
    bucket = s3.Bucket(
        "IngestBucket",
        BucketName=Sub(name),
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(
                BucketKeyEnabled=True,
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                    SSEAlgorithm="aws:kms", KMSMasterKeyID=key.arn),
            )
        ]),
        PublicAccessBlockConfiguration=_public_access_block(),
        OwnershipControls=_owner_enforced(),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        **object_lock(),
        LifecycleConfiguration=_lifecycle(cfg),
        LoggingConfiguration=s3.LoggingConfiguration(
            DestinationBucketName=Ref(logs),
            LogFilePrefix=ACCESS_LOG_PREFIX,
        ),
        MetricsConfigurations=[s3.MetricsConfiguration(Id=naming.METRICS_FILTER_ID)],
        NotificationConfiguration=_notifications(queues),
        ReplicationConfiguration=_replication(cfg, region, role) if role else NoValue,
        # S3 checks that it may send to the queue when the notification is created.
        DependsOn=[queues.ingest_policy.title, logs_policy.title],
        **retention.KEEP_DATA,
    )
    policy = s3.BucketPolicy(
        "IngestBucketPolicy",
        Bucket=Ref(bucket),
        PolicyDocument=policies.document([policies.deny_insecure_transport("s3",
                                                                           policies.bucket_and_objects(bucket))]),
    )
    return Storage(ingest=bucket, ingest_policy=policy, access_logs=logs, access_logs_policy=logs_policy,
                   replication_role=role)
