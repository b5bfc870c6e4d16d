"""The pre-flight on the emulator: a ready account passes, and each check is made to fail once so that every
message is seen. The deploy stops on any problem before a bucket, an upload or a StackSet exists.

What the emulator cannot show, so the tests stand in for it: moto enforces no Lambda concurrency quota when
CloudFormation creates a function (the project's emulator patch answers ``GetAccountSettings`` from moto's own
``MOTO_LAMBDA_CONCURRENCY_QUOTA``, which the tests set); moto offers every endpoint service in every zone and
knows every service name, so the "not offered in a zone" and "not in this region" messages are checked on
moto's real ``DescribeVpcEndpointServices`` answer with a zone or the service taken away; moto's VPC quotas are
its fixed defaults, so "Interface VPC endpoints per VPC" (50 against 5 needed) cannot be made to fail; moto's
``DescribeLimits`` answers fixed values older than AWS's defaults, so the emulator patch answers AWS's defaults
and the tests lower the table's with ``TAP_EMULATED_TABLE_WRITE_QUOTA``.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tap_templates.config import load_config, parse_config
from tap_templates.deploy import preflight, targets
from tap_templates.deploy.aws import connect
from tap_templates.local.patches.dynamodb import TABLE_WRITE_QUOTA_VARIABLE
from tap_templates.render import render
from tests.deploy.helpers import ACCOUNT, REGIONS, record_configuration, run_script, server_session

DEV, PROD = load_config("dev"), load_config("prod")
QUOTA = "MOTO_LAMBDA_CONCURRENCY_QUOTA"
TABLE_QUOTA = TABLE_WRITE_QUOTA_VARIABLE


def check(cfg, accounts=(), endpoint_url=None):
    aws = connect(cfg.primary_region, None, endpoint_url)
    return preflight.run(cfg, aws, targets.targets(cfg, aws.account, accounts), render(cfg))


def with_network(cfg_name, **network):
    raw = {"tags": dict(DEV.tags), "network": network}
    if cfg_name == "prod":
        raw |= {"processor": {"reserved_concurrency": 100, "max_concurrency": 50}}
    return parse_config(raw, "dev")


@pytest.fixture
def roles(aws, cli):
    assert cli("roles", "--env", "dev").code == 0
    assert cli("roles", "--env", "prod").code == 0


def sized_for(cfg, **capacity):
    """``cfg`` with other ``[capacity]`` quotas: the account the pipeline is sized for."""
    return replace(cfg, capacity=replace(cfg.capacity, **capacity))


def problems_in(found, region):
    """The problems of one region, without their ``pre-flight: ACCOUNT REGION:`` prefix."""
    prefix = f"pre-flight: {ACCOUNT} {region}: "
    return [p.removeprefix(prefix) for p in found.problems if p.startswith(prefix)]


def test_a_ready_account_passes(aws, roles):
    record_configuration(aws)
    for cfg in (DEV, PROD):
        found = check(cfg)
        assert found == preflight.Findings(), found


def test_missing_roles_are_one_problem_naming_both(aws):
    found = check(DEV)
    assert found.problems == (
        f"pre-flight: StackSet role tap-dev-stackset-administration not found in account {ACCOUNT} (nor "
        f"tap-dev-stackset-execution): deploy build/dev/stackset-roles.json first (python scripts/deploy.py roles "
        f"--env dev)",)


def test_reserved_concurrency_the_account_cannot_give(aws, roles, monkeypatch):
    """A new account's small quota: prod reserves 100 of 150, leaving 50 where Lambda keeps 100."""
    record_configuration(aws)
    monkeypatch.setenv(QUOTA, "150")
    found = check(PROD)
    for region in REGIONS:
        assert problems_in(found, region) == [
            "reserved concurrency 100 would leave 50 of the account's 150 concurrent executions unreserved, and "
            "Lambda keeps at least 100: lower [processor] reserved_concurrency to 50 or less, or request a higher "
            "'Concurrent executions' quota (L-B99A9384)",
            "Lambda allows 150 concurrent executions here, below the 1,000 of [capacity] lambda_concurrency_quota "
            "that the pipeline is sized for (tap estimate): request a higher 'Concurrent executions' quota "
            "(L-B99A9384), or set capacity.lambda_concurrency_quota = 150"]
    monkeypatch.setenv(QUOTA, "100")
    assert "[processor] reserved_concurrency cannot fit at all" in check(DEV).problems[0]


