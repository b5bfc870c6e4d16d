"""Failover across a StackSet's target accounts, on the emulator: service-managed StackSets over an OU of two
member accounts, deployed from the management account; status and promote for one account or all, each
account switched through a role assumed there and its roles recorded as its instance's overrides in the
deploying account, with a summary per account.

moto answers AssumeRole for any role name in any account and authorizes nothing, so the role's own policy is
not exercised here (it is in tests/operations/test_operator_permissions.py).
"""

from __future__ import annotations

import boto3
import pytest

from tap_templates.commands import failover as failover_command
from tap_templates.config import load_config
from tap_templates.errors import ConfigError
from tap_templates.operations import accounts
from tap_templates.operations.environment import from_session
from tests.deploy.conftest import aws, code_zip, credentials, organization  # noqa: F401 (fixtures)
from tests.deploy.test_service_managed import service_managed_config

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
ROLE = "OrganizationAccountAccessRole"


@pytest.fixture
def deployed(aws, organization, code_zip, tmp_path, capsys):  # noqa: F811
    from tap_templates.commands import deploy

    ou, members = organization
    config = service_managed_config(tmp_path, ou)
    assert deploy.run(["--env", "dev", "--config", str(config), "--code-zip", str(code_zip[0]), "--yes"]) == 0
    capsys.readouterr()
    cfg = load_config("dev", config)
    return cfg, config, members


def states(env, account: str) -> dict[str, str]:
    here = accounts.in_account(env, account, ROLE)
    found = {}
    for region in (PRIMARY, SECONDARY):  # the mapping invokes the live alias: find it by its queue
        queue = f"arn:aws:sqs:{region}:{account}:tap-dev-ingest"
        lam = here.client("lambda", region)
        (mapping,) = lam.list_event_source_mappings(EventSourceArn=queue)["EventSourceMappings"]
        found[region] = mapping["State"]
    return found


def overrides(env, account: str, region: str) -> dict[str, str]:
    cf = env.administrator.client("cloudformation", region)
    instance = cf.describe_stack_instance(StackSetName=f"tap-dev-{region}", StackInstanceAccount=account,
                                          StackInstanceRegion=region)["StackInstance"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in instance.get("ParameterOverrides", [])}


def test_target_accounts_and_bad_choices(deployed):
    cfg, _, members = deployed
    env = from_session(cfg, boto3.Session())
    assert accounts.target_accounts(env) == members
    assert accounts.chosen(env, None, True) == members
    assert accounts.chosen(env, members[0], False) == [members[0]]
    with pytest.raises(ConfigError, match="has no instance"):
        accounts.chosen(env, "999999999999", False)


def test_promote_one_account_then_all_with_a_summary(deployed, capsys):
    cfg, config, members = deployed
    env = from_session(cfg, boto3.Session())
    first, second = members
    assert states(env, first) == states(env, second) == {PRIMARY: "Enabled", SECONDARY: "Disabled"}

    args = ["promote", SECONDARY, "--env", "dev", "--config", str(config), "--yes"]
    assert failover_command.main([*args, "--account", first]) == 0
    assert states(env, first) == {PRIMARY: "Disabled", SECONDARY: "Enabled"}
    assert states(env, second) == {PRIMARY: "Enabled", SECONDARY: "Disabled"}, "the other account untouched"
    assert overrides(env, first, SECONDARY) == {"ProcessingEnabled": "true"}
    assert overrides(env, second, SECONDARY) == {}

    capsys.readouterr()
    assert failover_command.main([*args, "--all-accounts"]) == 0
    out = capsys.readouterr().out
    assert states(env, second) == {PRIMARY: "Disabled", SECONDARY: "Enabled"}
    assert overrides(env, second, PRIMARY) == {"ProcessingEnabled": "false"}
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in ([first], [second])}
    assert lines[first][1:3] == [SECONDARY, "already"] and lines[second][1:3] == [SECONDARY, "promoted"]
    assert f"{SECONDARY} active in 2 of 2 account(s)" in out


def test_status_of_every_account(deployed, capsys):
    _, config, members = deployed
    assert failover_command.main(["status", "--env", "dev", "--config", str(config), "--all-accounts"]) == 0
    out = capsys.readouterr().out
    for account in members:
        assert f"account {account}:" in out
    assert out.count(f"active region: {PRIMARY}") == 2
