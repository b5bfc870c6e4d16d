"""Plain helpers shared by the deploy tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.stub import ANY, Stubber

from tap_templates import naming
from tap_templates.config import load_config
from tap_templates.deploy.packaging import build_source_zip

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy.py"
ACCOUNT = "123456789012"  # moto's default account
REGIONS = ("us-west-2", "us-east-1")
WHEN = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)  # the drift answers' last check
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}
# Variables that would point boto3 at real credentials or slow it down looking for them.
AWS_LOOKUPS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
               "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")


def build_test_zip(target: Path) -> tuple[Path, str]:
    return build_source_zip(target)


@dataclass
class Result:
    code: int
    out: str
    err: str


def subprocess_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in AWS_LOOKUPS and not k.startswith("AWS_")}
    env.update(CREDENTIALS, AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, PYTHONPATH=str(ROOT))
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run_script(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """``python scripts/deploy.py ARGS`` in a fresh process: exit code, stdout and stderr as a user sees them."""
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          env=env if env is not None else subprocess_env(), timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing")


def one_line(result: Result) -> str:
    """The single stderr line of a refused command (asserts there is exactly one and no traceback)."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def resolved(name: str, account: str = ACCOUNT) -> str:
    from tap_templates import naming

    return naming.resolve(name, account)


def instance_stack(session: boto3.Session, stack_set: str, region: str, endpoint_url: str | None = None,
                   account: str = ACCOUNT) -> dict:
    """The stack behind a StackSet's instance, as CloudFormation describes it."""
    cf = session.client("cloudformation", region_name=region, endpoint_url=endpoint_url)
    instance = cf.describe_stack_instance(StackSetName=stack_set, StackInstanceAccount=account,
                                          StackInstanceRegion=region)["StackInstance"]
    return cf.describe_stacks(StackName=instance["StackId"])["Stacks"][0]


def stack_parameters(stack: dict) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}


