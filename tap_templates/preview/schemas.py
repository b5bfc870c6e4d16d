"""Whether a change replaces a resource, decided by CloudFormation's own resource schemas, never a hand-kept list.

A resource type's schema lists its ``createOnlyProperties``: "properties that can only be specified by the
customer when creating a resource. Changing any createOnlyProperties value replaces the resource"
(https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html). cfn-lint ships
the schemas of every region (``cfnlint.schema.PROVIDER_SCHEMA_MANAGER``), so a new property or resource type is
covered by upgrading cfn-lint. A type cfn-lint does not know is reported as "replacement unknown", never as safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

PropertyPath = tuple[str, ...]  # ("VpcConfig", "*", "SubnetIds"): keys below Properties, "*" for any list item
ANY = "*"


@cache
def create_only(resource_type: str, region: str = "us-east-1") -> tuple[PropertyPath, ...] | None:
    """The create-only property paths of a resource type in a region; None when the schema is unknown."""
    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    except Exception:  # cfn-lint raises its own ResourceNotFoundError (a private module) for unknown types
        return None
    if resource_type.startswith("Custom::") or "properties" not in schema:
        return None
    return tuple(tuple(pointer.split("/")[2:]) for pointer in schema.get("createOnlyProperties", [])
                 if pointer.startswith("/properties/"))


def values_at(node: Any, path: PropertyPath) -> Iterator[tuple[PropertyPath, Any]]:
    """Every value a schema path points at (``*`` over list items and map values), with its concrete path."""
    if not path:
        yield (), node
        return
    head, rest = path[0], path[1:]
    if head == ANY:
        items = enumerate(node) if isinstance(node, list) else node.items() if isinstance(node, dict) else ()
        for key, child in items:
            for sub, value in values_at(child, rest):
                yield (str(key), *sub), value
    elif isinstance(node, dict) and head in node:
        for sub, value in values_at(node[head], rest):
            yield (head, *sub), value


def replacing_paths(resource_type: str, region: str, old: dict[str, Any], new: dict[str, Any]) -> list[str] | None:
    """The create-only properties whose values differ between the old and the new properties (``A.B``); an
    empty list when the change is in place; None when the type's schema is unknown."""
    paths = create_only(resource_type, region)
    if paths is None:
        return None
    found = []
    for path in paths:
        if dict(values_at(old, path)) != dict(values_at(new, path)):
            found.append(".".join(path))
    return found
