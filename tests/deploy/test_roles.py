"""The self-managed StackSet roles: a valid template, an execution role that covers what the region templates
create and nothing broader, and ``deploy.py roles`` creating both roles in the emulator."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from tap_templates import naming
from tests.deploy.helpers import ACCOUNT
from tests.support.rendered import SHIPPED_ENVS, config, rendering, templates


def roles_template(env: str) -> dict:
    return json.loads(rendering(env).roles)


def execution_statements(env: str) -> list[dict]:
    """The statements of the execution role's managed policies."""
    resources = roles_template(env)["Resources"]
    return [s for k, r in resources.items() if k.startswith("ExecutionPolicy")
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_the_roles_template_passes_cfn_lint(env):
    matches = lint(rendering(env).roles.decode(), config=ManualArgs(regions=[config(env).primary_region]))
    assert [str(m) for m in matches] == []


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_the_execution_role_manages_every_service_the_region_templates_use(env):
    """A component using a new service fails here (and in tests/deploy/test_execution_role.py) until its
    handlers' permissions are recorded (python -m tests.support.authorization)."""
    granted = {action.split(":")[0] for s in execution_statements(env) for action in s["Action"]}
    used = {resource["Type"].split("::")[1].lower() for t in templates(env) for resource in t.resources.values()}
    assert used <= granted | {"kms"}, f"not granted to the execution role: {sorted(used - granted)}"


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_no_roles_statement_grants_a_whole_service(env):
    for logical_id, resource in roles_template(env)["Resources"].items():
        documents = [resource["Properties"]["PolicyDocument"]] if "PolicyDocument" in resource["Properties"] \
            else [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        for document in documents:
            for statement in document["Statement"]:
                assert not any(a.endswith(":*") or a == "*" for a in statement["Action"]), (logical_id,
                                                                                           statement["Sid"])


def test_the_administration_role_may_only_assume_the_execution_role():
    role = roles_template("dev")["Resources"]["AdministrationRole"]["Properties"]
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["sts:AssumeRole"]
    assert statement["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/tap-dev-stackset-execution"}]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert set(trust["Condition"]) == {"StringEquals", "ArnLike"}, "confused-deputy guard"


def test_roles_command_creates_both_roles_and_is_idempotent(aws, cli):
    first = cli("roles", "--env", "dev")
    assert first.code == 0, first.err
    assert "CREATE_COMPLETE" in first.out
    iam = aws.client("iam")
    cfg = config("dev")
    admin = iam.get_role(RoleName=naming.stackset_administration_role(cfg))["Role"]
    execution = iam.get_role(RoleName=naming.stackset_execution_role(cfg))["Role"]
    assert admin["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "cloudformation.amazonaws.com"}
    trust = execution["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert trust["Condition"]["ArnEquals"]["aws:PrincipalArn"] == admin["Arn"]
    again = cli("roles", "--env", "dev")
    assert again.code == 0 and "up to date" in again.out


def test_roles_in_a_target_account_trust_the_administrator_account(aws, cli):
    result = cli("roles", "--env", "dev", "--administrator-account", "111122223333")
    assert result.code == 0, result.err
    iam = aws.client("iam")
    cfg = config("dev")
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert naming.stackset_execution_role(cfg) in names
    assert naming.stackset_administration_role(cfg) not in names, "only the administrator account has it"
    trust = iam.get_role(RoleName=naming.stackset_execution_role(cfg))["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
