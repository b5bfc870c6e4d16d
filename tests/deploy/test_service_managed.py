"""Service-managed StackSets over organizational units, on the emulator: the dry run lists the accounts and
regions each operation touches, the deploy reaches every account of the OU in every region, in the manifest's
region order, with ``[stacksets]``' concurrency and failure tolerance and automatic deployment, a re-run
changes nothing, and the summary has a line per account and region.

moto runs AWS Organizations and creates the instances' stacks in the member accounts; what it cannot show:
automatic deployment to an account that joins the OU later (moto neither returns the setting nor deploys on
its own) and the operation preferences (it runs every account at once), so the test reads what the deploy
sent instead.
"""

from __future__ import annotations

from pathlib import Path

from tap_templates import naming
from tests.deploy.helpers import ROOT

REGIONS = ("us-west-2", "us-east-1")


def service_managed_config(tmp_path: Path, ou: str) -> Path:
    path = tmp_path / "dev.toml"
    path.write_text((ROOT / "config" / "dev.toml").read_text() + (
        f'\n[stacksets]\npermission_model = "SERVICE_MANAGED"\norganizational_units = ["{ou}"]\n'
        'max_concurrent_count = 2\nfailure_tolerance_count = 1\nregion_concurrency = "SEQUENTIAL"\n'))
    return path


def test_dry_run_lists_the_accounts_and_regions_it_would_touch(aws, cli, code_zip, organization, tmp_path):
    ou, accounts = organization
    result = cli("--env", "dev", "--config", str(service_managed_config(tmp_path, ou)), "--code-zip",
                 str(code_zip[0]), "--dry-run")
    assert result.code == 0, result.err
    for region in REGIONS:
        assert f"tap-dev-{region} ({region}): touches 2 account(s) in {region}: {', '.join(accounts)}" in result.out
        assert f"OU {ou} holds 2 account(s)" in result.out, "the child OU's account counts too"
    cf = aws.client("cloudformation", region_name="us-east-1")
    assert cf.list_stack_sets()["Summaries"] == [], "nothing created"


def test_deploy_reaches_every_account_of_the_ou_and_a_rerun_changes_nothing(aws, cli, code_zip, organization,
                                                                            tmp_path, recorded):
    ou, accounts = organization
    config = str(service_managed_config(tmp_path, ou))
    result = cli("--env", "dev", "--config", config, "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 0, result.err
    order = [result.out.index(f"tap-dev-{r}: create instances") for r in REGIONS]
    assert order == sorted(order), "secondaries first, then the primary"
    for region in REGIONS:
        cf = aws.client("cloudformation", region_name=region)
        stack_set = cf.describe_stack_set(StackSetName=naming.stack_set(_cfg(), region))["StackSet"]
        assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
        instances = cf.list_stack_instances(StackSetName=f"tap-dev-{region}")["Summaries"]
        assert sorted(i["Account"] for i in instances) == accounts
        operations = cf.list_stack_set_operations(StackSetName=f"tap-dev-{region}")["Summaries"]
        assert operations and all(o["Status"] == "SUCCEEDED" for o in operations)
    sent = {(c.operation, c.region): c.params for c in recorded.calls if c.service == "cloudformation"}
    for region in REGIONS:
        assert sent["CreateStackSet", region]["AutoDeployment"] == {"Enabled": True,
                                                                    "RetainStacksOnAccountRemoval": True}
        assert sent["CreateStackInstances", region]["OperationPreferences"] == {
            "RegionConcurrencyType": "SEQUENTIAL", "RegionOrder": [region], "FailureToleranceCount": 1,
            "MaxConcurrentCount": 2}
        assert sent["CreateStackInstances", region]["DeploymentTargets"] == {"OrganizationalUnitIds": [ou]}
    for account in accounts:
        assert f"{account}: us-east-1 CURRENT, us-west-2 CURRENT" in result.out
    assert "2 account(s) x 2 region(s): 4 of 4 instance(s) current" in result.out

    again = cli("--env", "dev", "--config", config, "--code-zip", str(code_zip[0]), "--yes")
    assert again.code == 0, again.err
    assert "nothing to deploy" in again.out


def test_service_managed_needs_no_roles(aws, cli, organization, tmp_path):
    ou, _ = organization
    result = cli("roles", "--env", "dev", "--config", str(service_managed_config(tmp_path, ou)))
    assert result.code == 2 and "SERVICE_MANAGED" in result.err


def _cfg():
    from tap_templates.config import load_config

    return load_config("dev")
