"""scripts/deploy.py against the in-process emulator (``mock_aws``): create, no-op, update, overrides,
failures, artifacts, dry run and destroy, each checked through the AWS APIs the deploy had to go through."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from tap_templates import naming
from tap_templates.config import load_config
from tap_templates.deploy import stacksets
from tap_templates.deploy.aws import connect
from tap_templates.render import render
from tests.deploy.helpers import (
    ACCOUNT,
    REGIONS,
    ROOT,
    assert_pipeline_resources,
    event_source_states,
    instance_stack,
    one_line,
    record_configuration,
    resolved,
    stack_parameters,
)

CFG = load_config("dev")


def stack_set_operations(session, region: str) -> list[dict]:
    cf = session.client("cloudformation", region_name=region)
    return cf.list_stack_set_operations(StackSetName=naming.stack_set(CFG, region))["Summaries"]


def first_operations(region: str) -> list[str]:
    """A first deploy's operations: the primary's StackSet also turns its table's deletion protection on once the
    create succeeded (components/table.py says why)."""
    return ["CREATE", "UPDATE"] if region == CFG.primary_region else ["CREATE"]


def with_memory(tmp_path, memory_mb: int):
    config = tmp_path / "dev.toml"
    text = (ROOT / "config" / "dev.toml").read_text()
    assert "memory_mb = 1024" in text
    config.write_text(text.replace("memory_mb = 1024", f"memory_mb = {memory_mb}"))
    return config


@pytest.fixture
def deployed(aws, cli, code_zip):
    """Roles, then a first deploy of dev to this account in both regions."""
    assert cli("roles", "--env", "dev").code == 0
    result = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 0, result.err
    return result


def test_prod_deploys_too(aws, cli, code_zip):
    """prod switches on what dev leaves off (audit trail, Config rules, alarm e-mail): moto must take it. Its
    Config rules need a configuration recorder in the account, which the pre-flight checks."""
    record_configuration(aws)
    assert cli("roles", "--env", "prod").code == 0
    result = cli("--env", "prod", "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 0, result.err
    assert_pipeline_resources(aws, load_config("prod"))


def test_fresh_deploy_creates_the_pipeline_in_both_regions(deployed, aws):
    out = deployed.out
    assert out.index("tap-dev-us-west-2: create instances SUCCEEDED") < out.index(
        "tap-dev-us-east-1: create instances SUCCEEDED"), "secondaries deploy first"
    assert_pipeline_resources(aws, CFG)
    for region in REGIONS:
        assert [(o["Action"], o["Status"]) for o in stack_set_operations(aws, region)] == [
            (action, "SUCCEEDED") for action in first_operations(region)]
        table = aws.client("dynamodb", region_name=region).describe_table(TableName=naming.table(CFG))["Table"]
        assert table["DeletionProtectionEnabled"] is True, f"the replica in {region} is protected once created"
    assert out.index("tap-dev-us-east-1: create instances SUCCEEDED") < out.index(
        "tap-dev-us-east-1: turn on the records table's deletion protection SUCCEEDED")
    assert "created without deletion protection (a failed create can then be rolled back)" in out
    cf = aws.client("cloudformation", region_name=CFG.primary_region)
    parameters = cf.describe_stack_set(StackSetName=naming.stack_set(CFG, CFG.primary_region))["StackSet"]["Parameters"]
    assert {"ParameterKey": "TableDeletionProtection", "ParameterValue": "true"} in parameters
    summary = out[out.index("StackSet "):]
    assert "tap-dev-us-east-1  us-east-1  123456789012  CURRENT  SUCCEEDED" in summary
    assert f"TableName                      {naming.table(CFG)}" in summary


def test_a_second_deploy_changes_nothing_and_says_so(deployed, aws, cli, code_zip):
    result = cli("--env", "dev", "--code-zip", str(code_zip[0]))  # nothing to confirm: no --yes needed
    assert result.code == 0, result.err
    assert "nothing to deploy: every StackSet and instance is up to date" in result.out
    assert "artifacts us-" not in result.out, "nothing to deploy, nothing uploaded"
    for region in REGIONS:
        assert len(stack_set_operations(aws, region)) == len(first_operations(region)), "no new operation ran"


def test_a_config_change_becomes_an_update_of_every_instance(deployed, aws, cli, code_zip, tmp_path):
    result = cli("--env", "dev", "--config", str(with_memory(tmp_path, 2048)), "--code-zip", str(code_zip[0]),
                 "--yes")
    assert result.code == 0, result.err
    assert "update StackSet and its 1 instance(s): template" in result.out
    for region in REGIONS:
        assert [o["Action"] for o in stack_set_operations(aws, region)] == [*first_operations(region), "UPDATE"]
        fn = aws.client("lambda", region_name=region).get_function(FunctionName=naming.function(CFG))
        assert fn["Configuration"]["MemorySize"] == 2048


def test_a_deploy_keeps_an_instance_override_made_by_failover(deployed, aws, cli, code_zip, tmp_path):
    secondary = CFG.secondary_regions[0]
    stacksets.set_overrides(CFG, connect(secondary), secondary, [ACCOUNT], {"ProcessingEnabled": "true"},
                         lambda progress: None)
    result = cli("--env", "dev", "--config", str(with_memory(tmp_path, 1536)), "--code-zip", str(code_zip[0]),
                 "--yes")
    assert result.code == 0, result.err
    assert f"keeps the overrides of {ACCOUNT}: ProcessingEnabled=true" in result.out
    cf = aws.client("cloudformation", region_name=secondary)
    instance = cf.describe_stack_instance(StackSetName=naming.stack_set(CFG, secondary), StackInstanceAccount=ACCOUNT,
                                          StackInstanceRegion=secondary)["StackInstance"]
    assert instance["ParameterOverrides"] == [{"ParameterKey": "ProcessingEnabled", "ParameterValue": "true"}]
    stack = instance_stack(aws, naming.stack_set(CFG, secondary), secondary)
    assert stack_parameters(stack)["ProcessingEnabled"] == "true"
    awslambda = aws.client("lambda", region_name=secondary)
    assert awslambda.get_function(FunctionName=naming.function(CFG))["Configuration"]["MemorySize"] == 1536
    assert event_source_states(aws, CFG, secondary) == ["Enabled"], "the promoted secondary keeps consuming"


def test_instances_use_the_uploaded_zip_and_template(deployed, aws, code_zip):
    zip_path, zip_sha = code_zip
    manifest = {e["region"]: e for e in json.loads(render(CFG).manifest)["templates"]}
    for region in REGIONS:
        s3 = aws.client("s3", region_name=region)
        params = stack_parameters(instance_stack(aws, naming.stack_set(CFG, region), region))
        assert params["CodeBucket"] == resolved(naming.artifacts_bucket(CFG, region))
        assert params["CodeKey"] == f"code/{zip_sha}.zip"
        stored = s3.get_object(Bucket=params["CodeBucket"], Key=params["CodeKey"])["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == zip_sha == hashlib.sha256(zip_path.read_bytes()).hexdigest()
        fn = aws.client("lambda", region_name=region).get_function(FunctionName=naming.function(CFG))
        assert fn["Configuration"]["CodeSha256"] == base64.b64encode(hashlib.sha256(stored).digest()).decode()
        body = aws.client("cloudformation", region_name=region).describe_stack_set(
            StackSetName=naming.stack_set(CFG, region))["StackSet"]["TemplateBody"]
        template_sha = manifest[region]["sha256"]
        uploaded = s3.get_object(Bucket=params["CodeBucket"], Key=f"templates/{template_sha}.json")["Body"].read()
        assert hashlib.sha256(body.encode()).hexdigest() == hashlib.sha256(uploaded).hexdigest() == template_sha


def test_the_artifacts_bucket_is_locked_down(deployed, aws):
    for region in REGIONS:
        s3, bucket = aws.client("s3", region_name=region), resolved(naming.artifacts_bucket(CFG, region))
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        deny = next(s for s in statements if s["Sid"] == "DenyInsecureTransport")
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dry_run_shows_the_diff_and_touches_nothing(deployed, aws, cli, code_zip, tmp_path):
    before = {r: aws.client("cloudformation", region_name=r).describe_stack_set(
        StackSetName=naming.stack_set(CFG, r))["StackSet"]["TemplateBody"] for r in REGIONS}
    result = cli("--env", "dev", "--config", str(with_memory(tmp_path, 2048)), "--code-zip", str(code_zip[0]),
                 "--dry-run")
    assert result.code == 0, result.err
    preview = result.out[result.out.index("change preview"):]
    for region in REGIONS:
        section = preview[preview.index(f"dev {region} (tap-dev-{region})"):]
        assert "~ ProcessorFunction" in section and "MemorySize: 1024 -> 2048" in section
        # a new configuration publishes a new version (its description is create-only): the alias moves to it
        assert "! ProcessorVersion" in section and "REPLACED: Description is create-only" in section
    assert "blocked:" not in result.out
    assert result.out.rstrip().endswith("dry run: nothing was changed")
    for region in REGIONS:
        assert len(stack_set_operations(aws, region)) == len(first_operations(region))
        assert aws.client("cloudformation", region_name=region).describe_stack_set(
            StackSetName=naming.stack_set(CFG, region))["StackSet"]["TemplateBody"] == before[region]


def test_dry_run_on_an_empty_account_creates_nothing(aws, cli, code_zip):
    assert cli("roles", "--env", "dev").code == 0
    buckets = aws.client("s3").list_buckets()["Buckets"]
    result = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--dry-run")
    assert result.code == 0, result.err
    assert "tap-dev-us-west-2 (us-west-2): create StackSet" in result.out
    resources = next(t.resources for t in render(CFG).templates if t.region == "us-east-1")
    assert f"dev us-east-1 (tap-dev-us-east-1): new StackSet: {resources} to add" in result.out
    assert aws.client("s3").list_buckets()["Buckets"] == buckets
    assert aws.client("cloudformation", region_name="us-east-1").list_stack_sets()["Summaries"] == []


def test_a_failing_instance_is_reported_with_its_reason_and_stops_the_deploy(aws, cli, code_zip):
    """A name taken by something that is not data the deploy knows to look for (a log group, not retained):
    the StackSet operation itself fails, and the deploy says why and stops."""
    assert cli("roles", "--env", "dev").code == 0
    secondary = CFG.secondary_regions[0]
    logs = aws.client("logs", region_name=secondary)
    logs.create_log_group(logGroupName=naming.function_log_group(CFG))
    result = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 1
    assert f"tap-dev-{secondary}: create instances FAILED" in result.err
    assert f"{ACCOUNT} {secondary} FAILED: 400: The specified log group already exists" in result.err
    assert "Traceback" not in result.err
    primary = aws.client("cloudformation", region_name=CFG.primary_region)
    with pytest.raises(ClientError, match="StackSetNotFound"):
        primary.describe_stack_set(StackSetName=naming.stack_set(CFG, CFG.primary_region))

    logs.delete_log_group(logGroupName=naming.function_log_group(CFG))
    # The rollback of the failed first create deleted what it had created, RetainExceptOnCreate buckets included
    # (the emulator does as CloudFormation does): the retry finds no name taken.
    names = {b["Name"] for b in aws.client("s3", region_name=secondary).list_buckets()["Buckets"]}
    assert resolved(naming.ingest_bucket(CFG, secondary)) not in names
    retry = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes")
    assert retry.code == 0, retry.err
    assert f"retry instance(s) not current in {ACCOUNT}" in retry.out
    assert_pipeline_resources(aws, CFG)


def test_missing_stackset_roles_are_one_line_pointing_at_the_roles_template(aws, cli, code_zip):
    result = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 2
    line = one_line(result)
    assert "tap-dev-stackset-administration not found" in line and "build/dev/stackset-roles.json" in line
    assert "python scripts/deploy.py roles --env dev" in line


def test_destroy_removes_the_stacksets_and_lists_what_it_kept(deployed, aws, cli):
    refused = cli("destroy", "--env", "dev")
    assert refused.code == 2 and "pass --yes" in one_line(refused)
    result = cli("destroy", "--env", "dev", "--yes")
    assert result.code == 0, result.err
    assert result.out.index("tap-dev-us-east-1: deleted") < result.out.index("tap-dev-us-west-2: deleted")
    for region in REGIONS:
        cf = aws.client("cloudformation", region_name=region)
        with pytest.raises(ClientError, match="StackSetNotFound"):
            cf.describe_stack_set(StackSetName=naming.stack_set(CFG, region))
        with pytest.raises(ClientError, match="ResourceNotFound"):
            aws.client("lambda", region_name=region).get_function(FunctionName=naming.function(CFG))
        ingest = resolved(naming.ingest_bucket(CFG, region))
        aws.client("s3", region_name=region).head_bucket(Bucket=ingest)  # retained, with its data
        assert f"{region}  {ACCOUNT}  AWS::S3::Bucket  {ingest}" in result.out
        key_id = result.out.split(f"{region}  {ACCOUNT}  AWS::KMS::Key  ")[1].split()[0]
        key = aws.client("kms", region_name=region).describe_key(KeyId=key_id)["KeyMetadata"]
        assert key["Enabled"], "the retained key still decrypts the retained data"
        aws.client("dynamodb", region_name=region).describe_table(TableName=naming.table(CFG))
    assert f"us-east-1  {ACCOUNT}  AWS::DynamoDB::GlobalTable  {naming.table(CFG)}" in result.out
    assert result.out.rstrip().endswith("delete them and their data with `python scripts/deploy.py purge --env dev`, "
                                        "or see the README, 'Coming back after destroy', to keep the data")
