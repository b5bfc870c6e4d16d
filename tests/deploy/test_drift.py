"""``deploy.py drift`` and the deploy's drift warning, at the API-call level.

moto runs no drift detection (``DetectStackSetDrift`` and ``ListStackInstanceResourceDrifts`` are not
implemented), so these tests give real boto3 clients AWS's documented answers through botocore's ``Stubber``
and check both sides: the calls the code makes (operation, parameters, paging) and what it prints and returns.
Nothing of the project is replaced."""

from __future__ import annotations

import argparse

import boto3
import pytest
from botocore.stub import Stubber

from tap_templates import naming
from tap_templates.commands import deploy as deploy_command
from tap_templates.config import load_config
from tap_templates.deploy import drift
from tap_templates.deploy.aws import Aws
from tests.deploy.helpers import ACCOUNT, WHEN, expect_detection

CFG = load_config("dev")


@pytest.fixture
def stubbed():
    """An ``Aws`` whose CloudFormation clients (one per region) answer from a Stubber each."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    aws = Aws(session=session, account=ACCOUNT, partition="aws")
    stubs = {}
    for region in CFG.regions:
        client = session.client("cloudformation", region_name=region)
        aws.clients["cloudformation", region] = client
        stubs[region] = Stubber(client)
        stubs[region].activate()
    yield aws, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def test_drift_is_printed_per_account_and_region_and_exits_1(stubbed, capsys):
    aws, stubs = stubbed
    secondary, primary = CFG.secondary_regions[0], CFG.primary_region
    expect_detection(stubs[secondary], secondary, drifted=False)
    expect_detection(stubs[primary], primary, drifted=True)
    code = deploy_command.run_drift(argparse.Namespace(), CFG, aws)
    out = capsys.readouterr().out
    assert code == 1
    assert "tap-dev-us-west-2 (us-west-2): IN_SYNC\n  123456789012 us-west-2: IN_SYNC\n" in out
    assert ("tap-dev-us-east-1 (us-east-1): DRIFTED\n  123456789012 us-east-1: DRIFTED\n"
            "    MODIFIED IngestQueue (AWS::SQS::Queue tap-dev-ingest)\n"
            "      /VisibilityTimeout not_equal: expected 1800 actual 30\n") in out
    assert out.rstrip().endswith("drifted: tap-dev-us-east-1")


def test_no_drift_exits_0(stubbed, capsys):
    aws, stubs = stubbed
    for region in CFG.regions:
        expect_detection(stubs[region], region, drifted=False)
    assert deploy_command.run_drift(argparse.Namespace(), CFG, aws) == 0
    assert capsys.readouterr().out.rstrip().endswith("no drift")


def test_a_stackset_not_deployed_yet_is_not_drift(stubbed):
    aws, stubs = stubbed
    for region in CFG.regions:
        stubs[region].add_client_error("detect_stack_set_drift", "StackSetNotFoundException", "not found")
    found = drift.detect(CFG, aws, lambda p: None, poll_seconds=0)
    assert [(d.status, d.drifted) for d in found] == [("not deployed", False)] * 2


def test_a_deploy_warns_from_the_last_detection_without_starting_one(stubbed):
    aws, stubs = stubbed
    secondary, primary = CFG.secondary_regions[0], CFG.primary_region
    stubs[secondary].add_client_error("describe_stack_set", "StackSetNotFoundException", "not found")
    stubs[primary].add_response("describe_stack_set", {"StackSet": {
        "StackSetName": naming.stack_set(CFG, primary), "StackSetDriftDetectionDetails": {
            "DriftStatus": "DRIFTED", "LastDriftCheckTimestamp": WHEN, "TotalStackInstancesCount": 2,
            "DriftedStackInstancesCount": 1}}}, {"StackSetName": naming.stack_set(CFG, primary)})
    (warning,) = drift.warnings(CFG, aws)
    assert warning.startswith("warning: tap-dev-us-east-1 has drifted (1 of 2 instance(s) at 2024-05-01 08:00:00")
    assert warning.endswith("see deploy.py drift --env dev")
