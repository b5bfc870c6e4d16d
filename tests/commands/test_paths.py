"""Paths and environments a user names, run as a user runs the commands (a fresh process, from another
directory): a folder that cannot be created, a log or output file that cannot be written, are one line and
exit 2 before any work; ``config/<env>.toml`` in the working directory comes before the shipped file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.helpers import ROOT, subprocess_env

UNCREATABLE = Path("/proc/tap-no-such-folder")  # /proc accepts no new entries, even from root


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=subprocess_env())


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("script", ["render.py", "package.py"])
@pytest.mark.parametrize("where", ["under-a-file", "uncreatable", "a-file"])
def test_an_out_folder_that_cannot_be_made_is_one_line(tmp_path, a_file, script, where):
    out = {"under-a-file": a_file / "sub", "uncreatable": UNCREATABLE / "out", "a-file": a_file}[where]
    result = run(script, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"{script}: error: --out {out}")
    assert ("exists and is not a folder" if where == "a-file" else "cannot create or write the folder") in line
    assert result.stdout == ""


def test_package_cache_that_cannot_be_made_is_one_line(tmp_path, a_file):
    result = run("package.py", "--out", str(tmp_path / "dist"), "--cache", str(a_file / "wheels"), cwd=tmp_path)
    assert result.returncode == 2 and "--cache" in one_line(result)


@pytest.mark.parametrize(("option", "where", "expected"), [
    ("--log", "missing-folder", "the folder"),
    ("--log", "a-folder", "is a folder: name a file"),
    ("--log", "uncreatable", "cannot write it"),
    ("--output", "missing-folder", "the folder"),
    ("--output", "a-folder", "is a folder: name a file"),
    ("--output", "wrong-suffix", "name a .jsonl (JSON Lines) or .html file"),
    ("--output", "uncreatable", "cannot write it"),
])
def test_simulate_checks_its_files_before_it_deploys(tmp_path, option, where, expected):
    """Each answers in well under the seconds a deploy to the emulator takes, and before it: nothing printed."""
    suffix = ".log" if option == "--log" else ".html"
    path = {"missing-folder": tmp_path / "nope" / f"x{suffix}", "a-folder": tmp_path,
            "wrong-suffix": tmp_path / "run.csv", "uncreatable": Path("/proc") / f"x{suffix}"}[where]
    result = run("simulate.py", str(ROOT / "samples" / "events-lobby.json"), option, str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert expected in one_line(result) and option in one_line(result)
    assert result.stdout == "", "nothing was deployed"
    assert not (tmp_path / "run.csv").exists()


def test_own_config_in_the_working_directory_comes_before_the_shipped_one(tmp_path):
    own = tmp_path / "config"
    own.mkdir()
    text = (ROOT / "config" / "dev.toml").read_text()
    assert 'project = "tap"' in text
    (own / "dev.toml").write_text(text.replace('project = "tap"', 'project = "mine"'))
    (own / "team.toml").write_text(text)
    result = run("render.py", "--env", "dev", "--env", "team", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dev = json.loads((tmp_path / "out" / "dev" / "manifest.json").read_text())
    assert {t["stack_set_name"] for t in dev["templates"]} == {"mine-dev-us-east-1", "mine-dev-us-west-2"}
    team = json.loads((tmp_path / "out" / "team" / "manifest.json").read_text())
    assert team["environment"] == "team"

    everything = run("render.py", "--all", "--out", "all", cwd=tmp_path)
    assert everything.returncode == 0, everything.stderr
    assert sorted(os.listdir(tmp_path / "all")) == ["dev", "prod", "team"], "own and shipped environments"


@pytest.mark.parametrize(("args", "expected"), [
    (["--env", "staging"], "no config file config/staging.toml in "),
    (["--env", "staging"], "pass --config FILE, or pick one of dev, prod"),
    (["--env", "dev", "--config", "missing.toml"], "no config file missing.toml"),
    (["--env", "dev", "--config", "."], "no config file . (it is a folder)"),
])
def test_an_environment_that_is_nowhere_is_one_line(tmp_path, args, expected):
    result = run("render.py", *args, cwd=tmp_path)
    assert result.returncode == 2 and expected in one_line(result)
