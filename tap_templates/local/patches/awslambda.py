"""Lambda functions, versions and aliases created by CloudFormation, and the account's concurrency.

Gaps:

- ``AWS::Lambda::Function`` ignores ``Architectures`` and ``TracingConfig`` (every function is x86_64 without
  tracing). The patch sets both from the template, on create and on update, so the Lambda API shows the
  function the template describes.
- ``GetAccountSettings`` is not implemented (404), so the deploy's pre-flight could not read the account's
  concurrency. The patch answers it from moto's own model of the limit: ``MOTO_LAMBDA_CONCURRENCY_QUOTA`` (the
  variable moto's ``PutFunctionConcurrency`` enforces; 1,000, AWS's default, when unset), minus the reserved
  concurrency of the region's functions. moto still enforces nothing when CloudFormation creates a function.
- ``AWS::Lambda::Version`` has no ``Ref`` (the version's ARN), no ``GetAtt Version`` and no update: a version
  replaced by a deploy (a new description) is never published. The patch adds the three; an update publishes.
- ``AWS::Lambda::Alias`` has no model at all, so an event source mapping on the alias cannot be created. The
  patch registers one (create, update, delete through moto's Lambda backend). Its ``CodeDeployLambdaAliasUpdate``
  update policy is not emulated: the alias moves to the new version at once, as with ``LambdaAllAtOnce``.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from tap_templates.local.patches.guard import Patch

FUNCTION_PROPERTIES = Patch("awslambda: function architectures and tracing")
ACCOUNT_SETTINGS = Patch("awslambda: GetAccountSettings")
QUOTA_VARIABLE = "MOTO_LAMBDA_CONCURRENCY_QUOTA"
DEFAULT_CONCURRENCY = 1000
ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"
VERSION_MODEL = Patch("awslambda: version references and updates")
ALIAS_MODEL = Patch("awslambda: alias model")
ALIAS_TYPE = "AWS::Lambda::Alias"
_MODEL_CACHES = ("get_model_list", "get_model_map", "get_name_type_map")
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


def patch_version_model() -> None:
    patch = VERSION_MODEL
    models = patch.module("moto.awslambda.models")
    version_cls = patch.require(models, "LambdaVersion")
    backends = patch.require(models, "lambda_backends")
    patch.require(patch.require(models, "LambdaBackend"), "publish_version", ("self", "function_name", "description"))

    def publish(function_name: str, description: str, account_id: str, region_name: str) -> Any:
        fn = backends[account_id][region_name].publish_version(function_name, description)
        found = version_cls({"Version": fn.version})
        found.function_arn = fn.function_arn
        return found

    def create(cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
               region_name: str, **kwargs: Any) -> Any:
        props = cloudformation_json["Properties"]
        return publish(props["FunctionName"], props.get("Description", ""), account_id, region_name)

    def update(cls: type, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
               account_id: str, region_name: str) -> Any:
        props = cloudformation_json["Properties"]
        return publish(props["FunctionName"], props.get("Description", ""), account_id, region_name)

    def delete(cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
               region_name: str) -> None:
        return None  # versions stay published, as a retained version would

    version_cls.create_from_cloudformation_json = classmethod(create)
    version_cls.update_from_cloudformation_json = classmethod(update)
    version_cls.delete_from_cloudformation_json = classmethod(delete)
    version_cls.has_cfn_attr = classmethod(lambda cls, attr: attr == "Version")
    version_cls.get_cfn_attribute = lambda self, name: str(self.version)
    version_cls.physical_resource_id = property(lambda self: getattr(self, "function_arn", str(self.version)))


def _alias_model(base: type, backends: Any, gone: type[Exception]) -> type:
    """A subclass of moto's ``CloudFormationModel`` (moto finds models by subclassing)."""

    class AliasModel(base):  # type: ignore[misc, valid-type]
        __module__ = "moto.awslambda.aliases"

        def __init__(self, alias: Any) -> None:
            self.alias = alias

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return ALIAS_TYPE

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "AliasArn"

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            return self.alias.arn

        @property
        def physical_resource_id(self) -> str:
            return self.alias.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            p = cloudformation_json["Properties"]
            return cls(backends[account_id][region_name].create_alias(
                p["Name"], p["FunctionName"], str(p["FunctionVersion"]), p.get("Description", ""), None))

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str, region_name: str) -> Any:
            p = cloudformation_json["Properties"]
            return cls(backends[account_id][region_name].update_alias(
                p["Name"], p["FunctionName"], str(p["FunctionVersion"]), p.get("Description", ""), None))

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str) -> None:
            # Deletion gets the template's properties unresolved (FunctionName is a Ref): the physical ID, the
            # alias's ARN (arn:...:function:NAME:ALIAS), names both.
            *_, function_name, name = resource_name.split(":")
            with contextlib.suppress(gone):  # moto may delete the function first; its aliases went with it
                backends[account_id][region_name].delete_alias(name, function_name)

    return AliasModel


def register_alias_model() -> None:
    patch = ALIAS_MODEL
    parsing = patch.module("moto.cloudformation.parsing")
    base = patch.require(patch.module("moto.core.common_models"), "CloudFormationModel")
    models = patch.module("moto.awslambda.models")
    backends = patch.require(models, "lambda_backends")
    backend = patch.require(models, "LambdaBackend")
    alias_parameters = ("self", "name", "function_name", "function_version", "description", "routing_config")
    patch.require(backend, "create_alias", alias_parameters)
    patch.require(backend, "update_alias", alias_parameters)
    patch.require(backend, "delete_alias", ("self", "name", "function_name"))
    clears = [patch.require(patch.require(parsing, name), "cache_clear") for name in _MODEL_CACHES]
    gone = patch.require(patch.module("moto.awslambda.exceptions"), "UnknownFunctionException")
    model = _alias_model(base, backends, gone)
    for clear in clears:
        clear()
    if patch.require(parsing, "get_model_map")().get(ALIAS_TYPE) is not model:
        patch.fail("moto's CloudFormation no longer finds models among CloudFormationModel's subclasses")
