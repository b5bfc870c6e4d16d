"""Deploy options beyond the default path: the packaged zip, service-managed StackSets targeting OUs, and the
checks made before anything is sent (operation preferences, the manifest)."""

from __future__ import annotations

import dataclasses

import pytest

from tap_templates.config import load_config
from tap_templates.deploy import manifest, packaging, targets
from tap_templates.errors import ConfigError
from tap_templates.render import render
from tests.deploy.helpers import REGIONS, ROOT, instance_stack, one_line, stack_parameters

CFG = load_config("dev")
OU = "ou-abcd-12345678"


def config_with(tmp_path, extra: str):
    config = tmp_path / "dev.toml"
    config.write_text((ROOT / "config" / "dev.toml").read_text() + "\n" + extra)
    return config


def test_the_packaged_zip_is_built_and_deployed_by_default(aws, cli, tmp_path):
    _, expected_sha = packaging.build_zip(tmp_path)
    assert cli("roles", "--env", "dev").code == 0
    result = cli("--env", "dev", "--yes")
    assert result.code == 0, result.err
    for region in REGIONS:
        stack = instance_stack(aws, f"tap-dev-{region}", region)
        assert stack_parameters(stack)["CodeKey"] == f"code/{expected_sha}.zip"


def test_service_managed_targets_organizational_units(aws, cli, code_zip, tmp_path, organization):
    ou, _ = organization
    config = config_with(tmp_path, f'[stacksets]\npermission_model = "SERVICE_MANAGED"\n'
                                   f'organizational_units = ["{ou}"]\n')
    result = cli("--env", "dev", "--config", str(config), "--code-zip", str(code_zip[0]), "--dry-run")
    assert result.code == 0, result.err
    assert f"targets: {ou}" in result.out
    for region in REGIONS:
        assert f"tap-dev-{region} ({region}): create instances in OU(s) {ou}" in result.out
    unknown = cli("--env", "dev", "--config", str(config), "--organizational-units", OU, "--dry-run")
    assert unknown.code == 2 and f"organizational unit {OU} is not in the organization" in one_line(unknown)

    refused = cli("--env", "dev", "--config", str(config), "--accounts", "123456789012", "--dry-run")
    assert refused.code == 2 and "--accounts applies to SELF_MANAGED" in one_line(refused)
    bad_ou = cli("--env", "dev", "--config", str(config), "--organizational-units", "ou-x", "--dry-run")
    assert bad_ou.code == 2 and "'ou-x' is not an OU or root ID" in one_line(bad_ou)


def test_operation_preferences_stacksets_would_reject_are_one_line(aws, cli, code_zip, tmp_path):
    config = config_with(tmp_path, "[stacksets]\nmax_concurrent_count = 3\nfailure_tolerance_count = 0\n")
    assert cli("roles", "--env", "dev").code == 0
    result = cli("--env", "dev", "--config", str(config), "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 2
    assert "stacksets.max_concurrent_count (3) may be at most failure_tolerance_count + 1" in one_line(result)


def test_operation_preferences_come_from_the_config():
    preferences = targets.operation_preferences(CFG, "us-west-2")
    assert preferences == {"RegionConcurrencyType": "SEQUENTIAL", "RegionOrder": ["us-west-2"],
                           "FailureToleranceCount": 0, "MaxConcurrentCount": 1}


def test_a_manifest_that_does_not_match_its_templates_is_refused():
    rendering = render(CFG)
    tampered = dataclasses.replace(rendering, manifest=rendering.manifest.replace(
        rendering.templates[0].sha256.encode(), b"0" * 64))
    with pytest.raises(ConfigError, match="does not match the rendered template"):
        manifest.check_manifest(CFG, tampered)
    assert manifest.check_manifest(CFG, rendering, ROOT / "build") == [], "build/ is current"
