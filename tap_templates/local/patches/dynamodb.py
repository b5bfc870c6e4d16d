"""DynamoDB global tables created by CloudFormation.

Gap: moto's CloudFormation has no ``AWS::DynamoDB::GlobalTable`` model, and a stack whose outputs ``GetAtt`` one
fails to create at all. The patch registers a model that creates the table in every replica region (key
schema, attributes, GSIs, stream, TTL, the replica's KMS key and tags), so the primary's stack, its outputs
and the replicas in the secondaries exist as on AWS. An update applies what the deploy changes on a live table,
in every replica: the global secondary indexes added and removed (refused, as DynamoDB refuses it, when one update
creates or deletes more than one: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html)
and each replica's deletion protection; other changes are not emulated (the table is kept as it is). A new index
is usable at once (moto has no backfill). Deleting the resource (the rollback of a failed first create, the only
deletion ``RetainExceptOnCreate`` lets through: ``patches.cloudformation``) deletes every replica, and fails, as
on AWS, while a replica has deletion protection. Where no stack created the table,
``skipped.create_table_from_template`` creates it with the DynamoDB API.

Gap: ``DescribeLimits`` answers fixed values (10,000 units per table, 20,000 per account) older than AWS's
defaults, so the deploy's pre-flight would find every emulated account below the table-level write throughput
``[capacity]`` assumes. The patch answers AWS's documented defaults (40,000 read and write units per table,
80,000 per account: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html), or the
per-table write units in ``TAP_EMULATED_TABLE_WRITE_QUOTA`` where a test sets a lower quota.
"""

from __future__ import annotations

import os
from typing import Any

from tap_templates.local.patches.guard import Patch
from tap_templates.local.skipped import GLOBAL_TABLE

GLOBAL_TABLE_MODEL = Patch("dynamodb: global table model")
DESCRIBE_LIMITS = Patch("dynamodb: DescribeLimits")
TABLE_WRITE_QUOTA_VARIABLE = "TAP_EMULATED_TABLE_WRITE_QUOTA"
TABLE_QUOTA, ACCOUNT_QUOTA = 40_000, 80_000  # AWS's defaults per table (and per index) and per account
_MODEL_CACHES = ("get_model_list", "get_model_map", "get_name_type_map")
# What DynamoDB answers an update that creates or deletes a second index while one is in progress.
ONE_INDEX_AT_A_TIME = ("Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously "
                       "per table")
UPDATE_TABLE = ("self", "name", "attr_definitions", "global_index", "throughput", "billing_mode", "stream_spec",
                "deletion_protection_enabled", "warm_throughput")


def index_updates(table: Any, props: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``GlobalSecondaryIndexUpdates`` that take a moto table to the template's indexes: deletions of the
    indexes it no longer names, creations of the new ones (an index whose definition changed is both)."""
    current = {i.name: i for i in table.global_indexes}
    wanted = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    changed = {name for name in current.keys() & wanted.keys()
               if [k["AttributeName"] for k in wanted[name]["KeySchema"]] != [k["AttributeName"] for k in
                                                                            current[name].schema]}
    updates: list[dict[str, Any]] = [{"Delete": {"IndexName": name}} for name in current if name not in wanted
                                     or name in changed]
    updates += [{"Create": {key: wanted[name][key] for key in ("IndexName", "KeySchema", "Projection")}}
                for name in wanted if name not in current or name in changed]
    return updates


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


def apply_update(backends: Any, table: Any, props: dict[str, Any]) -> None:
    """What an update of the global table changes in each replica (the account's backends by region)."""
    updates = index_updates(table, props)
    if len(updates) > 1:
        raise ValueError(f"LimitExceededException: {ONE_INDEX_AT_A_TIME} ({len(updates)} index changes in one "
                         f"update of {table.name})")
    for replica in props["Replicas"]:
        backends[replica["Region"]].update_table(table.name, props["AttributeDefinitions"], updates, None, None, None,
                                                 bool(replica.get("DeletionProtectionEnabled", False)), None)


def _model(base: type, table_cls: Any, backends: Any) -> type:
    """The model class, a subclass of moto's ``CloudFormationModel`` (moto finds models by subclassing)."""

    class GlobalTableModel(base):  # type: ignore[misc, valid-type]
        __module__ = "moto.dynamodb.global_tables"  # moto files every model under the service its module names

        def __init__(self, table: Any, regions: tuple[str, ...] = ()) -> None:
            self.table = table
            self.regions = regions  # of its replicas

        def delete(self, account_id: str, region_name: str) -> None:
            """Every replica; moto's ``delete_table`` refuses a protected one (``DeletionProtectedException``)."""
            for region in self.regions or (region_name,):
                backends[account_id][region].delete_table(self.table.name)

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
            return cls(here, tuple(str(r["Region"]) for r in props["Replicas"]))

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str, region_name: str) -> Any:
            """Index changes and deletion protection, in every replica; the rest of the table is kept."""
            apply_update(backends[account_id], original_resource.table, cloudformation_json["Properties"])
            return original_resource

    return GlobalTableModel


def register_global_table_model() -> None:
    patch = GLOBAL_TABLE_MODEL
    parsing = patch.module("moto.cloudformation.parsing")
    base = patch.require(patch.module("moto.core.common_models"), "CloudFormationModel")
    dynamodb = patch.module("moto.dynamodb.models")
    backends = patch.require(dynamodb, "dynamodb_backends")
    patch.require(patch.require(dynamodb, "DynamoDBBackend"), "update_time_to_live", ("self", "table_name", "ttl_spec"))
    patch.require(patch.require(dynamodb, "DynamoDBBackend"), "update_table", UPDATE_TABLE)
    patch.require(patch.require(dynamodb, "DynamoDBBackend"), "delete_table", ("self", "name"))
    table_cls = patch.require(patch.module("moto.dynamodb.models.table"), "Table")
    patch.require(table_cls, "create_from_cloudformation_json",
                  ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs"))
    clears = [patch.require(patch.require(parsing, name), "cache_clear") for name in _MODEL_CACHES]
    model = _model(base, table_cls, backends)
    for clear in clears:
        clear()
    if patch.require(parsing, "get_model_map")().get(GLOBAL_TABLE) is not model:
        patch.fail("moto's CloudFormation no longer finds models among CloudFormationModel's subclasses")


def patch_describe_limits() -> None:
    patch = DESCRIBE_LIMITS
    handler_cls = patch.require(patch.module("moto.dynamodb.responses"), "DynamoHandler")
    patch.require(handler_cls, "describe_limits")
    action_result = patch.require(patch.module("moto.core.responses"), "ActionResult")

    def describe_limits(self: Any) -> Any:
        table = int(os.environ.get(TABLE_WRITE_QUOTA_VARIABLE, TABLE_QUOTA))
        return action_result({"AccountMaxReadCapacityUnits": ACCOUNT_QUOTA, "AccountMaxWriteCapacityUnits":
                              ACCOUNT_QUOTA, "TableMaxReadCapacityUnits": TABLE_QUOTA,
                              "TableMaxWriteCapacityUnits": table})

    handler_cls.describe_limits = describe_limits