def test_an_update_counts_the_function_s_own_reservation_back(aws, roles, cli, code_zip, monkeypatch):
    """Deployed dev holds 10 per region; at a quota of 110 the account shows 100 unreserved, and re-reserving the
    same 10 leaves 100: no problem. Without the function's own 10 counted back it would report 90."""
    assert cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes").code == 0
    small = sized_for(DEV, lambda_concurrency_quota=109)
    monkeypatch.setenv(QUOTA, "110")
    assert check(small).problems == ()
    monkeypatch.setenv(QUOTA, "109")
    assert "would leave 99 of the account's 109" in check(small).problems[0]


def test_config_rules_need_a_recording_recorder_of_their_types(aws, roles):
    found = check(PROD)
    for region in REGIONS:
        assert problems_in(found, region) == [
            "no AWS Config configuration recorder: the Config rules would fail to create "
            "(NoAvailableConfigurationRecorderException); set up AWS Config recording in this account and region, "
            "or set [audit] config_rules = false"]
    assert check(DEV).problems == (), "dev renders no Config rules"
    record_configuration(aws, start=False, resource_types=["AWS::S3::Bucket"])
    found = check(PROD)
    for region in REGIONS:
        assert problems_in(found, region) == [
            "configuration recorder default is not recording: the Config rules would never evaluate; start it "
            f"(aws configservice start-configuration-recorder --configuration-recorder-name default --region "
            f"{region})",
            "the configuration recorder does not record AWS::DynamoDB::Table, AWS::Lambda::Function: the Config "
            "rules on those types would never evaluate; add them to its recording group"]


def test_a_zone_id_the_region_does_not_have(aws, roles):
    cfg = with_network("dev", zone_ids={"us-east-1": ["use1-az1", "use1-az9"]})
    assert check(cfg).problems == (
        f"pre-flight: {ACCOUNT} us-east-1: zone ID use1-az9 ([network] zone_ids) is not an Availability Zone of "
        "us-east-1 in this account",)


