"""AWS Control Tower's proactive controls on every rendered template of every shipped environment.

In an organization governed by Control Tower, enabled proactive controls run as CloudFormation hooks: a
resource that breaks one fails its stack operation. The rules and a static ``cfn-guard`` binary come pinned in
the npm package ``@cdklabs/cdk-validator-cfnguard`` (``package.json``, installed by ``.ci/run`` with npm ci).
Every control passes except those in ``EXCEPTIONS``, each on named resources, with the AWS limitation behind
it and what an organization enforcing the control should do instead (``docs/security.md``).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.rendered import SHIPPED_ENVS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "node_modules" / "@cdklabs" / "cdk-validator-cfnguard"
RULES = PACKAGE / "rules" / "control-tower" / "cfn-guard"

# (control, rule) -> (resources allowed to break it, the reason): at most two, each documented.
EXCEPTIONS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("CT.S3.PR.10", "s3_bucket_default_encryption_kms_check"): (
        ("AccessLogBucket",),
        "S3 server access logs can only be delivered to a bucket encrypted with SSE-S3"),
    ("CT.S3.PR.9", "s3_bucket_object_lock_enabled_check"): (
        ("AccessLogBucket",),
        "S3 buckets with S3 Object Lock can't be used as destination buckets for server access logs"),
}


def guard() -> Path:
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[platform.machine().lower()]
    binary = PACKAGE / "bin" / "ubuntu" / arch / "cfn-guard"
    if not binary.is_file():
        message = f"{binary} is missing: run npm ci at the repository root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def findings(files: list[Path]) -> list[tuple[str, str, str]]:
    """(file, rule, resource) for every resource a control rule finds non-compliant."""
    args = [str(guard()), "validate", "-r", str(RULES), "-o", "json", "-S", "none", "-z"]
    for f in files:
        args += ["-d", str(f)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 19), done.stderr  # 19: some rule failed
    found = []
    for report in json.loads(done.stdout):
        for failure in report["not_compliant"]:
            resources = set(re.findall(r'"path": "/Resources/([^/"]+)', json.dumps(failure))) or {"?"}
            found += [(Path(report["name"]).name, failure["Rule"]["name"], r) for r in sorted(resources)]
    return found


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_control_tower_proactive_controls_pass(env):
    files = sorted((ROOT / "build" / env).glob("*.json"))
    files = [f for f in files if f.name != "manifest.json"]
    assert len(files) >= 3
    unexpected = []
    for file, rule, resource in findings(files):
        allowed = next((ids for (_, name), (ids, _) in EXCEPTIONS.items() if name == rule), ())
        if resource not in allowed:
            unexpected.append(f"{file}: {rule} on {resource}")
    assert unexpected == []


def test_the_rules_find_what_they_should():
    """The check can fail: a bucket without logging and a NACL open to RDP from anywhere are reported."""
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
        "Plain": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "Acl": {"Type": "AWS::EC2::NetworkAclEntry", "Properties": {
            "NetworkAclId": "acl-1", "RuleNumber": 100, "Egress": False, "Protocol": 6, "RuleAction": "allow",
            "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 1024, "To": 65535}}}}}
    path = ROOT / ".tmp" / "ct-probe.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(template))
    rules = {rule for _, rule, _ in findings([path])}
    assert {"s3_bucket_logging_enabled_check", "nacl_no_unrestricted_ssh_rdp_check"} <= rules


def test_exceptions_are_at_most_two_and_documented():
    doc = (ROOT / "docs" / "security.md").read_text()
    assert len(EXCEPTIONS) <= 2
    for (control, _), (resources, reason) in EXCEPTIONS.items():
        assert control in doc and reason in doc
        assert all(r in doc for r in resources)
