"""Shared fixtures: a moto account with the pipeline's bucket, DLQ and table, and the real handler.

The table is created from the key schema and GSIs of the rendered template (``build/dev/us-east-1.json``)
by ``tap_templates.local.skipped``, so a template change that breaks the handler fails these tests. Nothing of
the project is mocked: every AWS call goes through real boto3 clients to moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from handlers import clients, settings
from tests.handlers.helpers import (  # sets the environment first
    BUCKET,
    HMAC_KEY,
    PSEUDONYMIZE,
    REGION,
    RENDERED,
    SECRET_ID,
    Pipeline,
    client,
)


@pytest.fixture
def rendered_template() -> dict[str, Any]:
    if not RENDERED.exists():
        pytest.fail(f"{RENDERED} is missing: run `python scripts/render.py` to render the templates")
    return json.loads(RENDERED.read_text())


@pytest.fixture
def pipeline(rendered_template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    from tap_templates.local.skipped import create_table_from_template

    with mock_aws():
        table = create_table_from_template(rendered_template, client("dynamodb"))
        client("s3").create_bucket(Bucket=BUCKET)
        client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dlq_url = client("sqs").create_queue(QueueName="tap-dev-ingest-dlq")["QueueUrl"]
        monkeypatch.setenv("TABLE_NAME", table)
        monkeypatch.setenv("DLQ_URL", dlq_url)
        settings.current.cache_clear()
        try:
            yield Pipeline(table, dlq_url)
        finally:
            settings.current.cache_clear()


@pytest.fixture
def pseudonymized(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """The pipeline with pseudonymization on as the dev template configures it, its key in Secrets Manager."""
    from handlers import pseudonymize

    client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=HMAC_KEY)
    monkeypatch.setenv("PSEUDONYMIZATION_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("PSEUDONYMIZE_FIELDS", json.dumps(PSEUDONYMIZE))
    settings.current.cache_clear()
    pseudonymize.forget_keys()  # the handler keeps keys per container, as a warm Lambda would
    yield pipeline
    pseudonymize.forget_keys()
    settings.current.cache_clear()


@pytest.fixture
def inject() -> Iterator[Any]:
    """``inject(service, event, hook)`` registers a botocore hook first on the handler's own client for
    ``service``, so it answers before moto; every hook is removed when the test ends (the handler's clients
    live as long as the process, as in a warm Lambda container)."""
    registered: list[tuple[Any, str, Any]] = []

    def register(service: str, event: str, hook: Any) -> None:
        handler_client = getattr(clients, service)(REGION)
        handler_client.meta.events.register_first(event, hook)
        registered.append((handler_client, event, hook))

    yield register
    for handler_client, event, hook in registered:
        handler_client.meta.events.unregister(event, hook)


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str]) -> Any:
    """A function returning the sums of the EMF metrics printed so far, by metric name."""

    def read() -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in capsys.readouterr().out.splitlines():
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            doc = json.loads(line)
            for directive in doc["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    values = doc[metric["Name"]]
                    values = values if isinstance(values, list) else [values]
                    totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
        return totals

    return read
