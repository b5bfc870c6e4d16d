"""render.py: files, manifest, determinism, --check, and one-line errors for bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tap_templates import regions
from tap_templates.config import load_config
from tap_templates.render import differences, render, write
from tests.support.rendered import SHIPPED_ENVS, rendering

ROOT = Path(__file__).resolve().parent.parent
RENDER = [sys.executable, str(ROOT / "scripts" / "render.py")]


def run_render(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RENDER, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_committed_build_matches_the_code(env):
    assert differences(rendering(env), ROOT / "build") == [], "run python scripts/render.py --all and commit"


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_rendering_is_byte_identical_across_runs(env):
    first, second = render(load_config(env)), render(load_config(env))
    assert first.files() == second.files()
    for body in first.files().values():
        assert body.endswith(b"\n")
        text = body.decode()
        assert json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text


def test_cli_writes_one_template_per_region_and_a_manifest(tmp_path):
    result = run_render("--env", "dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    cfg = load_config("dev")
    written = sorted(p.name for p in (tmp_path / "dev").iterdir())
    assert written == sorted([*(f"{r}.json" for r in cfg.regions), "manifest.json", "stackset-roles.json",
                              "deployer-policy.json"])
    for region in cfg.regions:
        assert region in result.stdout and regions.role(cfg, region) in result.stdout


def test_manifest_describes_each_template(tmp_path):
    rendered = rendering("dev")
    target = write(rendered, tmp_path)
    manifest = json.loads((target / "manifest.json").read_text())
    cfg = load_config("dev")
    assert manifest["deploy_order"] == [*cfg.secondary_regions, cfg.primary_region]
    assert [t["region"] for t in manifest["templates"]] == manifest["deploy_order"]
    for entry in manifest["templates"]:
        body = (target / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
        assert entry["role"] == regions.role(cfg, entry["region"])
        params = json.loads(body)["Parameters"]
        assert entry["required_parameters"] == sorted(k for k, v in params.items() if "Default" not in v)
        assert set(entry["required_parameters"]) == {"CodeBucket", "CodeKey"}
        expected_enabled = "true" if entry["role"] == "primary" else "false"
        assert entry["parameters"]["ProcessingEnabled"]["Default"] == expected_enabled


def test_check_flags_a_stale_or_extra_file(tmp_path):
    assert run_render("--env", "dev", "--out", str(tmp_path)).returncode == 0
    assert run_render("--env", "dev", "--out", str(tmp_path), "--check").returncode == 0
    (tmp_path / "dev" / "us-west-2.json").write_text("{}\n")
    (tmp_path / "dev" / "eu-west-1.json").write_text("{}\n")
    result = run_render("--env", "dev", "--out", str(tmp_path), "--check")
    assert result.returncode == 1
    assert "us-west-2.json" in result.stderr and "eu-west-1.json (no longer rendered)" in result.stderr


def test_more_than_one_secondary_region(tmp_path):
    config = tmp_path / "multi.toml"
    config.write_text((ROOT / "config" / "dev.toml").read_text().replace(
        'secondary_regions = ["us-west-2"]', 'secondary_regions = ["us-west-2", "eu-west-1"]'))
    result = run_render("--env", "dev", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "dev" / "manifest.json").read_text())
    assert manifest["deploy_order"] == ["us-west-2", "eu-west-1", "us-east-1"]
    primary = json.loads((tmp_path / "out" / "dev" / "us-east-1.json").read_text())
    rules = primary["Resources"]["IngestBucket"]["Properties"]["ReplicationConfiguration"]["Rules"]
    assert [r["Id"] for r in rules] == ["to-us-west-2", "to-eu-west-1"]
    replicas = primary["Resources"]["RecordsTable"]["Properties"]["Replicas"]
    assert [r["Region"] for r in replicas] == ["us-east-1", "us-west-2", "eu-west-1"]


BAD_CONFIGS = {
    "unknown region": ('primary_region = "us-east-1"', 'primary_region = "us-middle-1"', "unknown region"),
    "secondary equals primary": ('secondary_regions = ["us-west-2"]', 'secondary_regions = ["us-east-1"]',
                                 "contains the primary region"),
    "negative retention": ("object_expiry_days = 365", "object_expiry_days = -5", "object_expiry_days"),
    "bad log retention": ("log_days = 365", "log_days = 15", "retention.log_days 15"),
    "unknown key": ("[alarms]", "[alarms]\nemial = 'x@example.com'", "unknown key(s) emial"),
    "wrong type": ("memory_mb = 1024", 'memory_mb = "big"', "memory_mb must be an integer, got 'big'"),
    "unknown top-level key": ('project = "tap"', 'project = "tap"\nretenton = 3', "and the sections [processor]"),
    "missing tag": ('CostCenter = "data-platform-dev"', "", "missing CostCenter"),
    "not toml": ("[tags]", "[tags", "not valid TOML"),
    "long project": ('project = "tap"', 'project = "a-very-long-project-name-indeed"', "would be"),
    "pseudonymized key": ("[tags]", '[pseudonymization]\nfields = { sensor = ["id"] }\n\n[tags]',
                          "would change the record's table key"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_one_line_and_exit_2(tmp_path, case):
    old, new, expected = BAD_CONFIGS[case]
    text = (ROOT / "config" / "dev.toml").read_text()
    assert old in text
    config = tmp_path / "bad.toml"
    config.write_text(text.replace(old, new, 1))
    result = run_render("--env", "dev", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["--env", "Dev_1"], "environment name 'Dev_1' is not valid"),
    (["--env", "staging"], "no config file"),
    (["--bogus"], "unrecognized arguments"),
    (["--all", "--env", "dev"], "exclude each other"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, expected):
    result = run_render(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert result.stdout == ""
