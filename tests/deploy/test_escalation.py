"""No privilege escalation through the StackSet execution role.

cloudsplaining (PyPI) names the known escalation methods (Rhino Security Labs' and pathfinding.cloud's lists)
and, judging by action names alone, finds several in any role that may create roles and functions. Whether
one is a path depends on the resources and conditions, so each method cloudsplaining flags is tried here in
the IAM policy simulator with requests that would escalate: a role without the permissions boundary or
outside the project, the boundary policy itself, a role passed to a service the templates do not use, a
function, stack or key that is not the project's. A method is a path only if every one of its actions is
allowed for some such request; there must be none. What the role may still do (create a role that carries the
boundary, change the project's own functions) stays within the boundary and the project's resources.
"""

from __future__ import annotations

import json

import pytest
from cloudsplaining.scan.policy_document import PolicyDocument

from tap_templates import naming
from tests.support import iam_simulator
from tests.support.iam_simulator import ALLOWED, Policies, Request, resolve
from tests.support.rendered import SHIPPED_ENVS, config, rendering, templates

ACCOUNT = iam_simulator.ACCOUNT
REGION = "us-east-1"
FOREIGN = {
    "role": f"arn:aws:iam::{ACCOUNT}:role/Admin", "user": f"arn:aws:iam::{ACCOUNT}:user/admin",
    "group": f"arn:aws:iam::{ACCOUNT}:group/admins", "policy": f"arn:aws:iam::{ACCOUNT}:policy/admin",
    "function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other",
    "stack": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/other/1",
    "stackset": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stackset/other:1",
}
ROLE_CHANGES = {"createrole", "putrolepolicy", "attachrolepolicy", "detachrolepolicy", "deleterolepolicy",
                "updateassumerolepolicy", "putrolepermissionsboundary", "deleterolepermissionsboundary", "updaterole"}


def execution_policies(env: str) -> tuple[dict, ...]:
    t = templates(env)[0]
    resources = json.loads(rendering(env).roles)["Resources"]
    return tuple(resolve(r["Properties"]["PolicyDocument"], t) for k, r in sorted(resources.items())
                 if k.startswith("ExecutionPolicy"))


