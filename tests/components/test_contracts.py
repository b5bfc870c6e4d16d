"""Contracts across components and templates: the defects of the design this replaces must not come back.

A name used anywhere (alarm dimension, IAM resource, replication destination) must be a name some rendered
template creates; no IAM statement may grant a wildcard; every taggable resource carries every tag.
"""

from __future__ import annotations

import re

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from tap_templates import naming, tags
from tap_templates.components import iam_rules
from tests.support.rendered import (
    ACCOUNT,
    SHIPPED_ENVS,
    RegionTemplate,
    all_templates,
    as_list,
    by_region,
    config,
    policy_documents,
    rendering,
    resolve,
    templates,
    walk,
)

TEMPLATES = all_templates()
IDS = [f"{t.env}-{t.region}" for t in TEMPLATES]
per_template = pytest.mark.parametrize("t", TEMPLATES, ids=IDS)


def created_names(env: str) -> dict[str, set[str]]:
    """What the environment's templates really create, by kind, as concrete names for the sample account."""
    found: dict[str, set[str]] = {k: set() for k in ("bucket", "queue", "table", "function", "log_group",
                                                      "alias", "topic", "secret", "alarm")}
    name_props = {
        "AWS::S3::Bucket": ("bucket", "BucketName"), "AWS::SQS::Queue": ("queue", "QueueName"),
        "AWS::DynamoDB::GlobalTable": ("table", "TableName"), "AWS::Lambda::Function": ("function", "FunctionName"),
        "AWS::Logs::LogGroup": ("log_group", "LogGroupName"), "AWS::KMS::Alias": ("alias", "AliasName"),
        "AWS::SNS::Topic": ("topic", "TopicName"), "AWS::CloudWatch::Alarm": ("alarm", "AlarmName"),
    }
    for t in templates(env):
        for resource in t.resources.values():
            if resource["Type"] in name_props:
                kind, prop = name_props[resource["Type"]]
                name = resolve(resource["Properties"][prop], t)
                assert name, f"{t.region}: {resource['Type']} has no literal name"
                found[kind].add(name if kind in ("bucket", "table") else f"{t.region}/{name}")
        for secret in t.of_type("AWS::SecretsManager::Secret").values():  # replicas keep the name
            for region in [t.region, *(r["Region"] for r in secret["Properties"].get("ReplicaRegions", []))]:
                found["secret"].add(f"{region}/{secret['Properties']['Name']}")
    return found


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_primary_replicates_exactly_to_the_buckets_the_secondaries_create(env):
    regions = by_region(env)
    cfg = config(env)
    primary = regions[cfg.primary_region]
    rules = primary.props("IngestBucket")["ReplicationConfiguration"]["Rules"]
    destinations = {resolve(r["Destination"]["Bucket"], primary).removeprefix("arn:aws:s3:::") for r in rules}
    created = {resolve(regions[r].props("IngestBucket")["BucketName"], regions[r]) for r in cfg.secondary_regions}
    assert destinations == created
    for rule in rules:
        alias_arn = resolve(rule["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"], primary)
        region, alias = re.fullmatch(r"arn:aws:kms:([a-z0-9-]+):\d{12}:(alias/.+)", alias_arn).groups()
        assert regions[region].one("AWS::KMS::Alias")["AliasName"] == alias


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_every_alarm_dimension_names_a_resource_that_exists(env):
    created = created_names(env)
    cfg = config(env)
    checked = 0
    for t in templates(env):
        for logical_id, alarm in t.of_type("AWS::CloudWatch::Alarm").items():
            for dim in alarm["Properties"].get("Dimensions", []):
                value = resolve(dim["Value"], t)
                name = dim["Name"]
                if name == "FunctionName":
                    assert f"{t.region}/{value}" in created["function"], logical_id
                elif name == "QueueName":
                    assert f"{t.region}/{value}" in created["queue"], logical_id
                elif name == "TableName":
                    assert value in created["table"], logical_id  # one global table, a replica in every region
                elif name == "BucketName":
                    assert value in created["bucket"] and value.endswith(t.region), logical_id
                elif name == "FilterId":
                    assert value in [m["Id"] for m in t.props("IngestBucket")["MetricsConfigurations"]]
                elif name == "ReceivingRegion":
                    assert value in cfg.regions and value != t.region
                elif name == "Operation":
                    assert value in {"BatchWriteItem", "GetItem", "UpdateItem"}
                elif name == "Resource":  # the function's alias, as Lambda names it in its metrics
                    function_name, alias = value.split(":")
                    assert f"{t.region}/{function_name}" in created["function"], logical_id
                    assert alias == t.one("AWS::Lambda::Alias")["Name"], logical_id
                elif name == "ExecutedVersion":  # the version this template publishes
                    assert dim["Value"] == {"Fn::GetAtt": ["ProcessorVersion", "Version"]}, logical_id
                else:
                    pytest.fail(f"{logical_id}: unexpected dimension {name}")
                checked += 1
    assert checked > 20


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_every_composite_and_dashboard_reference_exists(env):
    for t in templates(env):
        for _, node in walk(t.props("RegionUnhealthyAlarm")["AlarmRule"]):
            if isinstance(node, dict) and "Fn::GetAtt" in node:
                assert node["Fn::GetAtt"][0] in t.resources
        for path, node in walk(t.body):
            if isinstance(node, dict) and "Ref" in node and not node["Ref"].startswith("AWS::"):
                assert node["Ref"] in t.resources or node["Ref"] in t.body.get("Parameters", {}), path
            if isinstance(node, dict) and "Fn::GetAtt" in node:
                assert node["Fn::GetAtt"][0] in t.resources, path


