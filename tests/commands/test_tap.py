"""``tap``, the installed command, run as a user runs it: from another directory, in a fresh process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TAP = shutil.which("tap", path=str(Path(sys.executable).parent)) or shutil.which("tap")


def run_tap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert TAP, "the tap console script is installed by pip install -e '.[dev]'"
    return subprocess.run([TAP, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_version_names_the_installed_package(tmp_path):
    result = run_tap("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("tap ") and result.stderr == ""
    assert "unknown" not in result.stdout


def test_render_works_from_any_directory(tmp_path):
    result = run_tap("render", "--env", "dev", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "dev" / "manifest.json").read_text())
    assert manifest["environment"] == "dev" and len(manifest["templates"]) == 2


@pytest.mark.parametrize(("args", "expected"), [
    (["bogus"], "unknown command 'bogus'"),
    (["render", "--bogus"], "tap render: error: unrecognized arguments: --bogus"),
    (["deploy", "--env", "Dev_1"], "tap deploy: error: environment name 'Dev_1' is not valid"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    result = run_tap(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


def test_no_command_prints_the_commands_and_exits_2(tmp_path):
    result = run_tap(cwd=tmp_path)
    assert result.returncode == 2 and "commands:" in result.stderr and "render" in result.stderr
