"""Read-only views of the rendered templates, shared by the template, contract and deploy tests.

Tests assert on the JSON that ``render`` produces (what CloudFormation would receive), not on troposphere
objects, so a test passes only when the deployed template would really have the property.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from tap_templates import naming
from tap_templates.config import PipelineConfig, load_config
from tap_templates.render import Rendering, render

SHIPPED_ENVS = ("dev", "prod")
ACCOUNT = naming.SAMPLE_ACCOUNT


@dataclass(frozen=True)
class RegionTemplate:
    env: str
    region: str
    role: str
    body: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def one(self, resource_type: str) -> dict[str, Any]:
        found = self.of_type(resource_type)
        assert len(found) == 1, f"{self.region}: expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.values()))["Properties"]

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id]["Properties"]


@cache
def rendering(env: str) -> Rendering:
    return render(load_config(env))


@cache
def config(env: str) -> PipelineConfig:
    return load_config(env)


def templates(env: str) -> list[RegionTemplate]:
    return [RegionTemplate(env, t.region, t.role, json.loads(t.body)) for t in rendering(env).templates]


def all_templates() -> list[RegionTemplate]:
    return [t for env in SHIPPED_ENVS for t in templates(env)]


def by_region(env: str) -> dict[str, RegionTemplate]:
    return {t.region: t for t in templates(env)}


def resolve(value: Any, template: RegionTemplate) -> str | None:
    """The concrete string of a literal or ``Fn::Sub`` for the sample account; None for other functions."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return naming.resolve(value["Fn::Sub"], ACCOUNT).replace("${AWS::Region}", template.region)
    return None


def walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, (*path, i))


def policy_documents(template: RegionTemplate) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM-style policy document in a template: role policies, trust policies, resource policies."""
    for logical_id, resource in template.resources.items():
        for path, node in walk(resource.get("Properties", {})):
            if isinstance(node, dict) and "Statement" in node:
                yield f"{logical_id}.{'.'.join(map(str, path))}", node


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
