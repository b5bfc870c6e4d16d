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

from tap_templates import naming, retention
from tap_templates.components import policies
from tap_templates.config import PipelineConfig
from tap_templates.deploy import permissions

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
    actions = permissions.key_policy_actions()
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
    trail = []
    if cfg.audit.cloudtrail:
        trail.append(Statement(
            Sid="CloudTrailEncryptsDataEventLogs",
            Effect=aws.Allow,
            Principal=policies.service_principal("cloudtrail.amazonaws.com"),
            Action=policies.actions("kms", "DescribeKey", "GenerateDataKey"),
            Resource=["*"],
            Condition=Condition([
                aws.StringEquals("aws:SourceArn", Sub(naming.trail_arn(cfg, region))),
                aws.StringLike("kms:EncryptionContext:aws:cloudtrail:arn",
                               Sub(f"arn:{naming.PARTITION}:cloudtrail:*:{naming.ACCOUNT}:trail/*")),
            ]),
        ))
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
        Statement(
            Sid="S3NotifiesEncryptedIngestQueue",
            Effect=aws.Allow,
            Principal=policies.service_principal("s3.amazonaws.com"),
            Action=policies.actions("kms", "Decrypt", "GenerateDataKey"),
            Resource=["*"],
            Condition=policies.source_conditions(naming.bucket_arn(naming.ingest_bucket(cfg, region))),
        ),
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
