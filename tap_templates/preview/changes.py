"""The resource-by-resource comparison of two versions of one region's template.

Both sides are compared as CloudFormation would see them: parameters are bound to their values (the deployed
StackSet's on one side, this deploy's on the other; a template's defaults fill the gaps), so a new ``CodeKey``
shows up on the resources that use it. A change replaces a resource when a create-only property's value
differs (``schemas``), and also when a create-only property refers to a resource that is itself replaced: the
referenced physical ID changes with it. Intrinsic functions are compared as written, never evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_templates.preview import access, schemas

ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy", "Condition", "DependsOn", "UpdatePolicy", "Metadata")
SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")


class Missing:
    """A property that one side does not have (distinct from an explicit null)."""

    def __repr__(self) -> str:
        return "(none)"


MISSING = Missing()


def shown(value: Any, limit: int = 80) -> str:
    """A value in one line: JSON, shortened in the middle when long."""
    if value is MISSING:
        return "(none)"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else f"{text[:limit // 2 - 2]} ... {text[-(limit // 2 - 3):]}"


@dataclass(frozen=True)
class PropertyChange:
    path: str
    old: Any
    new: Any
    create_only: bool = False

    def describe(self) -> str:
        mark = "  [create-only: replaces]" if self.create_only else ""
        return f"{self.path}: {shown(self.old)} -> {shown(self.new)}{mark}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "old": None if self.old is MISSING else self.old,
                "new": None if self.new is MISSING else self.new, "create_only": self.create_only}


@dataclass(frozen=True)
class ResourceChange:
    """One resource that is added, removed or modified (``replacement``: "yes", "unknown" or "")."""

    logical_id: str
    resource_type: str
    action: str
    replacement: str = ""
    reasons: tuple[str, ...] = ()
    properties: tuple[PropertyChange, ...] = ()
    attributes: tuple[PropertyChange, ...] = ()
    deletion_policy: str = "Delete"
    update_replace_policy: str = "Delete"

    @property
    def replaced(self) -> bool:
        return self.replacement == "yes"

    def to_json(self) -> dict[str, Any]:
        return {"logical_id": self.logical_id, "type": self.resource_type, "action": self.action,
                "replacement": self.replacement or "no", "reasons": list(self.reasons),
                "properties": [p.to_json() for p in self.properties],
                "attributes": [a.to_json() for a in self.attributes],
                "deletion_policy": self.deletion_policy, "update_replace_policy": self.update_replace_policy}


@dataclass(frozen=True)
class ParameterChange:
    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class TemplateChanges:
    """Everything that changes in one region's template of one environment (``status``: new, removed,
    changed or unchanged)."""

    environment: str
    region: str
    stack_set: str
    status: str
    resources: tuple[ResourceChange, ...] = ()
    parameters: tuple[ParameterChange, ...] = ()
    outputs: tuple[PropertyChange, ...] = ()
    widening: tuple[access.Widening, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        return f"{self.environment} {self.region} ({self.stack_set})"

    def counts(self) -> dict[str, int]:
        found = {"add": 0, "remove": 0, "modify": 0, "replace": 0}
        for r in self.resources:
            found[r.action] += 1
            found["replace"] += r.replaced
        return found

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "region": self.region, "stack_set": self.stack_set,
                "status": self.status, "counts": self.counts(),
                "resources": [r.to_json() for r in self.resources],
                "parameters": [{"name": p.name, "old": p.old, "new": p.new} for p in self.parameters],
                "outputs": [o.to_json() for o in self.outputs],
                "widening": [w.to_json() for w in self.widening], "notes": list(self.notes)}


# --- binding parameters ------------------------------------------------------------------------------------------


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str] | None) -> dict[str, str] | None:
    """The value of every parameter as CloudFormation would use it: given, else the template's default."""
    if given is None:
        return None
    defaults = {k: str(p["Default"]) for k, p in template.get("Parameters", {}).items() if "Default" in p}
    return {**defaults, **given}


def bind(node: Any, values: Mapping[str, str] | None) -> Any:
    """``Ref`` to a parameter and ``${Parameter}`` inside ``Fn::Sub`` replaced by the parameter's value."""
    if not values:
        return node
    if isinstance(node, list):
        return [bind(v, values) for v in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in values:
        return values[node["Ref"]]
    if set(node) == {"Fn::Sub"}:
        body = node["Fn::Sub"]
        text, local = (body, {}) if isinstance(body, str) else (body[0], body[1])
        if isinstance(text, str):
            text = SUB_VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)) if m.group(1) not in local
                                    else m.group(0), text)
            return {"Fn::Sub": text if isinstance(body, str) else [text, bind(local, values)]}
    return {k: bind(v, values) for k, v in node.items()}


