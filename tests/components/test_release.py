"""Canary releases in the rendered templates: a published version per code or configuration change, the event
source on the ``live`` alias, CodeDeploy's traffic shifting from ``[release]`` and its rollback alarms.

moto runs none of CodeDeploy (its CloudFormation skips the application, config and group, and the emulator's
alias moves at once): the shifting and the rollback are checked here, on the template CloudFormation gets, and
cfn-lint validates it against the resource schemas."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from tap_templates.components import release
from tap_templates.config import load_config, parse_config
from tap_templates.errors import ConfigError
from tap_templates.render import render
from tests.deploy.helpers import ROOT
from tests.support.rendered import RegionTemplate, all_templates

TEMPLATES = all_templates()
per_template = pytest.mark.parametrize("t", TEMPLATES, ids=[f"{t.env}-{t.region}" for t in TEMPLATES])


def dev_with(section: str) -> object:
    import tomllib

    text = (ROOT / "config" / "dev.toml").read_text().replace("[tags]", f"{section}\n\n[tags]")
    return parse_config(tomllib.loads(text), "dev")


def rendered(cfg) -> list[RegionTemplate]:
    return [RegionTemplate("dev", t.region, t.role, json.loads(t.body)) for t in render(cfg).templates]


@per_template
def test_the_event_source_invokes_the_live_alias_of_a_published_version(t):
    assert t.props("ProcessorEventSource")["FunctionName"] == {"Ref": "ProcessorAlias"}
    alias = t.props("ProcessorAlias")
    assert alias["Name"] == "live" and alias["FunctionVersion"] == {"Fn::GetAtt": ["ProcessorVersion", "Version"]}
    version = t.props("ProcessorVersion")
    assert version["FunctionName"] == {"Ref": "ProcessorFunction"}
    assert version["Description"]["Fn::Sub"].startswith("code ${CodeKey}; configuration ")


def test_new_configuration_publishes_a_new_version():
    """A version's description is create-only: a new digest replaces the version resource, which publishes."""
    import tomllib

    text = (ROOT / "config" / "dev.toml").read_text()
    bigger = parse_config(tomllib.loads(text.replace("memory_mb = 1024", "memory_mb = 2048")), "dev")
    before, after = rendered(load_config("dev"))[0], rendered(bigger)[0]
    assert before.props("ProcessorVersion")["Description"] != after.props("ProcessorVersion")["Description"]
    assert before.props("ProcessorAlias") == after.props("ProcessorAlias"), "the alias follows by reference"


