"""A small model of how KMS evaluates a key policy's Allow statements for one request, for the behaviours the
emulator cannot show (moto's KMS evaluates no key policy).

It follows the IAM rules the templates depend on (IAM User Guide, "IAM JSON policy elements: Condition" and
"Condition operators"): every operator of a statement's Condition must hold, every key of an operator must
hold, a key absent from the request makes its condition false (no ``...IfExists`` operators are used), and a
list of values matches when any value does. Only the operators the templates use are modelled; any other
fails the test instead of passing silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from tests.support.rendered import RegionTemplate, as_list, resolve

OPERATORS = {
    "StringEquals": lambda value, pattern: value == pattern,
    "ArnEquals": lambda value, pattern: value == pattern,
    "StringLike": fnmatchcase,
    "ArnLike": fnmatchcase,
}


@dataclass(frozen=True)
class Request:
    """One call to KMS as the key policy sees it."""

    principal: tuple[str, str]  # ("Service", "cloudtrail.amazonaws.com") or ("AWS", "arn:...")
    action: str
    context: dict[str, str] = field(default_factory=dict)


def _condition_holds(condition: dict[str, Any], request: Request, template: RegionTemplate) -> bool:
    for operator, keys in condition.items():
        if operator not in OPERATORS:
            raise AssertionError(f"the key policy model has no operator {operator}: add it with its IAM meaning")
        for key, expected in keys.items():
            if key not in request.context:
                return False
            patterns = [resolve(v, template) for v in as_list(expected)]
            if not any(OPERATORS[operator](request.context[key], p) for p in patterns):
                return False
    return True


def allowing_statements(template: RegionTemplate, request: Request) -> list[str]:
    """The Sids of the key policy's Allow statements that grant the request."""
    found = []
    for statement in template.one("AWS::KMS::Key")["KeyPolicy"]["Statement"]:
        if statement["Effect"] != "Allow":  # (a Deny may name its principal as "*")
            continue
        kind, who = request.principal
        principals = as_list(statement.get("Principal", {}).get(kind, []))
        if who not in [resolve(p, template) for p in principals]:
            continue
        if request.action not in as_list(statement["Action"]):
            continue
        if _condition_holds(statement.get("Condition", {}), request, template):
            found.append(statement["Sid"])
    return found
