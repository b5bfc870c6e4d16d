"""Changes to the records table of a live deployment: its indexes, one per StackSet operation, and its sharding.

DynamoDB creates or deletes one global secondary index per table update
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html: "You can create or delete
only one global secondary index per UpdateTable operation"), and CloudFormation fails a stack update that asks for
more (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-dynamodb-globaltable.html).
So ``rollout`` compares the table of the deployed template with this deploy's and, when more than one index is
created or deleted, makes the intermediate templates: this deploy's template with the table's indexes (and the
``AttributeDefinitions`` their keys need) stepped one change at a time, new indexes first so queries keep an index
to read while the old ones go. Each step is one StackSet operation; the last is this deploy's own template. A
deploy interrupted between steps is planned again from the step it reached (the plan reads the deployed template).

An index created on a live table is backfilled: DynamoDB reads every item and adds those with the index's key
attributes, while the table keeps serving; the operation waits until the index is ACTIVE in every replica. Items
written before ``timeShard`` existed have none, so they stay out of ``TimeIndex`` until ``reindex`` gives them one.

Sharding (``[table]``, passed to the function's environment): a shard count may grow but never shrink, since items
already in the higher shards would be out of every query's reach; ``sharding_notes`` refuses a decrease by comparing
the deployed template's function environment with this deploy's, and says what turning ``index_data_types`` on
again means.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from tap_templates.errors import ConfigError
from tap_templates.render import RenderedTemplate, to_json

TABLE_TYPE = "AWS::DynamoDB::GlobalTable"
FUNCTION_TYPE = "AWS::Lambda::Function"
SHARD_SETTINGS = {"DATA_TYPE_SHARDS": "table.data_type_shards", "REJECTED_SHARDS": "table.rejected_shards"}


@dataclass(frozen=True)
class IndexChange:
    action: str  # "create" or "delete"
    name: str
    definition: dict[str, Any]

    @property
    def keys(self) -> str:
        return ", ".join(k["AttributeName"] for k in self.definition.get("KeySchema", []))

    def describe(self) -> str:
        if self.action == "create":
            hash_key = self.definition["KeySchema"][0]["AttributeName"]
            return (f"create index {self.name} ({self.keys}; projection "
                    f"{self.definition.get('Projection', {}).get('ProjectionType', 'KEYS_ONLY')}): DynamoDB backfills "
                    f"it from every existing item that has {hash_key}, reading the whole table, and the operation "
                    "waits until it is ACTIVE in every replica")
        return f"delete index {self.name} ({self.keys}): queries on it stop, its storage and its writes go"


@dataclass(frozen=True)
class Rollout:
    """The index changes of one StackSet's update, and the templates of the operations before the last."""

    changes: tuple[IndexChange, ...] = ()
    steps: tuple[RenderedTemplate, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def operations(self) -> int:
        return len(self.steps) + 1

    def describe(self, name: str, region: str) -> list[str]:
        lines = []
        if self.changes:
            lines.append(f"{name} ({region}): the records table's indexes change on the live table:")
            lines += [f"  {c.describe()}" for c in self.changes]
        if self.steps:
            lines.append(f"{name} ({region}): DynamoDB creates or deletes one index per table update, so this update "
                         f"runs as {self.operations} StackSet operations, one index change each:")
            for number, change in enumerate(self.changes, 1):
                rest = ", with every other change of this deploy" if number == 1 else ""
                final = " (this deploy's template)" if number == len(self.changes) else ""
                lines.append(f"  {number}. {change.action} {change.name}{rest}{final}")
        return lines + [f"{name} ({region}): {note}" for note in self.notes]


def _resource(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]] | None:
    found = [(name, r.get("Properties", {})) for name, r in template.get("Resources", {}).items()
             if r.get("Type") == kind]
    return found[0] if len(found) == 1 else None


def index_changes(old: dict[str, Any], new: dict[str, Any]) -> list[IndexChange]:
    """Creations of new index names first, then deletions, then indexes whose definition changed (deleted and
    created again: the name cannot hold two definitions at once)."""
    before = {i["IndexName"]: i for i in old.get("GlobalSecondaryIndexes", [])}
    after = {i["IndexName"]: i for i in new.get("GlobalSecondaryIndexes", [])}
    changed = [n for n in after if n in before and _definition(before[n]) != _definition(after[n])]
    return ([IndexChange("create", n, after[n]) for n in after if n not in before]
            + [IndexChange("delete", n, before[n]) for n in before if n not in after]
            + [c for n in changed for c in (IndexChange("delete", n, before[n]), IndexChange("create", n, after[n]))])


