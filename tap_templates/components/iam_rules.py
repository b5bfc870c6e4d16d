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
    ("role", "cloudwatch:DescribeAlarms"): "CodeDeploy polls the release alarms with it; like AWS's "
                                           "AWSCodeDeployRoleForLambdaLimited, granted on '*' (a list action)",
}

# In a KMS key policy "Resource": "*" means "this key": a key policy can name no other resource.
KEY_POLICY_RESOURCE_REASON = "in a key policy, '*' refers to the key itself"

# A Deny with the service's wildcard action is the safe direction: it also covers actions AWS adds later.
DENY_WILDCARD_ACTION_REASON = "deny-all over plain HTTP must cover every present and future action"


# The StackSet execution role creates every resource of the region templates, whose needed actions change with
# every property; its service-wide actions are therefore allowed, on the project's named resources only.
STACKSET_SERVICE_ACTIONS_REASON = ("CloudFormation creates, updates and deletes the pipeline's resources with "
                                   "this role; each service-wide grant is limited to the project's names")
# Actions with no resource type: the only possible resource is "*", so each carries a condition or a reason.
STACKSET_WILDCARD_RESOURCES: dict[str, str] = {
    "route53:CreateHealthCheck": "no resource type and no condition key",
    "route53:ListHealthChecks": "list action, no resource type",
    "kms:ListAliases": "list action, no resource type",
    "kms:ListKeys": "list action, no resource type",
    "logs:DescribeLogGroups": "list action, no resource type",
    "cloudwatch:DescribeAlarms": "list action, no resource type",
    "cloudwatch:ListTagsForResource": "read-only",
    "lambda:ListEventSourceMappings": "list action, no resource type",
}


def wildcard_resource_reason(kind: str, action: str) -> str | None:
    if kind == "key":
        return KEY_POLICY_RESOURCE_REASON
    return WILDCARD_RESOURCES.get((kind, action))
