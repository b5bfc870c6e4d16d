"""Route 53 health checks follow the key alarms; failover DNS records exist only with a hosted zone."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from tap_templates.config import parse_config
from tap_templates.render import render
from tests.support.rendered import all_templates, config

TEMPLATES = all_templates()
per_template = pytest.mark.parametrize("t", TEMPLATES, ids=[f"{t.env}-{t.region}" for t in TEMPLATES])
PLAIN_STATISTICS = {"Average", "Minimum", "Maximum", "Sum", "SampleCount"}


@per_template
def test_each_alarm_health_check_follows_a_plain_metric_alarm_of_this_template(t):
    alarms_by_name = {a["Properties"]["AlarmName"]: (lid, a) for lid, a in t.of_type("AWS::CloudWatch::Alarm").items()}
    checks = {lid: c for lid, c in t.of_type("AWS::Route53::HealthCheck").items() if lid != "RegionHealthCheck"}
    assert len(checks) == 4
    for lid, check in checks.items():
        conf = check["Properties"]["HealthCheckConfig"]
        assert conf["Type"] == "CLOUDWATCH_METRIC"
        assert conf["AlarmIdentifier"]["Region"] == t.region
        alarm_id, alarm = alarms_by_name[conf["AlarmIdentifier"]["Name"]]
        assert alarm["Properties"]["Statistic"] in PLAIN_STATISTICS and alarm["Properties"]["Period"] >= 60
        assert check.get("Condition") == alarm.get("Condition"), lid
        assert check["DependsOn"] == [alarm_id]


@per_template
def test_region_health_combines_every_alarm_check(t):
    conf = t.props("RegionHealthCheck")["HealthCheckConfig"]
    assert conf["Type"] == "CALCULATED"
    when_enabled, when_passive = conf["ChildHealthChecks"]["Fn::If"][1:]
    assert conf["HealthThreshold"]["Fn::If"][1:] == [len(when_enabled), len(when_passive)]
    queue_age = {"Ref": "IngestQueueAgeHealthCheck"}
    assert queue_age in when_enabled and queue_age not in when_passive
    assert len(when_enabled) == len(when_passive) + 1 == 4


@per_template
def test_no_dns_without_a_hosted_zone(t):
    assert config(t.env).failover.hosted_zone_id == ""
    assert not t.of_type("AWS::Route53::RecordSet")


def test_failover_records_with_a_hosted_zone():
    raw = {"secondary_regions": ["us-west-2", "eu-west-1"], "tags": dict(config("dev").tags),
           "failover": {"hosted_zone_id": "Z0123456789ABC", "record_name": "ingest.data.example.com"}}
    rendered = render(parse_config(raw, "dev"))
    records = {}
    for t in rendered.templates:
        body = json.loads(t.body)
        assert not lint(t.body.decode(), config=ManualArgs(regions=[t.region])), t.region
        for record in (r for r in body["Resources"].values() if r["Type"] == "AWS::Route53::RecordSet"):
            records[t.region] = record["Properties"]
    assert {r: p["Failover"] for r, p in records.items()} == {"us-east-1": "PRIMARY", "us-west-2": "SECONDARY"}
    for region, props in records.items():
        assert props["HealthCheckId"] == {"Ref": "RegionHealthCheck"}
        assert props["SetIdentifier"] == region and props["Type"] == "TXT"
        assert f"region={region}" in props["ResourceRecords"][0]["Fn::Sub"]


@pytest.mark.parametrize(("failover", "message"), [
    ({"hosted_zone_id": "Z0123456789ABC"}, "go together"),
    ({"hosted_zone_id": "zone", "record_name": "a.example.com"}, "not a Route 53 hosted zone ID"),
    ({"hosted_zone_id": "Z0123456789ABC", "record_name": "not a name"}, "not a DNS name"),
])
def test_bad_failover_config_is_refused(failover, message):
    from tap_templates.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_config({"failover": failover, "tags": dict(config("dev").tags)}, "dev")
