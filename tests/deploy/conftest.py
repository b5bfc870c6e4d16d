"""Fixtures for the deploy tests: a deterministic handler zip, the emulator in-process and as a server, and
ways to run ``scripts/deploy.py`` (in-process inside ``mock_aws``, or as a subprocess against the server).

The emulator is moto with ``tap_templates.local.patches.patch_moto`` applied: the same fixes the local simulation
uses. Nothing of the project is mocked: the deploy code makes its real AWS calls, answered by moto.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tap_templates.commands import deploy as deploy_command
from tap_templates.local.patches import patch_moto
from tests.deploy.helpers import (
    AWS_LOOKUPS,
    CREDENTIALS,
    ROOT,
    Result,
    build_test_zip,
    free_port,
    subprocess_env,
)


@pytest.fixture(scope="session")
def code_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_test_zip(tmp_path_factory.mktemp("code") / "handler.zip")


@pytest.fixture(scope="session", autouse=True)
def patched_emulator() -> None:
    patch_moto()


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in AWS_LOOKUPS:
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return CREDENTIALS


@pytest.fixture
def aws(credentials: dict[str, str]) -> Iterator[boto3.Session]:
    """In-process emulator: every boto3 call inside the test, the deploy code's included, goes to moto."""
    with mock_aws():
        yield boto3.Session()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``scripts/deploy.py`` in this process (so inside ``mock_aws``), as ``python scripts/deploy.py`` would."""
    def run(*args: str) -> Result:
        capsys.readouterr()
        code = deploy_command.run(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)
    return run


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m tap_templates.local.server`` (moto_server with the emulator's fixes) on a free local port."""
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    command = [sys.executable, "-m", "tap_templates.local.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=subprocess_env())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the emulator did not start: see {log.name}")
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
def server(emulator_server: str, credentials: dict[str, str]) -> Iterator[str]:
    """The server, emptied before each test."""
    request = urllib.request.Request(f"{emulator_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10)
    yield emulator_server




@pytest.fixture
def recorded(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every call of every boto3 session created during the test (the deploy creates one per command),
    recorded as tests/support/calls.py describes; ``.calls`` lists them in order."""
    from tests.support.calls import Recorder

    recorders: list[Recorder] = []
    original = boto3.Session.__init__

    def init(self: boto3.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        recorders.append(Recorder(self))

    monkeypatch.setattr(boto3.Session, "__init__", init)

    class AllCalls:
        @property
        def calls(self) -> list:
            return [c for r in recorders for c in r.calls]

    return AllCalls()


@pytest.fixture
def organization(aws: boto3.Session) -> tuple[str, list[str]]:
    """An organization with one OU holding two member accounts; returns (ou, accounts)."""
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    child = org.create_organizational_unit(ParentId=ou, Name="team")["OrganizationalUnit"]["Id"]
    accounts = []
    for name, parent in (("a", ou), ("b", child)):
        account = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
        accounts.append(account)
    return ou, sorted(accounts)



def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """moto warns once per resource of a type its CloudFormation skips; those types are checked in
    tests/local/test_skipped.py, so the warnings are noise here (only here: other suites keep them)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"))
