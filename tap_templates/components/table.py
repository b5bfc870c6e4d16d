"""The DynamoDB global table that holds processed records, rejected records and the file ledger.

It is created only by the primary region's template and replicated to every secondary, so the ledger a
promoted secondary reads is the one the primary wrote. Each replica is encrypted with the key of its own
region, found by alias because other regions' key ARNs are unknown when the template is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import GetAtt, Output, Ref, Sub, dynamodb

from tap_templates import naming, retention
from tap_templates.components.kms import DataKey
from tap_templates.config import PipelineConfig

PARTITION_KEY = "recordId"
SORT_KEY = "timestamp"
TTL_ATTRIBUTE = "expiresAt"
# Index name -> its partition key; every index sorts by the record's timestamp.
INDEXES: dict[str, str] = {"ProcessingStatusIndex": "processingStatus", "DataTypeIndex": "dataType"}
# The table operations the handler performs: its role, the DynamoDB endpoint policy and the alarms use this list.
TABLE_ACTIONS = ("BatchWriteItem", "GetItem", "UpdateItem")


@dataclass(frozen=True)
class Table:
    table: dynamodb.GlobalTable

    @property
    def arn(self) -> GetAtt:
        return GetAtt(self.table, "Arn")

    def resources(self) -> list:
        return [self.table]

    def outputs(self) -> list[Output]:
        return [
            Output("TableName", Description="Global table of records and the file ledger", Value=Ref(self.table)),
            Output("TableArn", Value=self.arn),
            Output("TableStreamArn", Value=GetAtt(self.table, "StreamArn")),
        ]


def _replica(cfg: PipelineConfig, region: str, key_id: object) -> dynamodb.ReplicaSpecification:
    return dynamodb.ReplicaSpecification(
        Region=region,
        SSESpecification=dynamodb.ReplicaSSESpecification(KMSMasterKeyId=key_id),
        PointInTimeRecoverySpecification=dynamodb.PointInTimeRecoverySpecification(
            PointInTimeRecoveryEnabled=True),
        DeletionProtectionEnabled=True,
        ContributorInsightsSpecification=dynamodb.ContributorInsightsSpecification(Enabled=True),
        TableClass="STANDARD",
    )


def build(cfg: PipelineConfig, region: str, key: DataKey) -> Table:
    attributes = [PARTITION_KEY, SORT_KEY, *INDEXES.values()]
    replicas = [_replica(cfg, region, key.arn)] + [
        _replica(cfg, other, Sub(naming.key_alias_arn(cfg, other))) for other in cfg.secondary_regions
    ]
    table = dynamodb.GlobalTable(
        "RecordsTable",
        TableName=naming.table(cfg),
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            dynamodb.AttributeDefinition(AttributeName=name, AttributeType="S") for name in attributes
        ],
        KeySchema=[
            dynamodb.KeySchema(AttributeName=PARTITION_KEY, KeyType="HASH"),
            dynamodb.KeySchema(AttributeName=SORT_KEY, KeyType="RANGE"),
        ],
        GlobalSecondaryIndexes=[
            dynamodb.GlobalTableGlobalSecondaryIndex(
                IndexName=index,
                KeySchema=[
                    dynamodb.KeySchema(AttributeName=hash_key, KeyType="HASH"),
                    dynamodb.KeySchema(AttributeName=SORT_KEY, KeyType="RANGE"),
                ],
                Projection=dynamodb.Projection(ProjectionType="ALL"),
            )
            for index, hash_key in INDEXES.items()
        ],
        StreamSpecification=dynamodb.StreamSpecification(StreamViewType="NEW_AND_OLD_IMAGES"),
        TimeToLiveSpecification=dynamodb.TimeToLiveSpecification(AttributeName=TTL_ATTRIBUTE, Enabled=True),
        SSESpecification=dynamodb.GlobalTableSSESpecification(SSEEnabled=True, SSEType="KMS"),
        Replicas=replicas,
        **retention.KEEP_DATA,
    )
    return Table(table=table)
