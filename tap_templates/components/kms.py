"""The region's customer-managed KMS key, which encrypts every data store of the pipeline in that region.

The key policy keeps administration with the account and lets the key be used only through the services
that store pipeline data (S3, SQS, SNS, DynamoDB, Lambda environment, Secrets Manager) or by the service
principals that act on their own (CloudWatch Logs, S3 event notifications, CloudWatch alarms), each tied
to this account and resource by conditions.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import aws
from awacs.aws import Condition, Statement
from troposphere import GetAtt, Output, Ref, Sub, kms

from tap_templates import cfn_permissions, naming, retention
from tap_templates.components import policies
from tap_templates.config import PipelineConfig

ADMIN_ACTIONS = (
    "CancelKeyDeletion", "CreateAlias", "CreateGrant", "DeleteAlias", "DescribeKey", "DisableKey",
    "DisableKeyRotation", "EnableKey", "EnableKeyRotation", "GetKeyPolicy", "GetKeyRotationStatus",
    "ListGrants", "ListKeyRotations", "ListResourceTags", "PutKeyPolicy", "RetireGrant", "RevokeGrant",
    "RotateKeyOnDemand", "ScheduleKeyDeletion", "TagResource", "UntagResource", "UpdateAlias",
    "UpdateKeyDescription",
)
USE_ACTIONS = ("Decrypt", "DescribeKey", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
               "ReEncryptFrom", "ReEncryptTo")
# Services through which principals of this account may use the key (kms:ViaService).
VIA_SERVICES = ("s3", "sqs", "sns", "dynamodb", "lambda", "secretsmanager")
# Actions that encrypt, decrypt or hand out the key's use: the execution role gets them only via those services.
CRYPTO_ACTIONS = ("CreateGrant", "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                  "ReEncryptFrom", "ReEncryptTo")


@dataclass(frozen=True)
class DataKey:
    key: kms.Key
    alias: kms.Alias

    @property
    def arn(self) -> GetAtt:
        return GetAtt(self.key, "Arn")

    def resources(self) -> list:
        return [self.key, self.alias]

    def outputs(self) -> list[Output]:
        return [
            Output("DataKeyArn", Description="KMS key encrypting this region's data", Value=self.arn),
            Output("DataKeyAlias", Description="Alias of the data key", Value=Ref(self.alias)),
        ]


def cloudtrail_statements(cfg: PipelineConfig, region: str) -> list[Statement]:
    """What CloudTrail needs to create the trail and encrypt its log files (AWS CloudTrail User Guide,
    "Configure AWS KMS key policies for CloudTrail", create-kms-key-policy-for-cloudtrail.html), each
    statement limited to this trail by ``aws:SourceArn``:

    - GenerateDataKey with the trail's encryption context, to encrypt log files (AWS's sample grants
      ``GenerateDataKey*``; S3 asks for GenerateDataKey, and wildcard actions are refused here);
    - DescribeKey on its own: a DescribeKey request carries no encryption context, so a condition on
      ``kms:EncryptionContext:aws:cloudtrail:arn`` would never match it and the trail would fail to create
      (``InsufficientEncryptionPolicyException``);
    - Decrypt, because the audit bucket uses an S3 Bucket Key: "kms:Decrypt permissions are required to create
      or update a trail with SSE-KMS encryption enabled" on such a bucket.
    """
    principal = policies.service_principal("cloudtrail.amazonaws.com")
    this_trail = aws.StringEquals("aws:SourceArn", Sub(naming.trail_arn(cfg, region)))
    return [
        Statement(
            Sid="CloudTrailEncryptsDataEventLogs",
            Effect=aws.Allow,
            Principal=principal,
            Action=policies.actions("kms", "GenerateDataKey"),
            Resource=["*"],
            Condition=Condition([
                this_trail,
                aws.StringLike("kms:EncryptionContext:aws:cloudtrail:arn",
                               Sub(f"arn:{naming.PARTITION}:cloudtrail:*:{naming.ACCOUNT}:trail/*")),
            ]),
        ),
        Statement(Sid="CloudTrailDescribesKey", Effect=aws.Allow, Principal=principal,
                  Action=policies.actions("kms", "DescribeKey"), Resource=["*"], Condition=Condition(this_trail)),
        Statement(Sid="CloudTrailDecryptsWithAuditBucketKey", Effect=aws.Allow, Principal=principal,
                  Action=policies.actions("kms", "Decrypt"), Resource=["*"], Condition=Condition(this_trail)),
    ]


def s3_notifies_queue(cfg: PipelineConfig, region: str) -> Statement:
    """S3 sends each event (and, when the bucket is configured, a test event that must succeed or the bucket
    fails to create) to the encrypted ingest queue, and SQS calls KMS for it on S3's behalf (Amazon SQS
    Developer Guide, "Amazon SQS key management", sqs-key-management.html#compatibility-with-aws-services).
    That KMS request is made by SQS, not by S3, so ``aws:SourceArn`` and ``aws:SourceAccount`` are not
    documented to reach it (IAM User Guide, "AWS global condition context keys": present only when a service
    principal calls the resource directly); the conditions are the ones SQS always sets: the call comes
    through SQS in this region, for the ingest queue (its ``aws:sqs:arn`` encryption context). The queue
    policy already admits only this account's ingestion bucket."""
    return Statement(
        Sid="S3NotifiesEncryptedIngestQueue",
        Effect=aws.Allow,
        Principal=policies.service_principal("s3.amazonaws.com"),
        Action=policies.actions("kms", "Decrypt", "GenerateDataKey"),
        Resource=["*"],
        # One StringEquals with both keys: awacs keeps only the last of two conditions with the same operator.
        Condition=Condition(aws.StringEquals({
            "kms:ViaService": f"sqs.{region}.amazonaws.com",
            "kms:EncryptionContext:aws:sqs:arn": Sub(naming.queue_arn(region, naming.ingest_queue(cfg))),
        })),
    )


