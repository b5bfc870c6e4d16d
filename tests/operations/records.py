"""A table of records written by the real handler in moto, for the query and reindex tests.

The table is created from the rendered dev template (its key schema and ``TimeIndex``); files of valid and
rejected records go through ``handlers.processor.handler`` with small shard counts, so a few hundred records
cross shards and, with small pages, pages within each shard. The queries run through ``Environment`` on the
same moto account, as the tools do.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers import clients, settings
from tap_templates.config import TableConfig, load_config
from tap_templates.deploy.aws import Aws
from tap_templates.operations.environment import Environment
from tests.handlers.helpers import BUCKET, REGION, RENDERED, Pipeline, client  # sets the handler's environment

ACCOUNT = "123456789012"


@dataclass
class World:
    pipeline: Pipeline
    env: Environment
    lids: list[str] = dataclasses.field(default_factory=list)

    def items(self) -> list[dict[str, Any]]:
        """Every item in DynamoDB's wire format, by a scan (the reference the queries are checked against)."""
        found, request = [], {"TableName": self.pipeline.table}
        while True:
            page = client("dynamodb").scan(**request)
            found += page["Items"]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def records(self, status: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self.items() if "processingStatus" in i
                and (status is None or i["processingStatus"]["S"] == status)]

    def process(self, key: str, lines: list[Any]) -> str:
        """Upload a JSON Lines file, run the handler on it; its ledger ID."""
        body = b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)
        record = self.pipeline.put(key, body)
        assert self.pipeline.run(self.pipeline.event(record)) == {"batchItemFailures": []}
        from handlers.contracts import ledger_id

        lid = ledger_id(key, record["s3"]["object"].get("versionId"), record["s3"]["object"].get("eTag"))
        self.lids.append(lid)
        return lid


def mixed_file(number: int, records: int, rng: random.Random) -> list[Any]:
    """Valid sensor and event records with distinct times (a second apart per file), and some rejected ones."""
    lines: list[Any] = []
    for i in range(records):
        clock = f"{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.{rng.randrange(1000):03d}"
        stamp = f"2024-05-0{1 + number}T{clock}Z"
        kind = rng.random()
        if kind < 0.1:
            lines.append({"id": f"f{number}-r{i}", "dataType": "sensor", "timestamp": stamp, "deviceId": "d",
                          "metric": "m", "value": "not a number"})
        elif kind < 0.12:
            lines.append(b"not json at all")
        elif kind < 0.75:
            lines.append({"id": f"f{number}-r{i}", "dataType": "sensor", "timestamp": stamp, "deviceId": "d",
                          "metric": "temperature", "value": i / 10, "unit": "C"})
        else:
            lines.append({"id": f"f{number}-r{i}", "dataType": "event", "timestamp": stamp, "name": "door"})
    return lines


@contextmanager
def world(monkeypatch: pytest.MonkeyPatch, data_type_shards: int = 4, rejected_shards: int = 3,
          index_data_types: bool = True) -> Iterator[World]:
    """The moto world: table, bucket and DLQ of dev, the handler's settings, the tools' environment."""
    from tap_templates.local.skipped import create_table_from_template

    with mock_aws():
        table = create_table_from_template(json.loads(RENDERED.read_text()), client("dynamodb"))
        client("s3").create_bucket(Bucket=BUCKET)
        client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dlq_url = client("sqs").create_queue(QueueName="tap-dev-ingest-dlq")["QueueUrl"]
        for name, value in (("TABLE_NAME", table), ("DLQ_URL", dlq_url), ("DATA_TYPE_SHARDS", str(data_type_shards)),
                            ("REJECTED_SHARDS", str(rejected_shards)),
                            ("INDEX_DATA_TYPES", "true" if index_data_types else "false")):
            monkeypatch.setenv(name, value)
        settings.current.cache_clear()
        clients.reset()
        cfg = dataclasses.replace(load_config("dev"), table=TableConfig(data_type_shards, rejected_shards,
                                                                        index_data_types))
        env = Environment(cfg, Aws(boto3.Session(region_name=REGION), ACCOUNT, "aws"))
        try:
            yield World(Pipeline(table, dlq_url), env)
        finally:
            settings.current.cache_clear()
            clients.reset()


def reconfigured(w: World, **table: Any) -> Environment:
    """The same environment with other ``[table]`` settings (what a config change makes the tools read)."""
    cfg = dataclasses.replace(w.env.cfg, table=dataclasses.replace(w.env.cfg.table, **table))
    return Environment(cfg, w.env.aws)
