"""Lambda functions created by CloudFormation, and the account's concurrency.

Gap: ``AWS::Lambda::Function`` ignores ``Architectures`` and ``TracingConfig`` (every function is x86_64
without tracing). The patch sets both from the template, on create and on update, so the Lambda API shows the
function the template describes.

Gap: ``GetAccountSettings`` is not implemented (404), so the deploy's pre-flight could not read the account's
concurrency. The patch answers it from moto's own model of the limit: ``MOTO_LAMBDA_CONCURRENCY_QUOTA`` (the
variable moto's ``PutFunctionConcurrency`` enforces; 1,000, AWS's default, when unset), minus the reserved
concurrency of the region's functions. moto still enforces nothing when CloudFormation creates a function.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tap_templates.local.patches.guard import Patch

FUNCTION_PROPERTIES = Patch("awslambda: function architectures and tracing")
ACCOUNT_SETTINGS = Patch("awslambda: GetAccountSettings")
QUOTA_VARIABLE = "MOTO_LAMBDA_CONCURRENCY_QUOTA"
DEFAULT_CONCURRENCY = 1000
ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"
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


def patch_account_settings() -> None:
    patch = ACCOUNT_SETTINGS
    paths = patch.require(patch.module("moto.awslambda.urls"), "url_paths")
    response_cls = patch.require(patch.module("moto.awslambda.responses"), "LambdaResponse")
    patch.require(response_cls, "dispatch")
    patch.require(response_cls, "backend")
    backend_cls = patch.require(patch.module("moto.awslambda.models"), "LambdaBackend")
    patch.require(backend_cls, "list_functions")

    def get_account_settings(self: Any) -> tuple[int, dict[str, str], str]:
        functions = list(self.backend.list_functions())
        limit = int(os.environ.get(QUOTA_VARIABLE, DEFAULT_CONCURRENCY))
        reserved = sum(int(fn.reserved_concurrency) for fn in functions if fn.reserved_concurrency)
        body = {
            "AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": limit - reserved,
                             "TotalCodeSize": 80_530_636_800, "CodeSizeUnzipped": 262_144_000,
                             "CodeSizeZipped": 52_428_800},
            "AccountUsage": {"FunctionCount": len(functions), "TotalCodeSize": 0},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    response_cls.get_account_settings = get_account_settings
    paths[ACCOUNT_SETTINGS_PATH] = response_cls.dispatch
