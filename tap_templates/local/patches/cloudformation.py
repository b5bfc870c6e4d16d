"""Stacks: how moto's CloudFormation updates, deletes and reads them.

Gap: a stack update reaches only resources that ``Ref`` a changed parameter, not those depending on it through
a condition (the event source's ``Enabled`` follows ``ProcessingEnabled`` through ``ProcessingIsEnabled``).
``patch_condition_updates`` also updates resources that use a condition built from a changed parameter.

Gap: a stack whose outputs ``GetAtt`` a resource type moto does not model (the audit trail's ARN) fails to
create. ``patch_outputs_of_skipped_resources`` leaves out the outputs of skipped resources, as moto already
does for a ``Ref`` to one.

Gap: ``DeletionPolicy: RetainExceptOnCreate`` (the data-holding resources) is not known: moto deletes those
resources with their stack. ``patch_retain_except_on_create`` keeps them, as CloudFormation does on every
deletion that is not the rollback of a failed first create; a rollback (``ROLLING_BACK``, set by the StackSet
patches when an instance's first create fails) deletes them, as CloudFormation does.

Speed: moto parses every template with PyYAML's pure-Python loader (about 0.4 s for one of our 100 KB JSON
templates, on every stack create and update). ``patch_template_parsing`` parses JSON templates as JSON.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

from tap_templates.local.intrinsics import SUB_VARIABLE, get_atts, references
from tap_templates.local.patches.guard import Patch

CONDITION_UPDATES = Patch("cloudformation: updates through conditions")
OUTPUTS_OF_SKIPPED = Patch("cloudformation: outputs of skipped resources")
RETAIN_EXCEPT_ON_CREATE = Patch("cloudformation: RetainExceptOnCreate")
TEMPLATE_PARSING = Patch("cloudformation: JSON templates parsed as JSON")
# True while a stack is deleted as the rollback of its failed first create.
ROLLING_BACK: contextvars.ContextVar[bool] = contextvars.ContextVar("rolling_back", default=False)


def conditions_using(conditions: dict[str, Any], parameters: set[str]) -> set[str]:
    """Conditions that depend on any of ``parameters``, directly or through other conditions."""
    affected: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, body in conditions.items():
            if name not in affected and (references(body, "Ref") & parameters
                                         or references(body, "Condition") & affected):
                affected.add(name)
                changed = True
    return affected


def patch_condition_updates() -> None:
    resource_map = CONDITION_UPDATES.require(CONDITION_UPDATES.module("moto.cloudformation.parsing"), "ResourceMap")
    original = CONDITION_UPDATES.require(resource_map, "build_resource_diff", ("self", "other_template", "parameters"))

    def build_resource_diff(self: Any, other_template: dict[str, Any],
                            parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        diff = original(self, other_template, parameters)
        if not parameters:
            return diff
        changed = {p for p in parameters if self.input_parameters.get(p) != parameters[p]}
        conditions = conditions_using(other_template.get("Conditions", {}), changed)
        for name, resource in other_template["Resources"].items():
            uses = references(resource, "Fn::If") | references(resource, "Condition")
            if name in self._resource_json_map and name not in diff["Modify"] and uses & conditions:
                diff["Modify"].append(name)
        return diff

    resource_map.build_resource_diff = build_resource_diff


def _on_skipped_resource(parsing: Any, resource_map: Any, output: dict[str, Any]) -> bool:
    names = references(output, "Ref") | {a[0] for a in get_atts(output) if isinstance(a, list) and a}
    names |= {n.split(".")[0] for n in SUB_VARIABLE.findall(json.dumps(output))}
    resources = resource_map._resource_json_map
    return any(name in resources and parsing.resource_class_from_type(resources[name]["Type"]) is None
               for name in names)


def patch_outputs_of_skipped_resources() -> None:
    patch = OUTPUTS_OF_SKIPPED
    parsing = patch.module("moto.cloudformation.parsing")
    resource_map = patch.require(parsing, "ResourceMap")
    validate = patch.require(resource_map, "validate_outputs", ("self",))
    parse_output = patch.require(parsing, "parse_output", ("output_logical_id", "output_json", "resources_map"))
    patch.require(parsing, "resource_class_from_type")

    def validate_outputs(self: Any) -> None:
        outputs = self._template.get("Outputs") or {}
        template = self._template
        self._template = {**template, "Outputs": {k: v for k, v in outputs.items()
                                                  if not _on_skipped_resource(parsing, self, v)}}
        try:
            validate(self)
        finally:
            self._template = template

    def parse_output_unless_skipped(output_logical_id: str, output_json: Any, resources_map: Any) -> Any:
        if _on_skipped_resource(parsing, resources_map, output_json):
            return None
        return parse_output(output_logical_id, output_json, resources_map)

    resource_map.validate_outputs = validate_outputs
    parsing.parse_output = parse_output_unless_skipped


def patch_retain_except_on_create() -> None:
    patch = RETAIN_EXCEPT_ON_CREATE
    resource_map = patch.require(patch.module("moto.cloudformation.parsing"), "ResourceMap")
    original = patch.require(resource_map, "delete", ("self",))

    def delete(self: Any) -> None:
        for resource in self._resource_json_map.values():
            if resource.get("DeletionPolicy") == "RetainExceptOnCreate" and not ROLLING_BACK.get():
                resource["DeletionPolicy"] = "Retain"
        original(self)

    resource_map.delete = delete


def patch_template_parsing() -> None:
    stack_cls = TEMPLATE_PARSING.require(TEMPLATE_PARSING.module("moto.cloudformation.models"), "Stack")
    parse_yaml = TEMPLATE_PARSING.require(stack_cls, "parse_template", ("template",))

    def parse_template(template: str) -> dict[str, Any]:
        if isinstance(template, str) and template.lstrip().startswith("{"):
            try:
                return json.loads(template)
            except ValueError:
                pass
        return parse_yaml(template)

    stack_cls.parse_template = staticmethod(parse_template)