@per_template
def test_codedeploy_moves_the_alias_and_rolls_back_on_the_release_alarms(t):
    policy = t.resources["ProcessorAlias"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert policy == {"ApplicationName": {"Ref": "ReleaseApplication"},
                      "DeploymentGroupName": {"Ref": "ReleaseDeploymentGroup"}}
    assert t.props("ReleaseApplication")["ComputePlatform"] == "Lambda"
    group = t.props("ReleaseDeploymentGroup")
    assert group["DeploymentStyle"] == {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert group["AutoRollbackConfiguration"] == {"Enabled": True,
                                                  "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}
    assert group["AlarmConfiguration"]["Enabled"] is True
    assert [a["Name"] for a in group["AlarmConfiguration"]["Alarms"]] == [{"Ref": a} for a in release.RELEASE_ALARMS]
    assert sorted(t.resources["ProcessorAlias"]["DependsOn"]) == sorted(release.RELEASE_ALARMS)
    metrics = {t.props(a)["MetricName"]: t.props(a) for a in release.RELEASE_ALARMS}
    assert set(metrics) == {"Errors", "Throttles", "NumberOfMessagesSent"}
    assert all(m["Period"] == 60 for m in metrics.values()), "a five-minute canary needs one-minute alarms"
    errors = {d["Name"]: d["Value"] for d in metrics["Errors"]["Dimensions"]}
    assert errors["ExecutedVersion"] == {"Fn::GetAtt": ["ProcessorVersion", "Version"]}, "the new version only"
    assert {d["Value"] for d in metrics["NumberOfMessagesSent"]["Dimensions"]} == {"tap-" + t.env + "-ingest-dlq"}


@per_template
def test_the_canary_follows_the_config_and_a_passive_region_takes_it_at_once(t):
    canary = t.props("ReleaseCanaryConfig")
    assert canary["TrafficRoutingConfig"] == {"Type": "TimeBasedCanary",
                                              "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 5}}
    assert t.props("ReleaseDeploymentGroup")["DeploymentConfigName"] == {
        "Fn::If": ["ProcessingIsEnabled", {"Ref": "ReleaseCanaryConfig"}, release.ALL_AT_ONCE]}


def test_all_at_once_from_config_and_snapstart_on_published_versions():
    cfg = dev_with('[release]\nstrategy = "all-at-once"\nsnapstart = true')
    for t in rendered(cfg):
        assert "ReleaseCanaryConfig" not in t.resources
        assert t.props("ReleaseDeploymentGroup")["DeploymentConfigName"] == release.ALL_AT_ONCE
        assert t.props("ProcessorFunction")["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    custom = dev_with("[release]\ncanary_percent = 25\ncanary_minutes = 15")
    t = rendered(custom)[0]
    assert t.props("ReleaseCanaryConfig")["TrafficRoutingConfig"]["TimeBasedCanary"] == {
        "CanaryPercentage": 25, "CanaryInterval": 15}
    assert t.props("ReleaseCanaryConfig")["DeploymentConfigName"] == "tap-dev-canary-25pct-15min"
    assert "SnapStart" not in t.props("ProcessorFunction")


@pytest.mark.parametrize("section", ['[release]\nstrategy = "all-at-once"\nsnapstart = true',
                                     "[release]\ncanary_percent = 50\ncanary_minutes = 30"])
def test_release_variants_pass_cfn_lint(tmp_path, section):
    for t in render(dev_with(section)).templates:
        path = tmp_path / t.file
        path.write_bytes(t.body)
        matches = lint(path.read_text(), config=ManualArgs(regions=[t.region]))
        assert [str(m) for m in matches] == [], t.region


def test_the_release_role_is_codedeploys_and_limited_to_the_alias():
    role = TEMPLATES[0].props("ReleaseRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "codedeploy.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Fn::Sub": "${AWS::AccountId}"}}}
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    assert sorted(statements["ShiftLiveAlias"]["Action"]) == ["lambda:GetAlias", "lambda:UpdateAlias"]
    assert statements["ReadLiveAliasConcurrency"]["Action"] == ["lambda:GetProvisionedConcurrencyConfig"]
    assert [r["Fn::Sub"].rsplit(":", 1)[-1] for r in statements["ReadReleaseAlarms"]["Resource"]] == [
        "tap-dev-release-new-version-errors", "tap-dev-release-throttles", "tap-dev-release-dead-letters"]
    assert [r["Fn::Sub"].rsplit(":", 2)[-2:] for r in statements["ShiftLiveAlias"]["Resource"]] == [
        ["function", "tap-dev-processor"], ["tap-dev-processor", "*"]]


@pytest.mark.parametrize(("section", "message"), [
    ('[release]\nstrategy = "blue"', "release.strategy 'blue' must be one of canary, all-at-once"),
    ("[release]\ncanary_percent = 100", "release.canary_percent is 100; it must be between 1 and 99"),
    ("[release]\ncanary_minutes = 0", "release.canary_minutes is 0; it must be between 1 and 2880"),
    ('[release]\nsnapstart = "yes"', "[release]: snapstart must be true or false"),
])
def test_bad_release_config_is_one_clear_error(section, message):
    with pytest.raises(ConfigError) as error:
        dev_with(section)
    assert message in str(error.value)
