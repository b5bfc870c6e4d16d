"""Lambda functions created by CloudFormation.

Gap: ``AWS::Lambda::Function`` ignores ``Architectures`` and ``TracingConfig`` (every function is x86_64
without tracing). The patch sets both from the template, on create and on update, so the Lambda API shows the
function the template describes.
"""

from __future__ import annotations

from typing import Any

from tap_templates.local.patches.guard import Patch

FUNCTION_PROPERTIES = Patch("awslambda: function architectures and tracing")
CREATE_PARAMETERS = ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs")
UPDATE_PARAMETERS = ("original_resource", "new_resource_name", "cloudformation_json", "account_id", "region_name")


def _apply(fn: Any, props: dict[str, Any]) -> Any:
    if "Architectures" in props:
        fn.architectures = list(props["Architectures"])
    if "TracingConfig" in props:
        fn.tracing_config = dict(props["TracingConfig"])
    return fn


def patch_function_properties() -> None:
    patch = FUNCTION_PROPERTIES
    function_cls = patch.require(patch.module("moto.awslambda.models"), "LambdaFunction")
    create = patch.require_classmethod(function_cls, "create_from_cloudformation_json", CREATE_PARAMETERS)
    update = patch.require_classmethod(function_cls, "update_from_cloudformation_json", UPDATE_PARAMETERS)

    def create_function(cls: type, name: str, cfn: dict[str, Any], account_id: str, region_name: str,
                        **kwargs: Any) -> Any:
        return _apply(create(cls, name, cfn, account_id, region_name, **kwargs), cfn["Properties"])

    def update_function(cls: type, original_resource: Any, new_resource_name: str,
                        cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
        updated = update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        return _apply(updated, cloudformation_json["Properties"])

    function_cls.create_from_cloudformation_json = classmethod(create_function)
    function_cls.update_from_cloudformation_json = classmethod(update_function)
