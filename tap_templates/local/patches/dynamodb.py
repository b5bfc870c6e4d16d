"""DynamoDB global tables created by CloudFormation.

Gap: moto's CloudFormation has no ``AWS::DynamoDB::GlobalTable`` model, and a stack whose outputs ``GetAtt`` one
fails to create at all. The patch registers a model that creates the table in every replica region (key
schema, attributes, GSIs, stream, TTL, the replica's KMS key and tags), so the primary's stack, its outputs
and the replicas in the secondaries exist as on AWS. Later changes to the global table are not emulated (an
update keeps the table as it is). Where no stack created the table, ``skipped.create_table_from_template``
creates it with the DynamoDB API.
"""

from __future__ import annotations

from typing import Any

from tap_templates.local.patches.guard import Patch
from tap_templates.local.skipped import GLOBAL_TABLE

GLOBAL_TABLE_MODEL = Patch("dynamodb: global table model")
_MODEL_CACHES = ("get_model_list", "get_model_map", "get_name_type_map")


def table_properties(props: dict[str, Any], replica: dict[str, Any]) -> dict[str, Any]:
    """One replica of a global table, in the shape of ``AWS::DynamoDB::Table`` that moto understands."""
    sse = replica.get("SSESpecification", {})
    return {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "GlobalSecondaryIndexes": props.get("GlobalSecondaryIndexes", []),
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        "StreamSpecification": {"StreamEnabled": True, **props.get("StreamSpecification", {})},
        "SSESpecification": {"Enabled": True, "SSEType": "KMS",
                             **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {})},
        "DeletionProtectionEnabled": replica.get("DeletionProtectionEnabled", False),
        "Tags": replica.get("Tags", []),
    }


def _model(base: type, table_cls: Any, backends: Any) -> type:
    """The model class, a subclass of moto's ``CloudFormationModel`` (moto finds models by subclassing)."""

    class GlobalTableModel(base):  # type: ignore[misc, valid-type]
        __module__ = "moto.dynamodb.global_tables"  # moto files every model under the service its module names

        def __init__(self, table: Any) -> None:
            self.table = table

        @staticmethod
        def cloudformation_name_type() -> str:
            return "TableName"

        @staticmethod
        def cloudformation_type() -> str:
            return GLOBAL_TABLE

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Arn", "StreamArn")

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            return self.table.get_cfn_attribute(attribute_name)

        @property
        def physical_resource_id(self) -> str:
            return self.table.name

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            props = cloudformation_json["Properties"]
            here = None
            for replica in props["Replicas"]:
                table = table_cls.create_from_cloudformation_json(
                    resource_name, {"Properties": table_properties(props, replica)}, account_id, replica["Region"])
                if props.get("TimeToLiveSpecification"):
                    backends[account_id][replica["Region"]].update_time_to_live(
                        resource_name, props["TimeToLiveSpecification"])
                if replica["Region"] == region_name:
                    here = table
            if here is None:
                raise ValueError(f"global table {resource_name} has no replica in its stack's region {region_name}")
            return cls(here)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str, region_name: str) -> Any:
            return original_resource  # changes to a global table are not emulated; the table is kept

    return GlobalTableModel


def register_global_table_model() -> None:
    patch = GLOBAL_TABLE_MODEL
    parsing = patch.module("moto.cloudformation.parsing")
    base = patch.require(patch.module("moto.core.common_models"), "CloudFormationModel")
    dynamodb = patch.module("moto.dynamodb.models")
    backends = patch.require(dynamodb, "dynamodb_backends")
    patch.require(patch.require(dynamodb, "DynamoDBBackend"), "update_time_to_live", ("self", "table_name", "ttl_spec"))
    table_cls = patch.require(patch.module("moto.dynamodb.models.table"), "Table")
    patch.require(table_cls, "create_from_cloudformation_json",
                  ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs"))
    clears = [patch.require(patch.require(parsing, name), "cache_clear") for name in _MODEL_CACHES]
    model = _model(base, table_cls, backends)
    for clear in clears:
        clear()
    if patch.require(parsing, "get_model_map")().get(GLOBAL_TABLE) is not model:
        patch.fail("moto's CloudFormation no longer finds models among CloudFormationModel's subclasses")