def grants_only_for_aws_resources() -> Statement:
    """Grants let their grantee use the key without the key policy: only AWS services integrated with KMS may
    create them, for their own resources (AWS Control Tower control CT.KMS.PR.3)."""
    return Statement(
        Sid="DenyGrantsNotForAwsResources",
        Effect=aws.Deny,
        Principal=aws.Principal("*"),
        Action=policies.actions("kms", "CreateGrant"),
        Resource=["*"],
        Condition=Condition(aws.BoolIfExists({"kms:GrantIsForAWSResource": "false",
                                              "aws:PrincipalIsAWSService": "false"})),
    )


def execution_role_statements(cfg: PipelineConfig, region: str) -> list[Statement]:
    """The StackSet execution role manages the key through these statements, not through an IAM grant on
    tagged keys: a key's ID is generated, and a tag-based IAM grant could be widened by tagging another key.
    It uses the key for data only through the pipeline's services, as the account's principals do.
    Service-managed StackSets run with AWS Organizations' role, which the account statements cover."""
    if cfg.stacksets.permission_model != "SELF_MANAGED":
        return []
    role = Sub(f"arn:{naming.PARTITION}:iam::{naming.ACCOUNT}:role/{naming.stackset_execution_role(cfg)}")
    actions = cfn_permissions.key_policy_actions()
    crypto = [a for a in actions if a.split(":")[1] in CRYPTO_ACTIONS]
    return [
        Statement(Sid="StackSetExecutionRoleManagesKey", Effect=aws.Allow, Principal=aws.Principal("AWS", role),
                  Action=[aws.Action(*a.split(":", 1)) for a in actions if a not in crypto], Resource=["*"]),
        Statement(Sid="StackSetExecutionRoleUsesKeyThroughPipelineServices", Effect=aws.Allow,
                  Principal=aws.Principal("AWS", role), Action=[aws.Action(*a.split(":", 1)) for a in crypto],
                  Resource=["*"],
                  Condition=Condition(aws.StringEquals("kms:ViaService", via_services(region)))),
    ]


def via_services(region: str) -> list[str]:
    return [f"{s}.{region}.amazonaws.com" for s in VIA_SERVICES]


def key_policy(cfg: PipelineConfig, region: str) -> aws.PolicyDocument:
    account = Sub(naming.ACCOUNT)
    trail = cloudtrail_statements(cfg, region) if cfg.audit.cloudtrail else []
    return policies.document([
        *trail,
        grants_only_for_aws_resources(),
        *execution_role_statements(cfg, region),
        Statement(
            Sid="AccountAdministersKey",
            Effect=aws.Allow,
            Principal=policies.account_root(),
            Action=policies.actions("kms", *ADMIN_ACTIONS),
            Resource=["*"],
        ),
        Statement(
            Sid="AccountUsesKeyThroughPipelineServices",
            Effect=aws.Allow,
            Principal=policies.account_root(),
            Action=policies.actions("kms", *USE_ACTIONS, "CreateGrant"),
            Resource=["*"],
            Condition=Condition([
                aws.StringEquals("kms:CallerAccount", account),
                aws.StringEquals("kms:ViaService", via_services(region)),
            ]),
        ),
        Statement(
            Sid="CloudWatchLogsEncryptsPipelineLogGroups",
            Effect=aws.Allow,
            Principal=policies.service_principal(f"logs.{region}.amazonaws.com"),
            Action=policies.actions("kms", "Decrypt", "DescribeKey", "Encrypt", "GenerateDataKey",
                                    "ReEncryptFrom", "ReEncryptTo"),
            Resource=["*"],
            Condition=Condition(aws.ArnLike(
                "kms:EncryptionContext:aws:logs:arn",
                Sub(f"arn:{naming.PARTITION}:logs:{region}:{naming.ACCOUNT}:log-group:*"),
            )),
        ),
        s3_notifies_queue(cfg, region),
        Statement(
            Sid="CloudWatchAlarmsPublishToEncryptedTopic",
            Effect=aws.Allow,
            Principal=policies.service_principal("cloudwatch.amazonaws.com"),
            Action=policies.actions("kms", "Decrypt", "GenerateDataKey"),
            Resource=["*"],
            Condition=Condition([
                aws.StringEquals("aws:SourceAccount", account),
                aws.ArnLike("aws:SourceArn",
                            Sub(f"arn:{naming.PARTITION}:cloudwatch:{region}:{naming.ACCOUNT}:alarm:*")),
            ]),
        ),
    ])


def build(cfg: PipelineConfig, region: str) -> DataKey:
    key = kms.Key(
        "DataKey",
        Description=f"{naming.prefix(cfg)} pipeline data in {region}",
        EnableKeyRotation=True,
        KeySpec="SYMMETRIC_DEFAULT",
        KeyUsage="ENCRYPT_DECRYPT",
        PendingWindowInDays=30,
        KeyPolicy=key_policy(cfg, region),
        # Data in retained tables and buckets stays readable only while its key exists.
        **retention.KEEP_DATA,
    )
    alias = kms.Alias("DataKeyAlias", AliasName=naming.key_alias(cfg), TargetKeyId=Ref(key))
    return DataKey(key=key, alias=alias)
