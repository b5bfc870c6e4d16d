"""IAM policy conditions, as moto evaluates them for resource policies.

Gap: moto evaluates only ``StringEquals`` conditions (its ``CONDITION_OPERATIONS``) and takes every other
condition as met, so a bucket's TLS-only ``Deny`` (``Bool aws:SecureTransport false``) denies
every object request (403). The patch lets a ``Deny`` apply only when moto can evaluate its condition:
requests to the emulator count as TLS.
"""

from __future__ import annotations

from typing import Any

from tap_templates.local.patches.guard import Patch

POLICY_CONDITIONS = Patch("iam: deny only on conditions moto evaluates")
PERMITTED_PARAMETERS = ("self", "action", "resource", "principal", "incoming_condition_values")


def _evaluable(operations: Any, condition: dict[str, dict[str, Any]], values: dict[str, str] | None) -> bool:
    return all(operator in operations and all(key in (values or {}) for key in keys)
               for operator, keys in condition.items())


def patch_policy_conditions() -> None:
    patch = POLICY_CONDITIONS
    access_control = patch.module("moto.iam.access_control")
    statement_cls = patch.require(access_control, "IAMPolicyStatement")
    original = patch.require(statement_cls, "is_action_permitted", PERMITTED_PARAMETERS)
    result_cls = patch.require(access_control, "PermissionResult")
    denied, neutral = patch.require(result_cls, "DENIED"), patch.require(result_cls, "NEUTRAL")
    operations = patch.require(patch.module("moto.iam.policy_conditions"), "CONDITION_OPERATIONS")

    def is_action_permitted(self: Any, action: str, resource: str = "*", principal: str | None = None,
                            incoming_condition_values: dict[str, str] | None = None) -> Any:
        result = original(self, action, resource, principal, incoming_condition_values)
        condition = self._statement.get("Condition")
        if (result == denied and self._statement.get("Effect") == "Deny" and condition
                and not _evaluable(operations, condition, incoming_condition_values)):
            return neutral
        return result

    statement_cls.is_action_permitted = is_action_permitted
