"""Everything the AWS emulator (moto) cannot do from a rendered template, done through its APIs instead.

Used only by the tests and the local simulation, never by the deploy path for real AWS: a template is
never altered to suit the emulator. Each function names the gap it covers, and reads what it creates from
the rendered template itself, so a template change still reaches the tests.

Gaps covered:
- moto's CloudFormation does not create ``AWS::DynamoDB::GlobalTable``: ``create_table_from_template``
  creates the table (key schema, attributes, GSIs, stream, TTL) with the DynamoDB API in each region.
"""

from __future__ import annotations

from typing import Any


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == resource_type}


def global_table(template: dict[str, Any]) -> dict[str, Any]:
    tables = resources_of_type(template, "AWS::DynamoDB::GlobalTable")
    if len(tables) != 1:
        raise ValueError(f"expected one AWS::DynamoDB::GlobalTable in the template, found {len(tables)}")
    return next(iter(tables.values()))["Properties"]


def create_table_from_template(template: dict[str, Any], dynamodb_client: Any) -> str:
    """Create the global table's replica in the client's region as a plain table; return its name.

    Encryption, PITR, deletion protection and contributor insights are not applied: moto accepts but does
    not enforce them, and the template tests check them on the rendered JSON instead.
    """
    props = global_table(template)
    name = props["TableName"]
    dynamodb_client.create_table(
        TableName=name,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props["BillingMode"],
        GlobalSecondaryIndexes=[
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in props.get("GlobalSecondaryIndexes", [])
        ],
        StreamSpecification={"StreamEnabled": True, **props["StreamSpecification"]},
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb_client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return name
