"""Helpers shared by the handler tests: the moto world of one test and ways to drive the real handler.

Importing this module sets the environment the handler reads at import time (fake credentials, region,
Powertools settings with tracing disabled), so it must be imported before ``handlers``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import json
import os
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
RENDERED = ROOT / "build" / "dev" / f"{REGION}.json"

# Set before the handler modules are imported: Powertools reads its environment at import time.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "tap-processor",
    "POWERTOOLS_METRICS_NAMESPACE": "TapPipeline", "POWERTOOLS_LOG_LEVEL": "WARNING",
})

from handlers import processor  # noqa: E402

BUCKET = "tap-dev-ingest-123456789012-us-east-1"
# The pseudonymization secret as the dev template names it, the key the tests store in it, and the fields.
SECRET_ID = "tap/dev/pseudonymization-key"
HMAC_KEY = "Vq7cJm2TzX9hKp4sRw8dLn3bYf6gHa1eUo5iMt0jCk2vQx7zNr4uWs9pBy3dGe8a"
PSEUDONYMIZE = {"event": ["properties.email", "properties.phone", "properties.userId"]}


@dataclass
class FakeContext:
    """Lambda's context object: the attributes the handler and Powertools read."""

    remaining_ms: list[int] = field(default_factory=lambda: [300_000])
    step_ms: int = 0
    function_name: str = "tap-dev-processor"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:tap-dev-processor"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        """Counts down by ``step_ms`` per call, so a test controls when the deadline arrives."""
        value = self.remaining_ms[0]
        self.remaining_ms[0] = max(0, value - self.step_ms)
        return value


def sensor(i: int, **extra: Any) -> dict[str, Any]:
    record = {"id": f"s-{i}", "dataType": "sensor", "timestamp": f"2024-05-01T12:00:{i % 60:02d}.{i % 1000:03d}Z",
              "deviceId": f"dev-{i % 7}", "metric": "temperature", "value": 20 + i / 10, "unit": "C"}
    record.update(extra)
    return record


def event(i: int, **properties: Any) -> dict[str, Any]:
    """An event record; ``properties`` become its free-form properties (where personal data lives)."""
    record: dict[str, Any] = {"id": f"e-{i}", "dataType": "event", "timestamp": f"2024-05-01T12:00:{i % 60:02d}Z",
                              "name": "signup"}
    if properties:
        record["properties"] = properties
    return record


def token(text: str, key: str = HMAC_KEY) -> str:
    """The pseudonym the handler must store for a string, computed here independently of the handler."""
    return "hmac:" + hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def jsonl(records: list[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@functools.cache
def client(service: str) -> Any:
    """The tests' own clients (not the handler's), created once: moto intercepts every client alike."""
    return boto3.client(service, region_name=REGION)


class Pipeline:
    """The moto world of one test, and ways to drive the real handler in it."""

    def __init__(self, table: str, dlq_url: str) -> None:
        self.table = table
        self.dlq_url = dlq_url
        self.s3 = client("s3")
        self.sqs = client("sqs")
        self.dynamodb = client("dynamodb")
        self._items: list[dict[str, Any]] | None = None

    # -- input ------------------------------------------------------------------------------------------
    def put(self, key: str, body: bytes, gz: bool = False) -> dict[str, Any]:
        """Upload an object; return the S3 notification record naming its version."""
        data = gzip.compress(body) if gz else body
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return self.s3_record(key, response.get("VersionId"), response["ETag"].strip('"'), len(data))

    @staticmethod
    def s3_record(key: str, version_id: str | None, etag: str | None = None, size: int = 0,
                  event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
        obj: dict[str, Any] = {"key": urllib.parse.quote_plus(key, safe="/"), "size": size, "sequencer": "01"}
        if version_id:
            obj["versionId"] = version_id
        if etag:
            obj["eTag"] = etag
        return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
                "eventTime": "2024-05-01T12:00:00.000Z", "eventName": event_name,
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                       "object": obj}}

    @staticmethod
    def event(*bodies: Any) -> dict[str, Any]:
        """An SQS event; each body is an S3 record, a list of them, or a ready string."""
        records = []
        for body in bodies:
            if isinstance(body, dict) and "s3" in body:
                body = {"Records": [body]}
            elif isinstance(body, list):
                body = {"Records": body}
            text = body if isinstance(body, str) else json.dumps(body)
            records.append({"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": text,
                            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                            "eventSource": "aws:sqs", "awsRegion": REGION,
                            "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:tap-dev-ingest"})
        return {"Records": records}

    def run(self, event: dict[str, Any], context: FakeContext | None = None) -> dict[str, Any]:
        self._items = None
        return processor.handler(event, context or FakeContext())

    def process(self, key: str, body: bytes, gz: bool = False) -> dict[str, Any]:
        """Upload, notify, run the handler; return the handler's response."""
        return self.run(self.event(self.put(key, body, gz)))

    # -- output -----------------------------------------------------------------------------------------
    def items(self) -> list[dict[str, Any]]:
        """Every item of the table (moto's scan is slow: cached until the handler runs again)."""
        if self._items is None:
            self._items = self._scan()
        return [dict(i) for i in self._items]

    def _scan(self) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        plain = TypeDeserializer()
        found, kwargs = [], {"TableName": self.table}
        while True:
            page = self.dynamodb.scan(**kwargs)
            found += [{k: plain.deserialize(v) for k, v in item.items()} for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def stored_text(self) -> str:
        """Everything in the table as one text, to assert a value is stored nowhere."""
        return json.dumps(self.items(), default=str, ensure_ascii=False)

    def records(self, status: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self.items() if "processingStatus" in i
                and (status is None or i["processingStatus"] == status)]

    def ledgers(self) -> list[dict[str, Any]]:
        return [i for i in self.items() if i.get("itemType") == "FILE_LEDGER"]

    def ledger(self) -> dict[str, Any]:
        (entry,) = self.ledgers()
        return entry

    def dead_letters(self) -> list[dict[str, Any]]:
        found = []
        while True:
            page = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10,
                                            MessageAttributeNames=["All"], WaitTimeSeconds=0)
            messages = page.get("Messages", [])
            if not messages:
                return found
            for m in messages:
                body = json.loads(m["Body"])
                body["_attributes"] = {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
                found.append(body)
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"])


# -- schemas the generated fast path does and does not cover ------------------------------------------------
SENSOR = {"id": "s-1", "dataType": "sensor", "timestamp": "2024-05-01T12:00:00.123Z", "deviceId": "d",
          "metric": "temperature", "value": 21.5, "unit": "C"}
EVENT = {"id": "e-1", "dataType": "event", "timestamp": "2024-05-01T12:00:00.123+02:00", "name": "door",
         "properties": {"actor": "a", "n": 3, "ok": True, "none": None, "tags": ["x", 1, 2.5, {"k": "v"}]}}
FAST_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["id", "dataType", "timestamp", "level"],
    "properties": {
        "id": {"type": "string", "minLength": 1}, "dataType": {"const": "custom"}, "timestamp": True,
        "level": {"enum": ["low", "high"]}, "code": {"type": "string", "minLength": 2, "maxLength": 3},
        "count": {"type": "integer"}, "flag": {"type": ["boolean", "null"]}, "items": {"type": "array"},
        "any": {"description": "anything"}, "long": {"type": "string", "minLength": 3},
        "expiresAt": {"type": "number"},
    },
}
SLOW_SCHEMAS = [
    {**FAST_SCHEMA, "additionalProperties": True},
    {**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"], "count": {"type": "integer", "minimum": 0}}},
    {**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"], "code": {"type": "string", "format": "email"}}},
    {**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"], "level": {"enum": ["low", 1]}}},
    {**FAST_SCHEMA, "allOf": [{"required": ["code"]}]},
    {**FAST_SCHEMA, "properties": {**FAST_SCHEMA["properties"],
                                   "items": {"type": "array", "items": {"type": "string"}}}},
]
CUSTOM = {"id": "c", "dataType": "custom", "timestamp": "2024-05-01T12:00:00.000Z", "level": "low", "code": "ab",
          "count": 3, "flag": None, "items": [1], "any": {"x": [True]}, "long": "abc"}


def custom_registry(definition: dict[str, Any], directory: Path) -> Any:
    """A registry of the one data type ``custom`` with ``definition`` as its schema, its fast path compiled."""
    from handlers import records, schemas

    (directory / "custom.json").write_text(json.dumps(definition))
    registry = schemas.Registry(directory)
    records.check(dict(CUSTOM), registry)
    return registry
