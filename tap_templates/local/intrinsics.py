"""What a rendered template's intrinsic functions refer to, and their values in one account and region.

The emulator's fixes read everything they create from the rendered template itself, so a template change
still reaches the tests. ``resolve`` covers the intrinsic functions our templates use; the helpers above it
find references without resolving them (which resources and conditions a fragment depends on).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == resource_type}


def references(node: Any, key: str) -> set[str]:
    """Names used under ``key`` anywhere in ``node`` (``Ref`` targets, ``Condition`` names, ``Fn::If`` tests)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                found.add(v)
            elif k == key == "Fn::If" and isinstance(v, list) and v:
                found.add(v[0])
            found |= references(v, key)
    elif isinstance(node, list):
        for item in node:
            found |= references(item, key)
    return found


def get_atts(node: Any) -> list[Any]:
    """Every ``Fn::GetAtt`` argument anywhere in ``node``."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "Fn::GetAtt"] + [a for v in node.values() for a in get_atts(v)]
    if isinstance(node, list):
        return [a for item in node for a in get_atts(item)]
    return []


@dataclass(frozen=True)
class TemplateContext:
    """What intrinsic functions resolve against: one account and region, and the template's own names."""

    template: dict[str, Any]
    account: str
    region: str
    partition: str
    parameters: dict[str, str]
    clients: Callable[[str], Any]

    def physical_id(self, logical_id: str) -> str:
        """The name the resource has in AWS, from its own name property (every pipeline resource has one)."""
        resource = self.template["Resources"][logical_id]
        props, kind = resource.get("Properties", {}), resource["Type"]
        if kind == "AWS::S3::Bucket":
            return resolve(props["BucketName"], self)
        if kind == "AWS::SQS::Queue":
            return self.clients("sqs").get_queue_url(QueueName=resolve(props["QueueName"], self))["QueueUrl"]
        if kind == "AWS::SNS::Topic":
            return f"arn:{self.partition}:sns:{self.region}:{self.account}:{resolve(props['TopicName'], self)}"
        if kind == "AWS::KMS::Key":
            return self.key_metadata(logical_id)["KeyId"]
        if kind == "AWS::Lambda::Function":
            return resolve(props["FunctionName"], self)
        raise ValueError(f"the emulator cannot resolve Ref {logical_id} ({kind})")

    def attribute(self, logical_id: str, name: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        if (kind, name) == ("AWS::SQS::Queue", "Arn"):
            props = self.template["Resources"][logical_id]["Properties"]
            return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{resolve(props['QueueName'], self)}"
        if (kind, name) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:{self.partition}:s3:::{self.physical_id(logical_id)}"
        if (kind, name) == ("AWS::KMS::Key", "Arn"):
            return self.key_metadata(logical_id)["Arn"]
        if (kind, name) == ("AWS::Lambda::Version", "Version"):  # the newest published version of the function
            function = resolve(self.template["Resources"][logical_id]["Properties"]["FunctionName"], self)
            versions = self.clients("lambda").list_versions_by_function(FunctionName=function)["Versions"]
            return str(max((int(v["Version"]) for v in versions if v["Version"].isdigit()), default=1))
        raise ValueError(f"the emulator cannot resolve GetAtt {logical_id}.{name} ({kind})")

    def key_metadata(self, logical_id: str) -> dict[str, Any]:
        """A key has no name: find it through the alias the template points at it."""
        for alias in resources_of_type(self.template, "AWS::KMS::Alias").values():
            if alias["Properties"].get("TargetKeyId") == {"Ref": logical_id}:
                name = resolve(alias["Properties"]["AliasName"], self)
                return self.clients("kms").describe_key(KeyId=name)["KeyMetadata"]
        raise ValueError(f"no alias names key {logical_id}")

    def condition(self, name: str) -> bool:
        return bool(resolve(self.template.get("Conditions", {})[name], self))


def _is_intrinsic(value: dict[str, Any]) -> bool:
    if len(value) != 1:
        return False
    (key, argument), = value.items()
    return key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(argument, str))


def resolve(value: Any, ctx: TemplateContext) -> Any:
    """The concrete value of a template fragment in one account and region (the intrinsics our templates use);
    ``Ref AWS::NoValue`` removes the property, as in CloudFormation."""
    if isinstance(value, list):
        return [v for v in (resolve(item, ctx) for item in value) if v is not None]
    if not isinstance(value, dict):
        return value
    if not _is_intrinsic(value):
        return {k: v for k, v in ((k, resolve(v, ctx)) for k, v in value.items()) if v is not None}
    (function, argument), = value.items()
    if function == "Ref":
        return _ref(argument, ctx)
    if function == "Condition":
        return ctx.condition(argument)
    if function == "Fn::GetAtt":
        return ctx.attribute(*argument)
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        return SUB_VARIABLE.sub(lambda m: _sub_variable(m.group(1), variables, ctx), text)
    if function == "Fn::If":
        return resolve(argument[1] if ctx.condition(argument[0]) else argument[2], ctx)
    if function == "Fn::Join":
        return argument[0].join(str(v) for v in resolve(argument[1], ctx))
    if function == "Fn::Equals":
        left, right = resolve(argument, ctx)
        return left == right
    if function in ("Fn::And", "Fn::Or"):
        results = [bool(resolve(a, ctx)) for a in argument]
        return all(results) if function == "Fn::And" else any(results)
    if function == "Fn::Not":
        return not resolve(argument[0], ctx)
    raise ValueError(f"the emulator cannot resolve {function}")


def _ref(name: str, ctx: TemplateContext) -> Any:
    pseudo = {"AWS::AccountId": ctx.account, "AWS::Region": ctx.region, "AWS::Partition": ctx.partition,
              "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
    if name in pseudo:
        return pseudo[name]
    if name in ctx.parameters:
        return ctx.parameters[name]
    if name in ctx.template.get("Parameters", {}):
        return ctx.template["Parameters"][name].get("Default")
    return ctx.physical_id(name)


def _sub_variable(name: str, variables: dict[str, Any], ctx: TemplateContext) -> str:
    if name in variables:
        return str(resolve(variables[name], ctx))
    if "." in name and not name.startswith("AWS::"):
        return str(ctx.attribute(*name.split(".", 1)))
    return str(_ref(name, ctx))
