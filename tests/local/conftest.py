"""Fixtures for the emulator's own tests: the deploy tests' in-process emulator (moto with ``patch_moto``
applied) and ``scripts/deploy.py`` run inside it. The end-to-end tests of the local pipeline, which share one
deployed pipeline, live in ``tests/local/pipeline``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.conftest import aws, cli, code_zip, credentials, patched_emulator  # noqa: F401 (fixtures)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """moto warns once per resource of a type its CloudFormation skips; test_skipped.py checks those types, so
    the warnings are noise in this directory's tests."""
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"))
