"""``build/<env>/deployer-policy.json`` against every call a deploy, a re-deploy, a dry run and a destroy make.

The calls are recorded from the deploy's own boto3 session while it runs against the emulator, turned into the
IAM requests AWS authorizes (tests/support/calls.py) and decided by the IAM policy simulator with the rendered
deployer policy and the artifacts bucket's policy. ``deploy roles`` is left out on purpose (an administrator
runs it once per account; see tap_templates/deploy/deployer.py).
"""

from __future__ import annotations

import json

import pytest

from tap_templates import naming
from tap_templates.config import load_config
from tests.support import authorization, iam_simulator
from tests.support.calls import requests
from tests.support.iam_simulator import ALLOWED, Policies, resolve
from tests.support.rendered import SHIPPED_ENVS, rendering, templates

CFG = load_config("dev")
PRINCIPAL = f"arn:aws:iam::{iam_simulator.ACCOUNT}:role/ci-deployer"


def deployer_document(env: str) -> dict:
    body = json.loads(rendering(env).deployer)
    return resolve(body["Resources"]["DeployerPolicy"]["Properties"]["PolicyDocument"], templates(env)[0])


def decide(env: str, calls) -> dict[str, str]:
    policies = Policies(identity=(deployer_document(env),))
    cases = [(r, policies) for c in calls for r in requests(c, PRINCIPAL, naming.prefix(load_config(env)))]
    return {f"{r.action} {r.resource}": d for (r, _), d in zip(cases, iam_simulator.decide(cases), strict=True)}


def test_a_deploy_redeploy_dry_run_and_destroy_need_nothing_else(aws, cli, code_zip, recorded):
    assert cli("roles", "--env", "dev").code == 0  # the administrator's step, not recorded below
    start = len(recorded.calls)
    for args in (("--env", "dev", "--code-zip", str(code_zip[0]), "--yes"),
                 ("--env", "dev", "--code-zip", str(code_zip[0])),
                 ("--env", "dev", "--dry-run", "--code-zip", str(code_zip[0])), ("destroy", "--env", "dev", "--yes")):
        result = cli(*args)
        assert result.code == 0, result.err
    calls = recorded.calls[start:]
    operations = {(c.service, c.operation) for c in calls}
    assert {("cloudformation", "CreateStackSet"), ("cloudformation", "CreateStackInstances"), ("s3", "PutObject"),
            ("cloudformation", "DeleteStackSet"), ("iam", "GetRole")} <= operations
    found = decide("dev", calls)
    assert {k: v for k, v in found.items() if v != ALLOWED} == {}


def test_a_narrower_policy_is_refused():
    """Without PassRole of the administration role, creating a StackSet is refused (the check can fail)."""
    from tests.support.calls import Call

    document = deployer_document("dev")
    narrower = dict(document, Statement=[s for s in document["Statement"] if s["Sid"] != "PassAdministrationRole"])
    call = Call("cloudformation", "CreateStackSet", "us-east-1", {
        "StackSetName": "tap-dev-us-east-1", "AdministrationRoleARN":
            f"arn:aws:iam::{iam_simulator.ACCOUNT}:role/{naming.stackset_administration_role(CFG)}"})
    cases = [(r, Policies(identity=(narrower,))) for r in requests(call, PRINCIPAL, "tap-dev")]
    assert "ImplicitlyDenied" in iam_simulator.decide(cases)


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_the_deployer_policy_agrees_with_the_reference(env):
    assert authorization.problems(deployer_document(env)) == []