def test_endpoint_services_must_be_offered_in_the_chosen_zones(aws):
    """moto's own answer, with us-east-1's zone use1-az2 (us-east-1c in moto) taken from the X-Ray service."""
    ec2 = aws.client("ec2", region_name="us-east-1")
    zones = {z["ZoneId"]: z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    services = [f"com.amazonaws.us-east-1.{s}" for s in ("sqs", "kms", "logs", "xray", "secretsmanager")]
    details = ec2.describe_vpc_endpoint_services(ServiceNames=services)["ServiceDetails"]
    assert preflight.endpoint_problems(services, details, zones, ["use1-az1", "use1-az2"]) == []
    for detail in details:
        if detail["ServiceName"].endswith(".xray"):
            detail["AvailabilityZones"].remove(zones["use1-az2"])
    everywhere = ", ".join(sorted(z for z in zones if z != "use1-az2"))
    assert preflight.endpoint_problems(services, details, zones, ["use1-az1", "use1-az2"]) == [
        f"com.amazonaws.us-east-1.xray is not offered in use1-az2 ({zones['use1-az2']}): set [network] zone_ids to "
        f"zones that offer every endpoint ({everywhere})"]


def test_an_endpoint_service_the_region_lacks(aws):
    """The rendered template with one interface endpoint renamed to a service the region does not have."""
    template = next(json.loads(t.body) for t in render(DEV).templates if t.region == "us-east-1")
    template["Resources"]["SqsInterfaceEndpoint"]["Properties"]["ServiceName"] = "com.amazonaws.us-east-1.nosuch"
    found = preflight.zones_and_endpoints(DEV, connect("us-east-1"), preflight.RegionPlan("us-east-1", template))
    assert found == ["an interface endpoint service is not offered in us-east-1: The Vpc Endpoint Service "
                     "'com.amazonaws.us-east-1.nosuch' does not exist"]


def test_vpc_quotas_of_a_first_create(aws, roles):
    """moto's defaults: 5 VPCs and 20 gateway endpoints per Region; the default VPC is one of the 5."""
    ec2 = aws.client("ec2", region_name="us-east-1")
    vpcs = [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(4)]
    for i in range(19):
        ec2.create_vpc_endpoint(VpcId=vpcs[i % 4], ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway")
    found = check(DEV)
    assert problems_in(found, "us-east-1") == [
        "quota 'VPCs per Region' (vpc L-F678F1CE) is 5: 5 in use and the pipeline adds 1; request an increase in "
        "Service Quotas or free some",
        "quota 'Gateway VPC endpoints per Region' (vpc L-1B52E74A) is 20: 19 in use and the pipeline adds 2; "
        "request an increase in Service Quotas or free some"]
    assert problems_in(found, "us-west-2") == []


def test_the_table_write_quota_the_pipeline_is_sized_for(aws, roles, monkeypatch):
    """An account whose per-table write throughput is below ``[capacity] table_write_quota`` (the emulator's
    ``DescribeLimits`` answers AWS's default of 40,000 unless told otherwise), in every replica's region."""
    assert check(DEV).problems == ()
    monkeypatch.setenv(TABLE_QUOTA, "10000")
    found = check(DEV)
    for region in REGIONS:
        assert problems_in(found, region) == [
            "DynamoDB allows 10,000 write units per second per table here, below the 40,000 of [capacity] "
            "table_write_quota that the pipeline is sized for (tap estimate): request a higher table-level write "
            "throughput quota in Service Quotas, or set capacity.table_write_quota = 10000"]
    assert check(sized_for(DEV, table_write_quota=10_000)).problems == ()


def test_accounts_it_cannot_read_are_noted_not_checked(aws, roles):
    found = check(DEV, accounts=("111111111111",))
    assert found.problems == ()
    assert found.notes == (
        f"pre-flight: account(s) 111111111111: not checked (only {ACCOUNT}, whose credentials run the deploy, is "
        "readable)",)
    ou = parse_config({"tags": dict(DEV.tags), "stacksets": {"permission_model": "SERVICE_MANAGED",
                                                             "organizational_units": ["ou-abcd-12345678"]}}, "dev")
    assert check(ou).notes == ("pre-flight: organizational units ou-abcd-12345678: not checked (their accounts are "
                               f"not readable from {ACCOUNT})",)


def test_the_deploy_and_its_dry_run_stop_before_changing_anything(aws, roles, cli, code_zip, monkeypatch):
    monkeypatch.setenv(QUOTA, "100")
    for extra in (("--dry-run",), ()):
        result = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes", *extra)
        assert result.code == 2
        lines = result.err.strip().splitlines()
        expected = [f"pre-flight: {ACCOUNT} {region}: {problem}" for region in ("us-west-2", "us-east-1")
                    for problem in ("reserved concurrency 10 would leave", "Lambda allows 100 concurrent")]
        assert len(lines) == len(expected), "one line per problem"
        assert all(line.startswith(start) for line, start in zip(lines, expected, strict=True)), lines
        assert "Traceback" not in result.err and result.out == ""
    for region in REGIONS:
        cf = aws.client("cloudformation", region_name=region)
        assert cf.list_stack_sets()["Summaries"] == []
    assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == []


def test_the_emulator_server_answers_every_check(server, code_zip):
    """Over HTTP (``python -m tap_templates.local.server``): GetAccountSettings is served, so nothing is noted
    as unchecked and the roles are the only problem of an empty account."""
    session = server_session()
    record_configuration(session, endpoint_url=server)
    found = check(PROD, endpoint_url=server)
    assert found.notes == ()
    assert [p.split(" not found")[0] for p in found.problems] == [
        "pre-flight: StackSet role tap-prod-stackset-administration"]
    assert run_script("roles", "--env", "prod", "--endpoint-url", server).code == 0
    result = run_script("--env", "prod", "--endpoint-url", server, "--code-zip", str(code_zip[0]), "--dry-run")
    assert result.code == 0, result.err
    assert "pre-flight" not in result.out + result.err
