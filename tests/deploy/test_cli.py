"""Bad input to scripts/deploy.py, run as a user runs it: one line on stderr, exit 2, no traceback, and
nothing sent to AWS before the input is known to be good."""

from __future__ import annotations

import pytest

from tests.deploy.helpers import one_line, run_script, subprocess_env

NO_CREDENTIALS = subprocess_env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None)
# An address nothing listens on: a call that got past validation would fail differently ("cannot reach").
NOWHERE = ("--endpoint-url", "http://127.0.0.1:9")


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["--env", "dev", *NOWHERE], NO_CREDENTIALS, "no AWS credentials found"),
    (["--env", "staging", *NOWHERE], None, "no config file"),
    (["--env", "dev", "--accounts", "12345", *NOWHERE], None, "account ID '12345' is not 12 digits"),
    (["--env", "dev", "--accounts", "123456789012", "abcdefghijkl", *NOWHERE], None,
     "account ID 'abcdefghijkl' is not 12 digits"),
    (["destroy", "--env", "Dev_1", *NOWHERE], None, "environment name 'Dev_1' is not valid"),
    (["roles", "--env", "dev", "--administrator-account", "1", *NOWHERE], None, "account ID '1' is not 12 digits"),
    (["--env", "dev", "--endpoint-url", "localhost:5000"], None, "is not an http(s) URL"),
    (["--env", "dev", *NOWHERE], subprocess_env(AWS_MAX_ATTEMPTS="1"), "cannot reach AWS to check the credentials"),
    (["--env", "dev", "--bogus"], None, "unrecognized arguments"),
    (["--code-zip", "x.zip"], None, "the following arguments are required: --env"),
    (["destroy", "--yes"], None, "the following arguments are required: --env"),
    (["roles"], None, "the following arguments are required: --env"),
    (["purge"], None, "the following arguments are required: --env"),
    (["destroy", "--env", "dev", *NOWHERE], None, "destroy tap-dev: no terminal to ask for confirmation on"),
    (["purge", "--env", "dev", *NOWHERE], None, "purge tap-dev: no terminal to ask for confirmation on"),
], ids=["no-credentials", "unknown-env", "short-account", "letters-account", "bad-env-name", "bad-admin-account",
        "bad-endpoint", "unreachable", "unknown-flag", "deploy-without-env", "destroy-without-env", "roles-without-env",
        "purge-without-env", "destroy-without-terminal", "purge-without-terminal"])
def test_bad_input_is_one_line_and_exit_2(args, env, expected):
    result = run_script(*args, env=env)
    assert result.code == 2, result
    assert expected in one_line(result)
    assert result.out == ""


def test_a_missing_code_zip_is_one_line(server, tmp_path):
    assert run_script("roles", "--env", "dev", "--endpoint-url", server).code == 0
    result = run_script("--env", "dev", "--endpoint-url", server, "--code-zip", str(tmp_path / "nope.zip"))
    assert result.code == 2
    assert "--code-zip" in one_line(result) and "does not exist" in one_line(result)


def test_help_lists_the_commands():
    result = run_script("--help", env=subprocess_env())
    assert result.code == 0
    for text in ("deploy.py roles", "deploy.py destroy", "--dry-run", "--code-zip", "--endpoint-url"):
        assert text in result.out


def test_missing_stackset_roles_are_one_line(server, code_zip):
    result = run_script("--env", "dev", "--endpoint-url", server, "--code-zip", str(code_zip[0]), "--yes")
    assert result.code == 2
    line = one_line(result)
    assert "StackSet role tap-dev-stackset-administration not found" in line
    assert "build/dev/stackset-roles.json" in line
