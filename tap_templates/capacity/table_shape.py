"""The records table as the rendered template defines it: key schema, indexes and replica regions.

The model reads the table from the template, never from ``components/table.py``, so it measures whatever the
template deploys: an item is in an index when it has every key attribute of that index (a sparse index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tap_templates.errors import ConfigError

TABLE = "table"  # how the base table is named among the indexes in reports
TABLE_TYPES = ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table")


@dataclass(frozen=True)
class Index:
    """The base table (``name == TABLE``) or one global secondary index."""

    name: str
    hash_key: str
    range_key: str | None
    projection: str = "ALL"  # ALL, KEYS_ONLY or INCLUDE
    non_key: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)


@dataclass(frozen=True)
class TableShape:
    logical_id: str
    table: Index
    indexes: tuple[Index, ...]
    regions: tuple[str, ...]
    ttl_attribute: str | None
    billing_mode: str

    @property
    def all(self) -> tuple[Index, ...]:
        return (self.table, *self.indexes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "logical_id": self.logical_id, "regions": list(self.regions), "ttl_attribute": self.ttl_attribute,
            "billing_mode": self.billing_mode,
            "indexes": [{"name": i.name, "hash_key": i.hash_key, "range_key": i.range_key,
                         "projection": i.projection, "non_key": list(i.non_key)} for i in self.all],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableShape:
        found = [Index(d["name"], d["hash_key"], d["range_key"], d["projection"], tuple(d["non_key"]))
                 for d in data["indexes"]]
        return cls(data["logical_id"], found[0], tuple(found[1:]), tuple(data["regions"]), data["ttl_attribute"],
                   data["billing_mode"])


def _keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
    hash_key = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
    range_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
    return hash_key, range_key


def _index(definition: dict[str, Any]) -> Index:
    hash_key, range_key = _keys(definition["KeySchema"])
    projection = definition.get("Projection", {})
    return Index(definition["IndexName"], hash_key, range_key, projection.get("ProjectionType", "KEYS_ONLY"),
                 tuple(projection.get("NonKeyAttributes", ())))


def from_template(template: dict[str, Any], region: str) -> TableShape:
    """The one records table of a region's template (the primary's: the global table lives there)."""
    tables = [(name, r) for name, r in template.get("Resources", {}).items() if r.get("Type") in TABLE_TYPES]
    if len(tables) != 1:
        raise ConfigError(f"the template for {region} defines {len(tables)} DynamoDB tables; the capacity model "
                          "expects exactly one records table in the primary region's template")
    logical_id, resource = tables[0]
    props = resource["Properties"]
    hash_key, range_key = _keys(props["KeySchema"])
    replicas = props.get("Replicas") or [{"Region": region}]
    ttl = props.get("TimeToLiveSpecification") or {}
    return TableShape(
        logical_id=logical_id,
        table=Index(TABLE, hash_key, range_key),
        indexes=tuple(_index(d) for d in props.get("GlobalSecondaryIndexes", ())),
        regions=tuple(str(r["Region"]) for r in replicas),
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
        billing_mode=str(props.get("BillingMode", "PROVISIONED")),
    )
