"""The DynamoDB global table that holds processed records, rejected records and the file ledger.

It is created only by the primary region's template and replicated to every secondary, so the ledger a
promoted secondary reads is the one the primary wrote. Each replica is encrypted with the key of its own
region, found by alias because other regions' key ARNs are unknown when the template is rendered.

One global secondary index, ``TimeIndex``: partition key ``timeShard`` ("<dataType>#NNN" or "REJECTED#NNN",
``handlers/contracts.py``), sort key ``timestamp``, projecting every attribute, so a query by data type or of
the rejected records over a time range reads whole items from the index, one request per page per shard. An
item is in it when it has ``timeShard``: records, not ledger or content items, and valid records only with
``[table] index_data_types``. Each record costs one write unit in the table and one in the index (items under
1 KB): two per region, where two indexes keyed on ``processingStatus`` and ``dataType`` cost three and put
every valid record on one partition key value.

Deletion protection of the replicas comes from the ``TableDeletionProtection`` parameter (``true`` by default).
The deploy creates the primary's first stack instance with it ``false`` and sets it ``true`` once that create
succeeded: a failed first create is rolled back, and ``RetainExceptOnCreate`` asks CloudFormation to delete the
new table then, which deletion protection would refuse (the stack would end ROLLBACK_FAILED, and the empty
table would block the retry).
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Equals, GetAtt, If, Output, Parameter, Ref, Sub, dynamodb

from handlers.contracts import TIME_SHARD
from tap_templates import naming, retention
from tap_templates.components.kms import DataKey
from tap_templates.config import PipelineConfig

PARTITION_KEY = "recordId"
SORT_KEY = "timestamp"
TTL_ATTRIBUTE = "expiresAt"
TIME_INDEX = "TimeIndex"
# Index name -> its partition key; every index sorts by the record's timestamp.
INDEXES: dict[str, str] = {TIME_INDEX: TIME_SHARD}
DELETION_PROTECTION = "TableDeletionProtection"  # the parameter
PROTECTED_CONDITION = "TableIsProtected"
# The table operations the handler performs: its role, the DynamoDB endpoint policy and the alarms use this list.
TABLE_ACTIONS = ("BatchWriteItem", "GetItem", "UpdateItem")


@dataclass(frozen=True)
class Table:
    table: dynamodb.GlobalTable
    protection: Parameter

    @property
    def arn(self) -> GetAtt:
        return GetAtt(self.table, "Arn")

    def resources(self) -> list:
        return [self.table]

    def parameters(self) -> list[Parameter]:
        return [self.protection]

    def conditions(self) -> dict[str, Equals]:
        return {PROTECTED_CONDITION: Equals(Ref(self.protection), "true")}

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
        DeletionProtectionEnabled=If(PROTECTED_CONDITION, True, False),
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
    protection = Parameter(
        DELETION_PROTECTION, Type="String", AllowedValues=["true", "false"], Default="true",
        Description="Deletion protection of every replica of the records table (the deploy turns it off only while "
                    "it creates the primary's first stack, so that a failed create can be rolled back)",
    )
    return Table(table=table, protection=protection)
