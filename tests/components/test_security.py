"""The template side of security: VPC isolation, the pseudonymization secret, audit switches and scanner cleanliness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from tap_templates import naming
from tap_templates.components import scanner_skips
from tap_templates.components.audit import PERIODIC_RULES
from tap_templates.config import load_config, parse_config
from tap_templates.render import render
from tests.support.rendered import SHIPPED_ENVS, all_templates, config, rendering, resolve

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = all_templates()
per_template = pytest.mark.parametrize("t", TEMPLATES, ids=[f"{t.env}-{t.region}" for t in TEMPLATES])


@per_template
def test_processor_runs_in_private_subnets_with_no_way_out(t):
    fn = t.props("ProcessorFunction")
    assert fn["VpcConfig"] == {"SubnetIds": [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}],
                               "SecurityGroupIds": [{"Ref": "ProcessorSecurityGroup"}]}
    for forbidden in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP",
                      "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::Route"):
        assert not t.of_type(forbidden), forbidden
    azs = [t.props(s)["AvailabilityZoneId"] for s in ("PrivateSubnet1", "PrivateSubnet2")]
    assert azs[0] != azs[1]
    assert all("AvailabilityZone" not in t.props(s) for s in ("PrivateSubnet1", "PrivateSubnet2"))
    assert all(t.props(s)["MapPublicIpOnLaunch"] is False for s in ("PrivateSubnet1", "PrivateSubnet2"))


@per_template
def test_endpoints_cover_every_service_the_function_calls_and_no_other(t):
    """The handler's clients (handlers/clients.py) are S3, DynamoDB, SQS and Secrets Manager; KMS, CloudWatch
    Logs and X-Ray are reached by AWS services on its behalf (tap_templates/components/network.py)."""
    from handlers import clients

    called = {name for name in ("s3", "dynamodb", "sqs", "secretsmanager") if callable(getattr(clients, name))}
    endpoints = {resolve(e["Properties"]["ServiceName"], t): e["Properties"]
                 for e in t.of_type("AWS::EC2::VPCEndpoint").values()}
    prefix = f"com.amazonaws.{t.region}."
    expected = called if config(t.env).pseudonymization.enabled else called - {"secretsmanager"}
    assert {s.removeprefix(prefix) for s in endpoints} == expected
    s3_policy = endpoints[prefix + "s3"]["PolicyDocument"]["Statement"]
    listing = next(s for s in s3_policy if s["Action"] == ["s3:ListBucket"])
    assert resolve(listing["Resource"][0], t) == f"arn:aws:s3:::{resolve(t.props('IngestBucket')['BucketName'], t)}"
    sqs_policy = endpoints[prefix + "sqs"]["PolicyDocument"]["Statement"]
    assert [(s["Action"], resolve(s["Resource"][0], t).rsplit(":", 1)[1]) for s in sqs_policy] == [
        (["sqs:SendMessage"], naming.dead_letter_queue(config(t.env)))]
    for service in ("s3", "dynamodb"):
        assert endpoints[prefix + service]["VpcEndpointType"] == "Gateway"
        assert endpoints[prefix + service]["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
    for name, props in endpoints.items():
        if props["VpcEndpointType"] == "Interface":
            assert props["PrivateDnsEnabled"] is True
            assert props["SecurityGroupIds"] == [{"Ref": "EndpointSecurityGroup"}]
        statements = props["PolicyDocument"]["Statement"]
        assert all(s["Resource"] != "*" and s["Resource"] != ["*"] for s in statements), name


@per_template
def test_security_groups_allow_only_https(t):
    function_sg = t.props("ProcessorSecurityGroup")
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in function_sg["SecurityGroupEgress"]] == [
        ("tcp", 443, 443)]
    assert "SecurityGroupIngress" not in function_sg
    ingress = t.props("EndpointIngressFromProcessor")
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)
    assert ingress["SourceSecurityGroupId"] == {"Ref": "ProcessorSecurityGroup"}
    entries = [e["Properties"] for e in t.of_type("AWS::EC2::NetworkAclEntry").values()]
    assert all(e["Protocol"] == 6 and e["RuleAction"] == "allow" for e in entries)
    assert {(e["PortRange"]["From"], e["PortRange"]["To"]) for e in entries} == {
        (443, 443), (1024, 65535), (1024, 3388), (3390, 65535)}
    from_anywhere = [e for e in entries if e["CidrBlock"] == "0.0.0.0/0" and not e["Egress"]]
    assert from_anywhere and all(not e["PortRange"]["From"] <= port <= e["PortRange"]["To"]
                                 for e in from_anywhere for port in (22, 3389)), "SSH and RDP closed (CT.EC2.PR.5)"


@per_template
def test_flow_logs_go_to_an_encrypted_log_group_with_retention(t):
    flow = t.one("AWS::EC2::FlowLog")
    assert flow["ResourceId"] == {"Ref": "Vpc"} and flow["TrafficType"] == "ALL"
    group = t.props("FlowLogGroup")
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert group["RetentionInDays"] == config(t.env).retention.log_days


def test_network_isolation_switch_removes_the_vpc():
    raw = {"network": {"isolated": False}, "tags": dict(config("dev").tags)}
    cfg = parse_config(raw, "dev")
    body = json.loads(render(cfg).templates[0].body)
    vpc_config = body["Resources"]["ProcessorFunction"]["Properties"].get("VpcConfig")
    assert vpc_config in (None, {"Ref": "AWS::NoValue"})
    assert not [r for r in body["Resources"].values() if r["Type"].startswith("AWS::EC2::")]
    assert not lint(render(cfg).templates[0].body.decode(), config=ManualArgs(regions=["us-east-1"]))


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_pseudonymization_secret_is_generated_encrypted_and_replicated(env):
    cfg = config(env)
    primary = next(t for t in TEMPLATES if t.env == env and t.role == "primary")
    secret = primary.one("AWS::SecretsManager::Secret")
    assert secret["Name"] == naming.pseudonymization_secret(cfg)
    assert "SecretString" not in secret and secret["GenerateSecretString"]["PasswordLength"] >= 32
    assert secret["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert [(r["Region"], resolve(r["KmsKeyId"], primary)) for r in secret["ReplicaRegions"]] == [
        (r, f"arn:aws:kms:{r}:123456789012:{naming.key_alias(cfg)}") for r in cfg.secondary_regions]
    for t in TEMPLATES:
        if t.env == env:
            env_vars = t.props("ProcessorFunction")["Environment"]["Variables"]
            assert env_vars["PSEUDONYMIZATION_SECRET_ID"] == secret["Name"]
            assert json.loads(env_vars["PSEUDONYMIZE_FIELDS"]) == cfg.pseudonymization.fields


def test_prod_has_a_trail_of_ingestion_data_events_and_config_rules():
    for t in (x for x in TEMPLATES if x.env == "prod"):
        trail = t.one("AWS::CloudTrail::Trail")
        assert trail["EnableLogFileValidation"] is True and trail["IsLogging"] is True
        assert trail["KMSKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
        (selector,) = trail["EventSelectors"]
        ingest = resolve(t.props("IngestBucket")["BucketName"], t)
        assert resolve(selector["DataResources"][0]["Values"][0], t) == f"arn:aws:s3:::{ingest}/"
        audit = t.props("AuditBucket")
        assert all(audit["PublicAccessBlockConfiguration"].values())
        assert audit["VersioningConfiguration"] == {"Status": "Enabled"}
        rules = {r["Properties"]["Source"]["SourceIdentifier"] for r in t.of_type("AWS::Config::ConfigRule").values()}
        assert {"S3_BUCKET_SSL_REQUESTS_ONLY", "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", "DYNAMODB_PITR_ENABLED",
                "LAMBDA_CONCURRENCY_CHECK", "CMK_BACKING_KEY_ROTATION_ENABLED"} <= rules
        for rule in t.of_type("AWS::Config::ConfigRule").values():
            if rule["Properties"]["Source"]["SourceIdentifier"] in PERIODIC_RULES:
                continue  # AWS Config refuses a scope on periodic rules (tests/components/test_aws_rules.py)
            assert rule["Properties"]["Scope"]["ComplianceResourceId"], "rules are scoped to our resources"
    for t in (x for x in TEMPLATES if x.env == "dev"):
        assert not t.of_type("AWS::CloudTrail::Trail") and not t.of_type("AWS::Config::ConfigRule")


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_cfn_lint_with_serverless_rules_reports_nothing(env):
    for rendered in rendering(env).templates:
        result = subprocess.run(
            [shutil.which("cfn-lint"), "--append-rules", "cfn_lint_serverless.rules", "--regions", rendered.region,
             "--", str(ROOT / "build" / env / rendered.file)],
            capture_output=True, text=True, timeout=300)
        assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def _stackset_roles(env: str) -> dict:
    return json.loads((ROOT / "build" / env / "stackset-roles.json").read_text())


def test_every_skip_is_on_a_rendered_resource_and_documented():
    doc = (ROOT / "docs" / "security.md").read_text()
    rendered_ids = {logical_id for t in TEMPLATES for logical_id in t.resources}
    rendered_ids |= {logical_id for env in SHIPPED_ENVS for logical_id in _stackset_roles(env)["Resources"]}
    for logical_id, skips in scanner_skips.SKIPS.items():
        assert logical_id in rendered_ids, f"skip for {logical_id}, which no template renders"
        for check, reason in skips:
            assert f"| {check} | {logical_id} |" in doc, f"{check} on {logical_id} is not in docs/security.md"
            assert reason in doc
    for t in TEMPLATES:
        for logical_id, resource in t.resources.items():
            meta = resource.get("Metadata", {})
            skipped = [s["id"] for s in meta.get("checkov", {}).get("skip", [])]
            skipped += meta.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
            assert set(skipped) <= {c for c, _ in scanner_skips.SKIPS.get(logical_id, ())}


@pytest.mark.skipif(not os.environ.get("CHECKOV"), reason="CHECKOV (path to checkov in its own venv) is not set; "
                                                          ".ci/run sets it")
def test_checkov_finds_nothing():
    result = subprocess.run([os.environ["CHECKOV"], "--framework", "cloudformation", "-d", str(ROOT / "build"),
                             "--quiet", "--compact", "--output", "json"], capture_output=True, text=True, timeout=900)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']} {c['file_path']}" for r in reports
              for c in r.get("results", {}).get("failed_checks", [])]
    assert failed == []
    assert sum(r["summary"]["passed"] for r in reports) > 200
    assert result.returncode == 0


def test_prod_config_turns_audit_on():
    assert load_config("prod").audit.cloudtrail and load_config("prod").audit.config_rules


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_roles_template_grants_no_wildcard_action_and_star_only_without_resource_types(env):
    """'*' is the only resource IAM accepts for an action without resource types; everything else names the
    project's resources (the reference data is checked in tests/deploy/test_execution_role.py)."""
    from tap_templates import cfn_permissions

    without_types = {a for a, types in cfn_permissions.data()["actions"].items() if not types}
    checked = 0
    for logical_id, resource in _stackset_roles(env)["Resources"].items():
        documents = [resource["Properties"]["PolicyDocument"]] if resource["Type"] == "AWS::IAM::ManagedPolicy" \
            else [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        for document in documents:
            assert document["Version"] == "2012-10-17"
            for statement in document["Statement"]:
                assert statement["Effect"] == "Allow" and "NotAction" not in statement
                assert not [a for a in statement["Action"] if "*" in a], (logical_id, statement["Sid"])
                if "*" in statement["Resource"]:
                    assert statement["Resource"] == ["*"]
                    assert set(statement["Action"]) <= without_types or logical_id == "RoleBoundary", \
                        (logical_id, statement["Sid"], sorted(set(statement["Action"]) - without_types))
                checked += 1
    assert checked > 20


def test_prod_trail_alarms_on_changes_to_the_key_buckets_and_trail():
    for t in (x for x in TEMPLATES if x.env == "prod"):
        cfg = config(t.env)
        trail = t.one("AWS::CloudTrail::Trail")
        assert trail["CloudWatchLogsLogGroupArn"] == {"Fn::GetAtt": ["TrailLogGroup", "Arn"]}
        assert trail["CloudWatchLogsRoleArn"] == {"Fn::GetAtt": ["TrailLogsRole", "Arn"]}
        (selector,) = trail["EventSelectors"]
        assert (selector["IncludeManagementEvents"], selector["ReadWriteType"]) == (True, "WriteOnly")
        group = t.props("TrailLogGroup")
        assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]} and group["RetentionInDays"] >= 365
        filters = {k: v["Properties"] for k, v in t.of_type("AWS::Logs::MetricFilter").items()}
        patterns = {k: resolve(v["FilterPattern"], t) or json.dumps(v["FilterPattern"]) for k, v in filters.items()}
        assert '"PutKeyPolicy"' in patterns["KeyChangedFilter"] and "${DataKey.Arn}" in patterns["KeyChangedFilter"]
        assert f'"{naming.named_resources(cfg)}"' in patterns["BucketPolicyChangedFilter"]
        assert '"StopLogging"' in patterns["TrailChangedFilter"] and naming.trail(cfg) in patterns["TrailChangedFilter"]
        for title in ("KeyChanged", "BucketPolicyChanged", "TrailChanged"):
            alarm = t.props(f"{title}Alarm")
            metric = filters[f"{title}Filter"]["MetricTransformations"][0]
            assert (alarm["MetricName"], alarm["Namespace"]) == (metric["MetricName"], metric["MetricNamespace"])
            assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] and alarm["Threshold"] == 1


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_log_groups_keep_a_year_or_more(env):
    for t in (x for x in TEMPLATES if x.env == env):
        for logical_id, group in t.of_type("AWS::Logs::LogGroup").items():
            assert group["Properties"]["RetentionInDays"] >= 365, logical_id


@per_template
def test_object_lock_everywhere_but_the_access_log_bucket(t):
    for logical_id, bucket in t.of_type("AWS::S3::Bucket").items():
        expected = None if logical_id == "AccessLogBucket" else True  # S3 logs to no Object Lock bucket
        assert bucket["Properties"].get("ObjectLockEnabled") is expected, logical_id
