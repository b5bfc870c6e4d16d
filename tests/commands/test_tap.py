"""``tap``, the installed command, run as a user runs it: from another directory, in a fresh process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.helpers import subprocess_env

TAP = shutil.which("tap", path=str(Path(sys.executable).parent)) or shutil.which("tap")


def run_tap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, importing this checkout's code (``PYTHONPATH``: the editable install
    may point at another checkout of the project)."""
    assert TAP, "the tap console script is installed by pip install -e '.[dev]'"
    return subprocess.run([TAP, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=subprocess_env())


def complete(script: str, *words: str, cwd: Path) -> list[str]:
    """What bash offers after ``words`` (the last one being typed) with the completion script loaded."""
    line = " ".join(f"'{w}'" for w in words)
    program = f'{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _tap; printf "%s\\n" "${{COMPREPLY[@]}}"'
    done = subprocess.run(["bash", "-c", program], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


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


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash completes; the script is for bash and zsh")
def test_shell_completion_offers_commands_subcommands_options_and_environments(tmp_path):
    result = run_tap("completion", "bash", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    script = result.stdout
    assert script.rstrip().endswith("complete -F _tap tap")
    assert complete(script, "tap", "re", cwd=tmp_path) == ["render", "reconcile", "redrive", "reindex"]
    assert complete(script, "tap", "query", "d", cwd=tmp_path) == ["data-type"]
    assert complete(script, "tap", "deploy", "p", cwd=tmp_path) == ["purge"]
    assert complete(script, "tap", "failover", "pro", cwd=tmp_path) == ["promote"]
    assert complete(script, "tap", "simulate", "--ou", cwd=tmp_path) == ["--output"]
    assert complete(script, "tap", "redrive", "--y", cwd=tmp_path) == ["--yes"]
    assert complete(script, "tap", "deploy", "--env", "", cwd=tmp_path) == ["dev", "prod"]
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "team.toml").write_text("")
    assert complete(script, "tap", "deploy", "--env", "", cwd=tmp_path) == ["dev", "prod", "team"], \
        "the working directory's own environments too"
    (tmp_path / "runs").mkdir()
    assert complete(script, "tap", "simulate", "--output", "ru", cwd=tmp_path) == ["runs"], "file names"

    zsh = run_tap("completion", "zsh", cwd=tmp_path)
    assert zsh.returncode == 0 and zsh.stdout.startswith("autoload -U +X bashcompinit && bashcompinit\n")


def test_completion_for_an_unknown_shell_is_one_line(tmp_path):
    result = run_tap("completion", "fish", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "invalid choice: 'fish' (choose from 'bash', 'zsh')" in result.stderr

