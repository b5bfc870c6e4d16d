"""What the emulator can show of the AWS rules the templates follow, on a deployed dev: the subnets sit in the
configured zones (by ID, as EC2 places them; moto needs the emulator's patch for that), and a message SQS moves
to the dead-letter queue keeps its first enqueue time, which is why the DLQ's retention is the ingest queue's
plus the promised days (tests/components/test_aws_rules.py checks the arithmetic). moto expires no message by
its retention within a test's time, so the expiry itself is the arithmetic's, not the emulator's."""

from __future__ import annotations

import time

import pytest

from tap_templates import naming
from tap_templates.config import load_config
from tests.deploy.helpers import REGIONS

CFG = load_config("dev")


@pytest.fixture
def deployed(aws, cli, code_zip):
    assert cli("roles", "--env", "dev").code == 0
    assert cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes").code == 0


def test_the_subnets_sit_in_the_configured_zones(aws, deployed):
    prefixes = {"us-east-1": "use1", "us-west-2": "usw2"}
    for region in REGIONS:
        ec2 = aws.client("ec2", region_name=region)
        vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == CFG.network.cidr]
        assert len(vpcs) == 1
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": vpcs}])["Subnets"]
        wanted = [f"{prefixes[region]}-az1", f"{prefixes[region]}-az2"]
        assert sorted(s["AvailabilityZoneId"] for s in subnets) == wanted
        assert all(s["AvailabilityZone"].startswith(region) for s in subnets)


def test_a_dead_letter_keeps_its_first_enqueue_time(aws, deployed):
    sqs = aws.client("sqs", region_name="us-west-2")
    ingest = sqs.get_queue_url(QueueName=naming.ingest_queue(CFG))["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName=naming.dead_letter_queue(CFG))["QueueUrl"]
    sqs.send_message(QueueUrl=ingest, MessageBody="{}")
    for _ in range(CFG.processor.max_receive_count):
        (message,) = sqs.receive_message(QueueUrl=ingest, AttributeNames=["All"], VisibilityTimeout=1)["Messages"]
        sent = message["Attributes"]["SentTimestamp"]
        time.sleep(1.1)
    assert sqs.receive_message(QueueUrl=ingest).get("Messages") is None, "moved on the next receive"
    (dead,) = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"]
    assert dead["Attributes"]["SentTimestamp"] == sent, "the dead letter's age counts from its first enqueue"
    ingest_retention, dlq_retention = (
        int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["MessageRetentionPeriod"])
        for url in (ingest, dlq))
    assert dlq_retention - ingest_retention == CFG.retention.dead_letter_days * 86_400
