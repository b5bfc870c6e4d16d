"""AWS answered in this process: a botocore ``before-send`` hook on the handler's own clients.

Every request the handler makes gets an HTTP 200 built here (the technique of ``bench/handler_bench.py``):
S3 streams the generated file with its stored CRC32 (so the handler takes its content-identity path, as on
AWS), DynamoDB accepts every write and answers the ledger claim, SQS accepts, Secrets Manager returns a key.
Every DynamoDB request body is kept, in order, for the table model: what the handler sent, byte for byte.
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

SECRET = "capacity-model-pseudonymization-key-0123456789abcdef0123456789ab"


class RawBody:
    """The raw body of an HTTP response, as botocore reads it (``stream`` for content, ``read`` streaming): a
    stubbed S3 GetObject streams its object from memory or from a file without loading it whole."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source

    @classmethod
    def of(cls, data: bytes) -> RawBody:
        return cls(io.BytesIO(data))

    def stream(self, amt: int = 65536, decode_content: bool = True) -> Any:
        while chunk := self._source.read(amt):
            yield chunk

    def read(self, amt: int | None = None) -> bytes:
        return self._source.read(-1 if amt is None else amt)

    def close(self) -> None:
        self._source.close()


@dataclass
class Call:
    operation: str
    body: dict[str, Any]
    file: str  # the object key being processed when the call was made


@dataclass
class Stub:
    """Answers the handler's requests; ``calls`` holds every DynamoDB request, ``counts`` every operation."""

    objects: dict[str, bytes] = field(default_factory=dict)
    started_at: dict[str, str] = field(default_factory=dict)  # object key -> the simulated claim time
    current: str = ""
    calls: list[Call] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def attach(self, client: Any) -> None:
        client.meta.events.register_first("before-send", self.send, unique_id="capacity-stub")

    def send(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        self.counts[operation] = self.counts.get(operation, 0) + 1
        if operation == "GetObject":
            return self._object(request)
        body = b"{}"
        if event_name.split(".")[1] == "dynamodb":
            sent = orjson.loads(request.body) if request.body else {}
            self.calls.append(Call(operation, sent, self.current))
            body = self._dynamodb(operation, sent)
        elif operation == "SendMessage":
            body = b'{"MessageId":"capacity","MD5OfMessageBody":"x"}'
        elif operation == "GetSecretValue":
            body = json.dumps({"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:capacity",
                               "Name": "capacity", "SecretString": SECRET, "VersionId": "v1"}).encode()
        return self._response(request, body)

    def _dynamodb(self, operation: str, sent: dict[str, Any]) -> bytes:
        if operation == "BatchWriteItem":
            return b'{"UnprocessedItems":{}}'
        if operation == "UpdateItem" and sent.get("ReturnValues") == "ALL_NEW":  # the ledger claim
            return json.dumps({"Attributes": {
                "startedAt": {"S": self.started_at.get(self.current, "2025-06-02T12:00:00.000Z")},
                "status": {"S": "IN_PROGRESS"}, "attempts": {"N": "1"}}}).encode()
        return b"{}"

    def _object(self, request: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        key = request.url.split("?")[0].split("/", 3)[-1]
        data = next(body for name, body in self.objects.items() if key.endswith(name))
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        headers = {"x-amzn-requestid": "capacity", "content-length": str(len(data)),
                   "content-type": "application/x-ndjson", "etag": '"capacity"', "x-amz-version-id": "v1",
                   "x-amz-checksum-crc32": crc, "x-amz-checksum-type": "FULL_OBJECT"}
        return AWSResponse(request.url, 200, headers, RawBody.of(data))

    def _response(self, request: Any, body: bytes) -> Any:
        from botocore.awsrequest import AWSResponse

        headers = {"x-amzn-requestid": "capacity", "content-type": "application/x-amz-json-1.0",
                   "content-length": str(len(body)), "x-amz-crc32": str(zlib.crc32(body))}
        return AWSResponse(request.url, 200, headers, RawBody.of(body))
