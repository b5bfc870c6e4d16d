"""Fixtures for the operations tools: a deployed pipeline in the emulator (``tap_templates.local.pipeline``, which
deploys with the deploy code and applies what moto skips), the tools' own boto3 session on it with a switch
that makes regions unreachable, and the emulator server of the deploy tests for the scripts run as a user
runs them. Nothing of the project is mocked: the tools make their real AWS calls, answered by moto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tap_templates.config import load_config
from tap_templates.local import pipeline as local_pipeline
from tap_templates.operations import environment
from tests.deploy.conftest import credentials, emulator_server, patched_emulator, server  # noqa: F401 (fixtures)
from tests.operations.helpers import Outage

CFG = load_config("dev")


@pytest.fixture
def pipeline() -> Iterator[local_pipeline.LocalPipeline]:
    """dev deployed to both regions in the in-process emulator; the data ends with the test."""
    with local_pipeline.start(CFG) as local:
        yield local


@pytest.fixture
def outage(pipeline: local_pipeline.LocalPipeline) -> Outage:
    """The session the tools use, and the regions it cannot reach (none until a test says so)."""
    return Outage(boto3.Session())


@pytest.fixture
def env(outage: Outage) -> environment.Environment:
    """The environment as the tools see it, through ``outage``'s session (so a test can take a region down)."""
    return environment.from_session(CFG, outage.session)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """moto warns once per resource type its CloudFormation skips (checked in tests/deploy): noise here."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore:No Moto CloudFormation support:UserWarning"))
