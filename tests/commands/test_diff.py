"""``diff.py`` (``tap diff``) as a user runs it: a fresh process, the preview on stdout or in a file, one-line
errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

from tap_templates.config import load_config
from tap_templates.render import render, write
from tests.deploy.helpers import ROOT, subprocess_env

SCRIPT = ROOT / "scripts" / "diff.py"


def run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True,
                          env=subprocess_env(), timeout=300)


def base_with_a_wider_queue_policy(tmp_path):
    """A base folder whose ingest-queue policy lacks a statement this code has: the code widens access."""
    write(render(load_config("dev")), tmp_path)
    path = tmp_path / "dev" / "us-east-1.json"
    body = json.loads(path.read_text())
    statements = body["Resources"]["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    body["Resources"]["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"] = [
        s for s in statements if s["Effect"] == "Deny"]
    path.write_text(json.dumps(body))
    return tmp_path


def test_markdown_for_a_pull_request_comment(tmp_path):
    base = base_with_a_wider_queue_policy(tmp_path / "base")
    out = tmp_path / "preview.md"
    done = run("--env", "dev", "--against", str(base), "--format", "markdown", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {out}\n"
    text = out.read_text()
    assert "#### Access widened (IAM and network)" in text
    assert "| `IngestQueuePolicy` | policy | allow Service:s3.amazonaws.com may sqs:SendMessage on " in text


def test_text_to_stdout_against_a_git_ref():
    done = run("--env", "dev", "--against", "HEAD")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Change preview: HEAD (")
    assert done.stdout.splitlines()[-1].startswith("total: ")


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    for args, expected in (
        (["--env", "dev"], "one of the arguments --against --deployed is required"),
        (["--env", "dev", "--against", "no-such-ref"], "'no-such-ref' is neither a folder nor a commit"),
        (["--env", "nope", "--against", "HEAD"], "no config file"),
        (["--all", "--env", "dev", "--against", "HEAD"], "--all and --env exclude each other"),
    ):
        done = run(*args)
        assert done.returncode == 2, (args, done.stdout)
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr


def test_all_means_the_working_directory_environments_too(tmp_path, monkeypatch):
    """``--all`` selects what ``render --all`` renders: the shipped environments and the working directory's."""
    from tap_templates.commands import diff
    from tap_templates.commands import render as render_command

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "staging.toml").write_text((ROOT / "config" / "dev.toml").read_text())
    monkeypatch.chdir(tmp_path)
    chosen = diff.parse_args(["--all", "--against", str(tmp_path)]).envs
    assert chosen == ["dev", "prod", "staging"]
    assert render_command.parse_args(["--all"]).envs == chosen
