"""What moto's CloudFormation leaves out of a deploy: applied afterwards by ``skipped.apply_skipped_resources``
and checked through the AWS APIs, or, for the resource types moto never creates, checked on the template
against the names of what the deploy really created."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

import pytest
from moto.cloudformation import parsing

from tap_templates import naming
from tap_templates.config import load_config
from tap_templates.local import skipped
from tap_templates.local.intrinsics import resources_of_type
from tap_templates.render import render
from tests.deploy.helpers import resolved

CFG = load_config("dev")
TEMPLATES = {t.region: json.loads(t.body) for t in render(CFG).templates}
# moto's CloudFormation skips these types (warning "not supported"); the emulator applies the policies with
# the APIs, and the rest is checked on the template below.
APPLIED_BY_THE_EMULATOR = {"AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"}


@pytest.fixture
def deployed(aws, cli, code_zip):
    assert cli("roles", "--env", "dev").code == 0
    result = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 0, result.err


def skipped_types(template: dict) -> set[str]:
    models = parsing.get_model_map()
    return {r["Type"] for r in template["Resources"].values() if r["Type"] not in models}


def test_skipped_parts_are_applied_through_the_apis(deployed, aws):
    for region, template in TEMPLATES.items():
        applied = skipped.apply_skipped_resources(template, region, aws)
        s3, sqs = aws.client("s3", region_name=region), aws.client("sqs", region_name=region)
        ingest = resolved(naming.ingest_bucket(CFG, region))
        assert f"notifications of {ingest}" in applied and f"policy of bucket {ingest}" in applied
        for bucket in (ingest, resolved(naming.access_log_bucket(CFG, region))):
            assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
            assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
            sids = {s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]}
            assert "DenyInsecureTransport" in sids
        queue_arn = f"arn:aws:sqs:{region}:123456789012:{naming.ingest_queue(CFG)}"
        rules = s3.get_bucket_notification_configuration(Bucket=ingest)["QueueConfigurations"]
        assert {r["QueueArn"] for r in rules} == {queue_arn}
        assert sorted(r["Filter"]["Key"]["FilterRules"][0]["Value"] for r in rules) == sorted(naming.INGEST_SUFFIXES)
        for queue in (naming.ingest_queue(CFG), naming.dead_letter_queue(CFG)):
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            assert json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
        topic = f"arn:aws:sns:{region}:123456789012:{naming.alarm_topic(CFG)}"
        assert "Policy" in aws.client("sns", region_name=region).get_topic_attributes(TopicArn=topic)["Attributes"]
        cloudwatch = aws.client("cloudwatch", region_name=region)
        alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values():
            name = alarm["Properties"]["AlarmName"]
            if "Condition" not in alarm:  # the others exist while their condition holds (the active region)
                assert f"alarm {name}" in applied and alarms[name]["AlarmActions"] == [topic], name
        assert skipped.apply_skipped_resources(template, region, aws) == applied, "idempotent"


def test_an_object_in_the_passive_secondary_waits_in_its_queue(deployed, aws):
    """With the notification applied, an upload reaches the ingest queue; the secondary's trigger is off."""
    region = CFG.secondary_regions[0]
    skipped.apply_skipped_resources(TEMPLATES[region], region, aws)
    bucket = resolved(naming.ingest_bucket(CFG, region))
    aws.client("s3", region_name=region).put_object(Bucket=bucket, Key="in/readings.jsonl", Body=b'{"a": 1}\n')
    sqs = aws.client("sqs", region_name=region)
    url = sqs.get_queue_url(QueueName=naming.ingest_queue(CFG))["QueueUrl"]
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    keys = [unquote_plus(r["s3"]["object"]["key"]) for b in bodies for r in b.get("Records", [])]
    assert keys == ["in/readings.jsonl"]


def test_types_moto_does_not_create_are_checked_on_the_template(deployed, aws):
    """moto's CloudFormation does not create these types: the deploy cannot prove them, so this test checks
    on each rendered template that they point only at resources the emulator did create, by name."""
    for region, template in TEMPLATES.items():
        resources = template["Resources"]
        unchecked = skipped_types(template) - APPLIED_BY_THE_EMULATOR
        assert "AWS::CloudWatch::Alarm" in unchecked, "moto now creates alarms: check them through the API"
        for logical_id, resource in resources.items():
            if resource["Type"] not in unchecked:
                continue
            refs = set(_intrinsic(resource, "Ref")) | {a[0] for a in _intrinsic(resource, "Fn::GetAtt")}
            assert refs <= set(resources) | set(template.get("Parameters", {})) | {"AWS::AccountId", "AWS::Region",
                                                                                   "AWS::Partition", "AWS::NoValue"}, \
                f"{region} {logical_id} refers to something the template does not create"
        function = aws.client("lambda", region_name=region).get_function(FunctionName=naming.function(CFG))
        queues = {q.rsplit("/", 1)[-1] for q in aws.client("sqs", region_name=region).list_queues()["QueueUrls"]}
        created = {function["Configuration"]["FunctionName"], naming.table(CFG), *queues}
        for logical_id, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
            props = alarm["Properties"]
            assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
            for dimension in props.get("Dimensions", []):
                if dimension["Name"] in ("FunctionName", "QueueName", "TableName"):
                    assert dimension["Value"] in created, f"{region} {logical_id} watches {dimension['Value']}"


def _intrinsic(node: object, function: str) -> list:
    """Every argument of ``function`` (``Ref``, ``Fn::GetAtt``) anywhere in a template fragment."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += [value] if key == function else _intrinsic(value, function)
    elif isinstance(node, list):
        for item in node:
            found += _intrinsic(item, function)
    return found