NO_VALUE = {"Ref": "AWS::NoValue"}


def without_no_value(node: Any) -> Any:
    """``Ref AWS::NoValue`` removes a property in CloudFormation: removed here too, so it compares as absent."""
    if isinstance(node, list):
        return [without_no_value(v) for v in node if v != NO_VALUE]
    if isinstance(node, dict):
        return {k: without_no_value(v) for k, v in node.items() if v != NO_VALUE}
    return node


# --- comparing values ----------------------------------------------------------------------------------------------


def is_intrinsic(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1 and next(iter(node)).startswith(("Fn::", "Ref"))


def leaf_changes(old: Any, new: Any, path: str = "") -> list[PropertyChange]:
    """The smallest differing parts: maps by key, lists of equal length by position, anything else whole."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict) and not is_intrinsic(old) and not is_intrinsic(new):
        found = []
        for key in sorted(set(old) | set(new)):
            found += leaf_changes(old.get(key, MISSING), new.get(key, MISSING), f"{path}.{key}" if path else key)
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found += leaf_changes(a, b, f"{path}[{index}]")
        return found
    return [PropertyChange(path, old, new)]


def references(node: Any) -> set[str]:
    """Logical IDs a value refers to: ``Ref``, ``Fn::GetAtt`` and ``${Name}`` / ``${Name.Attr}`` in ``Fn::Sub``."""
    found: set[str] = set()
    if isinstance(node, list):
        for v in node:
            found |= references(v)
    elif isinstance(node, dict):
        if set(node) == {"Ref"} and isinstance(node["Ref"], str):
            found.add(node["Ref"])
        elif set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        elif set(node) == {"Fn::Sub"}:
            body = node["Fn::Sub"]
            text = body if isinstance(body, str) else body[0]
            found |= {m.split(".")[0] for m in SUB_VARIABLE.findall(text) if isinstance(text, str)}
            if not isinstance(body, str):
                found |= references(body[1])
        else:
            for v in node.values():
                found |= references(v)
    return found


# --- one template ---------------------------------------------------------------------------------------------------


@dataclass
class _Side:
    resources: dict[str, dict[str, Any]]
    values: dict[str, str] | None

    def properties(self, logical_id: str) -> dict[str, Any]:
        return bind(self.resources[logical_id].get("Properties", {}), self.values)


def _modified(logical_id: str, old: dict[str, Any], new: dict[str, Any], region: str,
              old_props: dict[str, Any], new_props: dict[str, Any]) -> ResourceChange | None:
    properties = leaf_changes(old_props, new_props)
    attributes = [c for name in ATTRIBUTES for c in leaf_changes(old.get(name, MISSING), new.get(name, MISSING), name)]
    if old["Type"] != new["Type"]:
        return ResourceChange(logical_id, new["Type"], "modify", "yes", (f"type {old['Type']} -> {new['Type']}",),
                              tuple(properties), tuple(attributes), *_policies(old))
    if not properties and not attributes:
        return None
    paths = schemas.replacing_paths(new["Type"], region, old_props, new_props)
    if paths is None:
        replacement, reasons = ("unknown", ("no CloudFormation schema for this type",)) if properties else ("", ())
    else:
        replacement = "yes" if paths else ""
        reasons = tuple(f"{p} is create-only" for p in paths)
    marked = tuple(PropertyChange(c.path, c.old, c.new, create_only=any(
        c.path == p or c.path.startswith((f"{p}.", f"{p}[")) for p in paths or ())) for c in properties)
    return ResourceChange(logical_id, new["Type"], "modify", replacement, reasons, marked, tuple(attributes),
                          *_policies(old))


def _policies(resource: dict[str, Any]) -> tuple[str, str]:
    """DeletionPolicy and UpdateReplacePolicy as CloudFormation applies them (both default to Delete here)."""
    return str(resource.get("DeletionPolicy", "Delete")), str(resource.get("UpdateReplacePolicy", "Delete"))


def _propagate(changes: dict[str, ResourceChange], old: _Side, new: _Side, region: str) -> None:
    """A resource whose create-only property refers to a replaced resource is replaced too (the reference
    resolves to a new physical ID); one that refers to it elsewhere is updated. Repeated until stable."""
    while True:
        replaced = {k for k, c in changes.items() if c.replaced and c.action == "modify"}
        grew = False
        for logical_id in sorted(set(old.resources) & set(new.resources)):
            current = changes.get(logical_id)
            if current is not None and current.replaced:
                continue
            props = new.properties(logical_id)
            pointing = sorted(references(props) & replaced)
            if not pointing:
                continue
            resource_type = new.resources[logical_id]["Type"]
            create_only = schemas.create_only(resource_type, region) or ()
            via = {".".join(p): sorted(refs) for p in create_only for _, v in schemas.values_at(props, p)
                   if (refs := references(v) & replaced)}
            if current is not None and not via:
                continue
            reasons = tuple(f"{p} refers to replaced {', '.join(refs)}" for p, refs in sorted(via.items())) or (
                f"refers to replaced {', '.join(pointing)}",)
            base = current or ResourceChange(logical_id, resource_type, "modify",
                                             deletion_policy=_policies(old.resources[logical_id])[0],
                                             update_replace_policy=_policies(old.resources[logical_id])[1])
            changes[logical_id] = ResourceChange(
                logical_id, resource_type, "modify", "yes" if via else base.replacement,
                base.reasons + reasons, base.properties, base.attributes, base.deletion_policy,
                base.update_replace_policy)
            grew = True
        if not grew:
            return


def compare(environment: str, region: str, stack_set: str, old: Mapping[str, Any] | None,
            new: Mapping[str, Any] | None, old_parameters: Mapping[str, str] | None = None,
            new_parameters: Mapping[str, str] | None = None) -> TemplateChanges:
    """Compare two versions of a region's template (None: the side does not exist). Parameters (None: compare
    the templates as written) are bound to their values before comparing."""
    old_t, new_t = without_no_value(dict(old or {})), without_no_value(dict(new or {}))
    status = "new" if old is None else "removed" if new is None else "changed"
    old_side = _Side(old_t.get("Resources", {}), parameter_values(old_t, old_parameters))
    new_side = _Side(new_t.get("Resources", {}), parameter_values(new_t, new_parameters))
    changes: dict[str, ResourceChange] = {}
    for logical_id in sorted(set(old_side.resources) | set(new_side.resources)):
        if logical_id not in old_side.resources:
            r = new_side.resources[logical_id]
            changes[logical_id] = ResourceChange(logical_id, r["Type"], "add", deletion_policy=_policies(r)[0],
                                                 update_replace_policy=_policies(r)[1])
        elif logical_id not in new_side.resources:
            r = old_side.resources[logical_id]
            changes[logical_id] = ResourceChange(logical_id, r["Type"], "remove", deletion_policy=_policies(r)[0],
                                                 update_replace_policy=_policies(r)[1])
        else:
            change = _modified(logical_id, old_side.resources[logical_id], new_side.resources[logical_id], region,
                               old_side.properties(logical_id), new_side.properties(logical_id))
            if change:
                changes[logical_id] = change
    _propagate(changes, old_side, new_side, region)
    parameters = _parameter_changes(old_side.values, new_side.values)
    outputs = tuple(leaf_changes(old_t.get("Outputs", {}), new_t.get("Outputs", {})))
    outputs = tuple(o for o in outputs if "." not in o.path or o.path.split(".")[1] in ("Value", "Condition"))
    widening = tuple(access.widening(bind(old_t.get("Resources", {}), old_side.values),
                                     bind(new_t.get("Resources", {}), new_side.values)))
    resources = tuple(changes[k] for k in sorted(changes))
    if status == "changed" and not (resources or parameters or outputs or widening):
        status = "unchanged"
    return TemplateChanges(environment, region, stack_set, status, resources, parameters, outputs, widening)


def _parameter_changes(old: Mapping[str, str] | None, new: Mapping[str, str] | None) -> tuple[ParameterChange, ...]:
    if old is None or new is None:
        return ()
    return tuple(ParameterChange(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                 if old.get(k) != new.get(k))


def summary(changes: Iterable[TemplateChanges]) -> dict[str, int]:
    total = {"add": 0, "remove": 0, "modify": 0, "replace": 0, "widening": 0}
    for t in changes:
        for key, value in t.counts().items():
            total[key] += value
        total["widening"] += len(t.widening)
    return total
