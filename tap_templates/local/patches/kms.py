"""KMS keys created by CloudFormation.

Gap: ``AWS::KMS::Key`` with ``Tags`` fails (moto passes CloudFormation's ``Key``/``Value`` tags to the KMS API,
which expects ``TagKey``/``TagValue``), and its ``KeyPolicy`` is kept as an object, so every KMS call that
reads the policy (``DescribeKey``, encrypting, ...) fails. The patch converts both before moto creates the key.
"""

from __future__ import annotations

import json
from typing import Any

from tap_templates.local.patches.guard import Patch

KEY_PROPERTIES = Patch("kms: key tags and policy")
CREATE_PARAMETERS = ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs")


def _api_shape(cfn: dict[str, Any]) -> dict[str, Any]:
    props = dict(cfn.get("Properties", {}))
    props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
    if isinstance(props.get("KeyPolicy"), dict):
        props["KeyPolicy"] = json.dumps(props["KeyPolicy"])
    return {**cfn, "Properties": props}


def patch_key_properties() -> None:
    models = KEY_PROPERTIES.module("moto.kms.models")
    key = KEY_PROPERTIES.require(models, "Key")
    create = KEY_PROPERTIES.require_classmethod(key, "create_from_cloudformation_json", CREATE_PARAMETERS)

    def create_key(cls: type, name: str, cfn: dict[str, Any], account_id: str, region_name: str,
                   **kwargs: Any) -> Any:
        return create(cls, name, _api_shape(cfn), account_id, region_name, **kwargs)

    key.create_from_cloudformation_json = classmethod(create_key)
