"""``patch_moto``: fixes to moto's own behaviour, one module per AWS service, applied once when the emulator
starts (in-process before ``mock_aws``, or in the server, ``python -m tap_templates.local.server``).

Each module's docstring names the gap its patches cover. Every patch takes what it replaces from moto through
``guard.Patch.require``: on a moto without it, ``patch_moto`` raises ``EmulatorError`` (one line: the installed
moto, the patch, what is missing, the supported versions) before the first deploy can go wrong.
"""

from __future__ import annotations

from collections.abc import Callable

from tap_templates.local.patches import awslambda, cloudformation, dynamodb, ec2, iam, kms, s3, sqs, stacksets
from tap_templates.local.patches.guard import SUPPORTED_MOTO, EmulatorError, moto_version

__all__ = ["PATCHES", "SUPPORTED_MOTO", "EmulatorError", "moto_version", "patch_moto"]

PATCHES: tuple[Callable[[], None], ...] = (
    kms.patch_key_properties,
    dynamodb.register_global_table_model,
    dynamodb.patch_describe_limits,
    awslambda.patch_function_properties,
    awslambda.patch_account_settings,
    awslambda.patch_version_model,
    awslambda.register_alias_model,
    cloudformation.patch_condition_updates,
    cloudformation.patch_outputs_of_skipped_resources,
    cloudformation.patch_retain_except_on_create,
    cloudformation.patch_template_parsing,
    ec2.patch_route_table_delete,
    ec2.patch_subnet_zone_id,
    stacksets.patch_instance_overrides,
    stacksets.patch_instance_updates,
    stacksets.patch_operation_results,
    stacksets.patch_deployment_targets,
    iam.patch_policy_conditions,
    s3.patch_event_versions,
    s3.register_replication_route,
    sqs.patch_event_source_delivery,
)

_patched = False


def patch_moto() -> None:
    """Apply every patch to the moto imported in this process. Idempotent; call before deploying."""
    global _patched
    if _patched:
        return
    for patch in PATCHES:
        patch()
    _patched = True