def _iam_resource_exists(arn: str, t: RegionTemplate, created: dict[str, set[str]]) -> bool:
    patterns = [
        (r"arn:aws:s3:::([^/]+)(/.*)?", lambda m: m[1] in created["bucket"]),
        (r"arn:aws:dynamodb:([a-z0-9-]+):\d{12}:table/(.+)", lambda m: m[2] in created["table"]),
        (r"arn:aws:sqs:([a-z0-9-]+):\d{12}:(.+)", lambda m: f"{m[1]}/{m[2]}" in created["queue"]),
        (r"arn:aws:sns:([a-z0-9-]+):\d{12}:(.+)", lambda m: f"{m[1]}/{m[2]}" in created["topic"]),
        (r"arn:aws:logs:([a-z0-9-]+):\d{12}:log-group:(.+?)(:log-stream:\*)?",
         lambda m: f"{m[1]}/{m[2]}" in created["log_group"]),
        (r"arn:aws:secretsmanager:([a-z0-9-]+):\d{12}:secret:(.+)-\?{6}",
         lambda m: f"{m[1]}/{m[2]}" in created["secret"]),
        (r"arn:aws:lambda:([a-z0-9-]+):\d{12}:function:([^:]+)(:\*)?",
         lambda m: f"{m[1]}/{m[2]}" in created["function"]),
        (r"arn:aws:cloudwatch:([a-z0-9-]+):\d{12}:alarm:(.+)", lambda m: f"{m[1]}/{m[2]}" in created["alarm"]),
        (r"arn:aws:ec2:([a-z0-9-]+):\d{12}:network-interface/\*", lambda m: m[1] == t.region),
        (r"arn:aws:ec2:([a-z0-9-]+):\d{12}:(subnet|security-group)/\$\{(\w+)\}",
         lambda m: m[1] == t.region and m[3] in t.resources),
    ]
    for pattern, exists in patterns:
        match = re.fullmatch(pattern, arn)
        if match:
            return exists(match)
    return False


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_every_iam_resource_refers_to_something_the_templates_create(env):
    created = created_names(env)
    checked = 0
    for t in templates(env):
        for where, doc in policy_documents(t):
            for statement in doc["Statement"]:
                if statement["Effect"] != "Allow" or "Resource" not in statement:
                    continue
                for resource in as_list(statement["Resource"]):
                    checked += 1
                    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                        assert resource["Fn::GetAtt"][0] in t.resources, where
                        continue
                    arn = resolve(resource, t)
                    if arn == "*":
                        continue  # the wildcard tests decide whether "*" is allowed here
                    kms = re.fullmatch(r"arn:aws:kms:([a-z0-9-]+):\d{12}:key/\*", arn)
                    if kms:  # another region's key, found by alias: the condition must name an alias it creates
                        aliases = statement["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
                        assert f"{kms[1]}/{aliases}" in created["alias"], where
                        continue
                    assert _iam_resource_exists(arn, t, created), f"{where}: {arn} is created by no template"
    assert checked > 20


def _kind(where: str, t: RegionTemplate) -> str:
    logical_id = where.split(".")[0]
    return "key" if t.resources[logical_id]["Type"] == "AWS::KMS::Key" else (
        "role" if t.resources[logical_id]["Type"] == "AWS::IAM::Role" else "resource")


@per_template
def test_no_allow_statement_has_a_wildcard_action_or_unlisted_wildcard_resource(t):
    for where, doc in policy_documents(t):
        assert doc.get("Version") == "2012-10-17", f"{where} has no Version 2012-10-17"
        for statement in doc["Statement"]:
            actions = as_list(statement.get("Action", []))
            assert "NotAction" not in statement and "NotResource" not in statement, where
            if statement["Effect"] == "Deny":
                assert statement["Condition"] in iam_rules.DENY_CONDITIONS.values(), (
                    f"{where}: a Deny is allowed only with a condition listed in iam_rules.DENY_CONDITIONS")
                continue
            for action in actions:
                assert "*" not in action, f"{where}: wildcard action {action}"
            for resource in as_list(statement.get("Resource", [])):
                if resource == "*":
                    kind = _kind(where, t)
                    for action in actions:
                        assert iam_rules.wildcard_resource_reason(kind, action), (
                            f"{where}: '*' resource for {action} is not in tap_templates/components/iam_rules.py")


@per_template
def test_no_hard_coded_partition_or_account(t):
    for path, node in walk(t.body):
        if isinstance(node, str):
            assert "arn:aws:" not in node, f"{path}: use ${{AWS::Partition}}"
            assert ACCOUNT not in node and not re.search(r"\b\d{12}\b", node), f"{path}: hard-coded account"


@per_template
def test_every_taggable_resource_carries_every_tag(t):
    expected = tags.values(config(t.env))
    assert {"Environment", "Project", "Service", "CostCenter", "Repository", "Owner"} <= set(expected)
    tagged = 0
    for logical_id, resource in t.resources.items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(t.region, resource["Type"]).schema
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::DynamoDB::GlobalTable":
            for replica in props["Replicas"]:
                assert {x["Key"]: x["Value"] for x in replica["Tags"]} == expected, logical_id
            tagged += 1
        elif "Tags" in schema.get("properties", {}):
            value = props.get("Tags")
            as_dict = value if isinstance(value, dict) else {x["Key"]: x["Value"] for x in value or []}
            assert as_dict == expected, f"{logical_id} ({resource['Type']}) is not tagged"
            tagged += 1
    assert tagged >= 15


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_cfn_lint_reports_nothing(env):
    for rendered in rendering(env).templates:
        matches = lint(rendered.body.decode(), config=ManualArgs(regions=[rendered.region]))
        assert [str(m) for m in matches] == [], rendered.file


def test_region_rule_refuses_other_regions():
    for t in TEMPLATES:
        assertion = t.body["Rules"]["DeployedInItsRegion"]["Assertions"][0]["Assert"]
        assert assertion == {"Fn::Equals": [{"Ref": "AWS::Region"}, t.region]}


def test_names_come_from_naming():
    cfg = config("dev")
    assert naming.ingest_bucket(cfg, "us-west-2") == "tap-dev-ingest-${AWS::AccountId}-us-west-2"
    assert len(naming.resolve(naming.access_log_bucket(cfg, "ap-southeast-2"), ACCOUNT)) <= 63