def _definition(index: dict[str, Any]) -> tuple[str, str]:
    """What an index change is about: its keys and projection (throughput settings update in place)."""
    return json.dumps(index.get("KeySchema"), sort_keys=True), json.dumps(index.get("Projection"), sort_keys=True)


def _stepped(template: dict[str, Any], logical_id: str, indexes: list[dict[str, Any]],
             types: dict[str, str]) -> dict[str, Any]:
    """``template`` with the table's indexes replaced, and exactly the attribute definitions the keys use."""
    body = copy.deepcopy(template)
    props = body["Resources"][logical_id]["Properties"]
    props["GlobalSecondaryIndexes"] = indexes
    names = [k["AttributeName"] for k in props["KeySchema"]]
    names += [k["AttributeName"] for i in indexes for k in i["KeySchema"] if k["AttributeName"] not in names]
    props["AttributeDefinitions"] = [{"AttributeName": n, "AttributeType": types[n]} for n in sorted(set(names))]
    return body


def rollout(deployed_body: str | None, template: RenderedTemplate, reindex: str = "reindex") -> Rollout:
    """The index changes from the deployed template to ``template``, and the intermediate templates when there is
    more than one (none for a StackSet that does not exist yet: a new table gets all its indexes at once)."""
    if not deployed_body:
        return Rollout()
    try:
        old_template = json.loads(deployed_body)
    except ValueError:
        return Rollout()
    new_template = json.loads(template.body)
    old, new = _resource(old_template, TABLE_TYPE), _resource(new_template, TABLE_TYPE)
    notes = tuple(sharding_notes(old_template, new_template, reindex))
    if old is None or new is None or old[0] != new[0]:
        return Rollout(notes=notes)
    changes = index_changes(old[1], new[1])
    types = {a["AttributeName"]: a["AttributeType"] for a in [*old[1].get("AttributeDefinitions", []),
                                                              *new[1].get("AttributeDefinitions", [])]}
    state = list(old[1].get("GlobalSecondaryIndexes", []))
    steps = []
    for number, change in enumerate(changes[:-1], 1):
        state = [i for i in state if i["IndexName"] != change.name] if change.action == "delete" \
            else [*state, change.definition]
        body = to_json(_stepped(new_template, new[0], state, types))
        steps.append(RenderedTemplate(template.region, template.role, f"{template.region}.step-{number}.json", body,
                                      template.resources))
    return Rollout(tuple(changes), tuple(steps), notes + _reindex_note(changes, reindex))


def _reindex_note(changes: list[IndexChange], reindex: str) -> tuple[str, ...]:
    created = [c for c in changes if c.action == "create"]
    if not created:
        return ()
    keys = sorted({c.definition["KeySchema"][0]["AttributeName"] for c in created})
    return (f"items written before this deploy have no {', '.join(keys)}: the backfill of "
            f"{', '.join(c.name for c in created)} leaves them out; once the deploy is done, run `{reindex}` to add "
            "them",)


def _environment(template: dict[str, Any]) -> dict[str, Any]:
    found = _resource(template, FUNCTION_TYPE)
    return found[1].get("Environment", {}).get("Variables", {}) if found else {}


def sharding_notes(old_template: dict[str, Any], new_template: dict[str, Any], reindex: str = "reindex") -> list[str]:
    """Refuse a lower shard count (``ConfigError``); say what turning ``index_data_types`` on again means."""
    old, new = _environment(old_template), _environment(new_template)
    for variable, setting in SHARD_SETTINGS.items():
        before, after = old.get(variable), new.get(variable)
        if isinstance(before, str) and isinstance(after, str) and before.isdigit() and after.isdigit() \
                and int(after) < int(before):
            raise ConfigError(f"{setting} would go from {before} down to {after}: the records already written to "
                              f"shards {after} to {int(before) - 1} would be out of every query's reach; shard "
                              f"counts may only grow (set it back to {before} or more)")
    if old.get("INDEX_DATA_TYPES") == "false" and new.get("INDEX_DATA_TYPES") == "true":
        return ["table.index_data_types is turned on again: the valid records written while it was off have no "
                f"timeShard and are not in the time index; once the deploy is done, run `{reindex}` to add them"]
    if old.get("INDEX_DATA_TYPES") == "true" and new.get("INDEX_DATA_TYPES") == "false":
        return ["table.index_data_types is turned off: new valid records stay out of the time index (one write unit "
                "each instead of two) and queries by data type are refused; the records indexed so far stay until "
                "they expire"]
    return []
