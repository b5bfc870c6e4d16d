"""``python scripts/deploy.py --endpoint-url`` in its own process against the emulator server over HTTP: the
path a user takes, with nothing shared in-process between the deploy and the emulator."""

from __future__ import annotations

import pytest

from tap_templates import naming
from tap_templates.config import load_config
from tests.deploy.helpers import (
    ACCOUNT,
    REGIONS,
    ROOT,
    assert_pipeline_resources,
    instance_stack,
    resolved,
    run_script,
    server_session,
    stack_parameters,
)

CFG = load_config("dev")
pytestmark = pytest.mark.slow


def test_deploy_noop_and_update_over_http(server, code_zip, tmp_path):
    endpoint = ("--endpoint-url", server)
    zip_path, zip_sha = code_zip
    roles = run_script("roles", "--env", "dev", *endpoint)
    assert roles.code == 0, roles.err
    session = server_session()
    iam = session.client("iam", region_name="us-east-1", endpoint_url=server)
    assert iam.get_role(RoleName=naming.stackset_execution_role(CFG))["Role"]["RoleName"]

    first = run_script("--env", "dev", *endpoint, "--code-zip", str(zip_path), "--yes")
    assert first.code == 0, first.err
    assert_pipeline_resources(session, CFG, endpoint_url=server)
    for region in REGIONS:
        params = stack_parameters(instance_stack(session, naming.stack_set(CFG, region), region, server))
        assert params["CodeKey"] == f"code/{zip_sha}.zip"
        assert params["CodeBucket"] == resolved(naming.artifacts_bucket(CFG, region))

    second = run_script("--env", "dev", *endpoint, "--code-zip", str(zip_path))  # no change: no --yes needed
    assert second.code == 0, second.err
    assert "nothing to deploy: every StackSet and instance is up to date" in second.out

    config = tmp_path / "dev.toml"
    config.write_text((ROOT / "config" / "dev.toml").read_text().replace("memory_mb = 1024", "memory_mb = 3008"))
    third = run_script("--env", "dev", "--config", str(config), *endpoint, "--code-zip", str(zip_path), "--yes")
    assert third.code == 0, third.err
    assert "update StackSet and its 1 instance(s): template" in third.out
    for region in REGIONS:
        cf = session.client("cloudformation", region_name=region, endpoint_url=server)
        operations = cf.list_stack_set_operations(StackSetName=naming.stack_set(CFG, region))["Summaries"]
        # the primary's first deploy also turned its table's deletion protection on (one more update)
        expected = ["CREATE", "UPDATE", "UPDATE"] if region == CFG.primary_region else ["CREATE", "UPDATE"]
        assert [(o["Action"], o["Status"]) for o in operations] == [(action, "SUCCEEDED") for action in expected]
        fn = session.client("lambda", region_name=region, endpoint_url=server).get_function(
            FunctionName=naming.function(CFG))
        assert fn["Configuration"]["MemorySize"] == 3008


def test_failed_instance_over_http_exits_1_with_its_reason(server, code_zip):
    endpoint = ("--endpoint-url", server)
    assert run_script("roles", "--env", "dev", *endpoint).code == 0
    secondary = CFG.secondary_regions[0]
    server_session().client("logs", region_name=secondary, endpoint_url=server).create_log_group(
        logGroupName=naming.function_log_group(CFG))
    result = run_script("--env", "dev", *endpoint, "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 1
    assert result.err.splitlines()[0] == f"tap-dev-{secondary}: create instances FAILED"
    assert f"{ACCOUNT} {secondary} FAILED: 400: The specified log group already exists" in result.err
    assert "Traceback" not in result.err