def assert_pipeline_resources(session: boto3.Session, cfg: object, endpoint_url: str | None = None) -> None:
    """What moto's CloudFormation (with the emulator's fixes) creates from each region's template, read back
    through each service's own API: buckets, queues, topic, function and trigger, role, log group, key, table."""
    from tap_templates import naming, regions

    for region in cfg.regions:
        def client(service: str, region: str = region) -> object:
            return session.client(service, region_name=region, endpoint_url=endpoint_url)

        s3 = client("s3")
        for bucket in (naming.ingest_bucket(cfg, region), naming.access_log_bucket(cfg, region),
                       naming.artifacts_bucket(cfg, region)):
            s3.head_bucket(Bucket=resolved(bucket))
        sqs = client("sqs")
        dlq_url = sqs.get_queue_url(QueueName=naming.dead_letter_queue(cfg))["QueueUrl"]
        ingest = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=naming.ingest_queue(cfg))["QueueUrl"],
                                          AttributeNames=["All"])["Attributes"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert dlq_arn in ingest["RedrivePolicy"] and ingest.get("KmsMasterKeyId"), region
        topics = [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
        assert f"arn:aws:sns:{region}:{ACCOUNT}:{naming.alarm_topic(cfg)}" in topics
        fn = client("lambda").get_function(FunctionName=naming.function(cfg))["Configuration"]
        assert (fn["Runtime"], fn["Architectures"], fn["MemorySize"]) == ("python3.13", ["arm64"],
                                                                         cfg.processor.memory_mb), region
        assert fn["Environment"]["Variables"]["TABLE_NAME"] == naming.table(cfg)
        role_name = fn["Role"].rsplit("/", 1)[-1]
        assert client("iam").get_role(RoleName=role_name)["Role"]["Arn"] == fn["Role"]
        mappings = event_source_mappings(session, cfg, region, endpoint_url)
        expected = "Enabled" if regions.role(cfg, region) == "primary" else "Disabled"
        assert [m["State"] for m in mappings] == [expected], region
        alias = client("lambda").get_alias(FunctionName=naming.function(cfg), Name=naming.function_alias(cfg))
        assert mappings[0]["FunctionArn"] in (alias["AliasArn"], f"{fn['FunctionArn']}:{alias['FunctionVersion']}")
        assert alias["FunctionVersion"] != "$LATEST", "the event source invokes a published version"
        groups = client("logs").describe_log_groups(logGroupNamePrefix=naming.function_log_group(cfg))["logGroups"]
        assert [g["retentionInDays"] for g in groups] == [cfg.retention.log_days], region
        key = client("kms").describe_key(KeyId=naming.key_alias(cfg))["KeyMetadata"]
        assert key["Enabled"] and client("kms").get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
        key_tags = {t["TagKey"]: t["TagValue"] for t in client("kms").list_resource_tags(KeyId=key["KeyId"])["Tags"]}
        assert key_tags["Environment"] == cfg.environment, region
        table = client("dynamodb").describe_table(TableName=naming.table(cfg))["Table"]
        assert table["StreamSpecification"]["StreamEnabled"], region


def record_configuration(session: boto3.Session, regions: tuple[str, ...] = REGIONS, endpoint_url: str | None = None,
                         start: bool = True, resource_types: list[str] | None = None) -> None:
    """An AWS Config recorder in each region, as an account that runs Config rules has (the templates create
    none): all supported types unless ``resource_types``, started unless ``start`` is false."""
    group = {"allSupported": False, "resourceTypes": resource_types} if resource_types is not None else {
        "allSupported": True}
    for region in regions:
        config = session.client("config", region_name=region, endpoint_url=endpoint_url)
        config.put_configuration_recorder(ConfigurationRecorder={
            "name": "default", "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config-recorder", "recordingGroup": group})
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-delivery"})
        if start:
            config.start_configuration_recorder(ConfigurationRecorderName="default")


def event_source_mappings(session: boto3.Session, cfg: object, region: str,
                          endpoint_url: str | None = None) -> list[dict]:
    """The event source mappings on the region's ingest queue (found by queue: they invoke the function's alias)."""
    from tap_templates import naming

    sqs = session.client("sqs", region_name=region, endpoint_url=endpoint_url)
    url = sqs.get_queue_url(QueueName=naming.ingest_queue(cfg))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return session.client("lambda", region_name=region, endpoint_url=endpoint_url).list_event_source_mappings(
        EventSourceArn=arn)["EventSourceMappings"]


def event_source_states(session: boto3.Session, cfg: object, region: str, endpoint_url: str | None = None) -> list[str]:
    return [m["State"] for m in event_source_mappings(session, cfg, region, endpoint_url)]


def expect_detection(stub: Stubber, region: str, drifted: bool) -> None:
    """AWS's documented answers to one region's drift detection of dev (moto has no drift APIs), with the
    parameters the drift command must send."""
    name = naming.stack_set(load_config("dev"), region)
    stub.add_response("detect_stack_set_drift", {"OperationId": f"op-{region}"},
                      {"StackSetName": name, "OperationId": ANY, "OperationPreferences": ANY})
    stub.add_response("describe_stack_set_operation",
                      {"StackSetOperation": {"OperationId": f"op-{region}", "Status": "SUCCEEDED",
                                             "Action": "DETECT_DRIFT"}},
                      {"StackSetName": name, "OperationId": f"op-{region}"})
    stub.add_response("list_stack_instances", {"Summaries": [{
        "StackSetId": f"{name}:1", "Region": region, "Account": ACCOUNT, "Status": "CURRENT",
        "DriftStatus": "DRIFTED" if drifted else "IN_SYNC", "LastDriftCheckTimestamp": WHEN}]},
        {"StackSetName": name})
    if drifted:
        stub.add_response("list_stack_instance_resource_drifts", {"Summaries": [{
            "StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/StackSet-{name}-1/abc",
            "LogicalResourceId": "IngestQueue", "PhysicalResourceId": "tap-dev-ingest",
            "ResourceType": "AWS::SQS::Queue", "StackResourceDriftStatus": "MODIFIED", "Timestamp": WHEN,
            "PropertyDifferences": [{"PropertyPath": "/VisibilityTimeout", "ExpectedValue": "1800",
                                     "ActualValue": "30", "DifferenceType": "NOT_EQUAL"}]}]},
            {"StackSetName": name, "StackInstanceAccount": ACCOUNT, "StackInstanceRegion": region,
             "OperationId": f"op-{region}", "StackInstanceResourceDriftStatuses": ["MODIFIED", "DELETED"]})
    stub.add_response("describe_stack_set", {"StackSet": {
        "StackSetName": name, "StackSetDriftDetectionDetails": {
            "DriftStatus": "DRIFTED" if drifted else "IN_SYNC", "DriftDetectionStatus": "COMPLETED",
            "LastDriftCheckTimestamp": WHEN, "TotalStackInstancesCount": 1,
            "DriftedStackInstancesCount": 1 if drifted else 0}}}, {"StackSetName": name})
