"""Fixtures for the end-to-end tests: one pipeline deployed to the in-process emulator for the whole package
(the deploy is the slow part), unique object keys per test, and hooks on the handler's own clients.

Nothing of the project is mocked: ``tap_templates.local.pipeline`` deploys with the deploy code, moto answers
every AWS call, and ``drain`` runs the real ``handlers.processor.handler``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_templates.config import load_config
from tap_templates.local.pipeline import LocalPipeline, start

CFG = load_config("dev")
PRIMARY = CFG.primary_region
SECONDARY = CFG.secondary_regions[0]


@pytest.fixture(scope="package")
def pipeline() -> Iterator[LocalPipeline]:
    with start(CFG) as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def clean(pipeline: LocalPipeline) -> None:
    """Every test starts with empty queues and tables (the objects of earlier tests stay in the buckets)."""
    pipeline.clear()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own, so tests sharing the pipeline never see each other's files."""
    return f"t-{uuid.uuid4().hex[:8]}/"


@pytest.fixture
def no_sdk_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's jittered backoff sleeps up to seconds per retry; the retries still happen, without the wait."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.fixture
def inject(pipeline: LocalPipeline) -> Iterator[Callable[[str, str, str, Any], None]]:
    """``inject(region, service, event, hook)`` registers a botocore hook first on the handler's own client
    (the one the region's container uses), so it answers before moto; removed when the test ends."""
    from handlers import clients

    registered: list[tuple[Any, str, Any]] = []

    def register(region: str, service: str, event: str, hook: Any) -> None:
        pipeline.container(region)
        client = getattr(clients, service)(region)
        client.meta.events.register_first(event, hook)
        registered.append((client, event, hook))

    yield register
    for client, event, hook in registered:
        client.meta.events.unregister(event, hook)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "samples"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """moto warns once per resource type its CloudFormation skips (tests/local/test_skipped.py checks those)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"))