def principal(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{naming.stackset_execution_role(config(env))}"


def boundary(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/{naming.role_boundary(config(env))}"


def escalating(env: str, action: str) -> list[tuple[str, dict]]:
    """Requests for which allowing ``action`` would give the role more than it has: (resource, context)."""
    service, name = action.split(":", 1)
    name = name.lower()
    project_role = f"arn:aws:iam::{ACCOUNT}:role/StackSet-{naming.prefix(config(env))}-us-east-1-x-Evil"
    if service == "iam" and name in ROLE_CHANGES:
        other = {"iam:PermissionsBoundary": FOREIGN["policy"]}
        ours = {"iam:PermissionsBoundary": boundary(env)}
        probes = [(project_role, {}), (project_role, other), (FOREIGN["role"], ours)]
        if name in ("attachrolepolicy", "detachrolepolicy"):
            probes = [(r, {**c, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}) for r, c in probes]
        return probes
    if service == "iam" and name == "passrole":
        return [(FOREIGN["role"], {"iam:PassedToService": "lambda.amazonaws.com"}),
                (project_role, {"iam:PassedToService": "cloudformation.amazonaws.com"}),
                (project_role, {"iam:PassedToService": "ec2.amazonaws.com"})]
    if service == "iam" and name in ("createpolicyversion", "setdefaultpolicyversion"):
        return [(boundary(env), {}), (FOREIGN["policy"], {})]
    if service == "iam":
        kind = "user" if "user" in name or "accesskey" in name or "loginprofile" in name else "group"
        return [(FOREIGN[kind], {})]
    if service == "lambda" and name == "createeventsourcemapping":
        return [("*", {"lambda:FunctionArn": FOREIGN["function"]})]
    if service == "lambda":
        return [(FOREIGN["function"], {})]
    if service == "cloudformation":
        return [(FOREIGN["stack"], {}), (FOREIGN["stackset"], {})]
    if service == "sts":
        return [(FOREIGN["role"], {}), (project_role, {})]
    return [("*", {})]


def flagged(env: str) -> dict[str, list[str]]:
    """cloudsplaining's verdict by action names alone (its strictest mode: resource constraints ignored)."""
    statements = [s for doc in execution_policies(env) for s in doc["Statement"]]
    document = PolicyDocument({"Version": "2012-10-17", "Statement": statements}, flag_resource_arn_statements=True)
    return {e["type"]: e["actions"] for e in document.allows_privilege_escalation}


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_no_escalation_method_is_a_path(env):
    methods = flagged(env)
    assert methods, "cloudsplaining flags methods by name: the probes below must close each of them"
    cases, owners = [], []
    for method, actions in methods.items():
        for action in actions:
            for resource, context in valid(_canonical(action), escalating(env, action)):
                cases.append((Request(principal(env), _canonical(action), resource, context),
                              Policies(identity=execution_policies(env))))
                owners.append((method, action))
    allowed: dict[str, set[str]] = {}
    for (method, action), decision in zip(owners, iam_simulator.decide(cases), strict=True):
        if decision == ALLOWED:
            allowed.setdefault(method, set()).add(action)
    paths = [m for m, actions in methods.items() if set(actions) <= allowed.get(m, set())]
    assert paths == [], {m: methods[m] for m in paths}


def test_cloudsplaining_finds_no_path_in_its_default_mode():
    for env in SHIPPED_ENVS:
        statements = [s for doc in execution_policies(env) for s in doc["Statement"]]
        assert PolicyDocument({"Version": "2012-10-17", "Statement": statements}).allows_privilege_escalation == []


def valid(action: str, probes: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The probes the action can take (its resource types, or "*" when it has none); when none fits, one
    foreign resource of each of its types, named "other"."""
    from tests.support import authorization

    types = authorization.action_resource_types(action)
    fitting = [(r, c) for r, c in probes
               if (r == "*" and not types) or (r != "*" and authorization.matching_resource_types(action, r))]
    if fitting:
        return fitting
    if not types:
        return [("*", {})]
    prefix = action.split(":", 1)[0]
    import re

    def other(fmt: str) -> str:
        values = {"Partition": "aws", "Region": REGION, "Account": ACCOUNT}
        return re.sub(r"\$\{([^}]*)\}", lambda m: values.get(m[1], "other"), fmt)

    return [(other(authorization.resource_arn_format(prefix, t)), {}) for t in types]


def _canonical(action: str) -> str:
    from tests.support.authorization import _service

    prefix, name = action.split(":", 1)
    return f"{prefix}:{next(a for a in _service(prefix)['privileges'] if a.lower() == name.lower())}"


def test_what_the_role_may_do_is_allowed_and_what_it_may_not_is_not():
    """The checks above can fail: the same simulator allows the role's own work and refuses the paths the
    issue found (tagging another key into reach, another network, a role without the boundary)."""
    env = "dev"
    me, mine = principal(env), Policies(identity=execution_policies(env))
    t = templates(env)[0]
    own_key_policy = resolve(t.props("DataKey")["KeyPolicy"], t)
    root = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    foreign_key_policy = {"Version": "2012-10-17",
                          "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Principal": root}]}
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{iam_simulator.KEY_ID}"
    tagged_into_scope = {"aws:ResourceTag/Project": "tap", "aws:ResourceTag/Environment": "dev"}
    project_role = f"arn:aws:iam::{ACCOUNT}:role/StackSet-tap-dev-us-east-1-x-ProcessorRole"
    vpc = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0123456789abcdef0"
    ours = {"aws:ResourceTag/Project": "tap", "aws:ResourceTag/Environment": "dev"}
    cases = [
        (Request(me, "iam:CreateRole", project_role, {"iam:PermissionsBoundary": boundary(env)}), mine, ALLOWED),
        (Request(me, "iam:CreateRole", project_role, {}), mine, "ImplicitlyDenied"),
        (Request(me, "iam:PutRolePolicy", project_role, {"iam:PermissionsBoundary": boundary(env)}), mine, ALLOWED),
        (Request(me, "kms:PutKeyPolicy", key, {}), Policies(mine.identity, resource=own_key_policy), ALLOWED),
        (Request(me, "kms:PutKeyPolicy", key, tagged_into_scope),
         Policies(mine.identity, resource=foreign_key_policy), "ImplicitlyDenied"),
        (Request(me, "kms:ScheduleKeyDeletion", key, tagged_into_scope),
         Policies(mine.identity, resource=foreign_key_policy), "ImplicitlyDenied"),
        (Request(me, "ec2:CreateTags", vpc, {"aws:RequestTag/Project": "tap", "aws:RequestTag/Environment": "dev",
                                             "aws:TagKeys": ["Project", "Environment"]}), mine, "ImplicitlyDenied"),
        (Request(me, "ec2:ModifyVpcAttribute", vpc, ours), mine, ALLOWED),
        (Request(me, "ec2:ModifyVpcAttribute", vpc, {}), mine, "ImplicitlyDenied"),
        (Request(me, "ec2:AuthorizeSecurityGroupIngress",
                 f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0123456789abcdef0", {}), mine, "ImplicitlyDenied"),
        (Request(me, "s3:PutBucketPolicy", "arn:aws:s3:::tap-prod-ingest-123456789012-us-east-1", {}), mine,
         "ImplicitlyDenied"),
    ]
    decisions = iam_simulator.decide([(r, p) for r, p, _ in cases])
    assert decisions == [expected for _, _, expected in cases]
