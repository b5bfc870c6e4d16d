"""The only places a policy may use a wildcard, each with the reason. Tests enforce that nothing else does.

Keep this list short: every entry is something a security reviewer will ask about.
"""

from __future__ import annotations

# (document kind, action) -> why a "*" resource is the only possible resource.
WILDCARD_RESOURCES: dict[tuple[str, str], str] = {
    ("role", "xray:PutTraceSegments"): "X-Ray's write API has no resource type; AWS documents only '*'",
    ("role", "xray:PutTelemetryRecords"): "X-Ray's write API has no resource type; AWS documents only '*'",
    ("role", "ec2:DescribeNetworkInterfaces"): "EC2 Describe actions support no resource-level permissions; "
                                               "Lambda needs it to manage the function's VPC interfaces",
    ("role", "ec2:DescribeSubnets"): "EC2 Describe actions support no resource-level permissions; Lambda "
                                     "checks the function's subnets with it",
}

# In a KMS key policy "Resource": "*" means "this key": a key policy can name no other resource.
KEY_POLICY_RESOURCE_REASON = "in a key policy, '*' refers to the key itself"

# A Deny with the service's wildcard action is the safe direction: it also covers actions AWS adds later.
DENY_WILDCARD_ACTION_REASON = "deny-all over plain HTTP must cover every present and future action"
# The only Deny statements a template may hold, by the condition that makes each one apply.
DENY_CONDITIONS: dict[str, dict] = {
    DENY_WILDCARD_ACTION_REASON: {"Bool": {"aws:SecureTransport": "false"}},
    "only AWS services may create grants on a pipeline key, for their own resources (CT.KMS.PR.3)": {
        "BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
}


# The StackSet execution role (tap_templates/deploy/permissions.py) grants "*" exactly for the actions the
# service authorization reference lists without a resource type; tests/deploy/test_execution_role.py checks
# each against the reference instead of a list kept here.


def wildcard_resource_reason(kind: str, action: str) -> str | None:
    if kind == "key":
        return KEY_POLICY_RESOURCE_REASON
    return WILDCARD_RESOURCES.get((kind, action))
