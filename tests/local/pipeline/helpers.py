"""Reading outcomes back from the emulator, and the invariants every end-to-end test checks.

Counts come from the table (items whose ``sourceFile`` is the file's ledger ID) and the ledger item, never from
the handler's return value; record counts of the inputs come from the tests' own generators or from
``inputs.count_records``.
"""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

from botocore.awsrequest import AWSResponse

from handlers.contracts import LEDGER_SORT_KEY, Reason, ledger_id
from tap_templates.local.pipeline import LocalPipeline

Key = tuple[str, str]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in item.items()}


def table(pipeline: LocalPipeline, region: str) -> dict[Key, dict[str, Any]]:
    """Every item of the region's table by key, as plain Python values."""
    return {(i["recordId"]["S"], i["timestamp"]["S"]): plain(i) for i in pipeline.items(region)}


def ledger(items: dict[Key, dict[str, Any]], key: str, version_id: str | None) -> dict[str, Any] | None:
    return items.get((ledger_id(key, version_id, None), LEDGER_SORT_KEY))


def records_of(items: dict[Key, dict[str, Any]], key: str, version_id: str | None) -> list[dict[str, Any]]:
    lid = ledger_id(key, version_id, None)
    return [i for i in items.values() if i.get("sourceFile") == lid and "processingStatus" in i]


def letters_for(pipeline: LocalPipeline, region: str, key: str, version_id: str | None,
                letters: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """DLQ messages about one object version: the handler's letters, and redriven notifications naming it."""
    found = []
    for letter in pipeline.dead_letters(region) if letters is None else letters:
        body = letter["body"]
        if isinstance(body, dict) and body.get("key") == key and body.get("versionId") == version_id:
            found.append(letter)
        elif isinstance(body, dict) and "Records" in body:
            objects = [r.get("s3", {}).get("object", {}) for r in body["Records"]]
            if any(o.get("versionId") == version_id for o in objects):
                found.append(letter)
    return found


def assert_completed(pipeline: LocalPipeline, region: str, key: str, version_id: str, processed: int,
                     rejected: int, items: dict[Key, dict[str, Any]] | None = None,
                     letters: list[dict[str, Any]] | None = None) -> None:
    """Records in = processed + rejected, from the table and the ledger; every rejection says why."""
    items = table(pipeline, region) if items is None else items
    mine = records_of(items, key, version_id)
    got = (sum(i["processingStatus"] == "PROCESSED" for i in mine), sum(i["processingStatus"] == "REJECTED"
                                                                        for i in mine))
    assert got == (processed, rejected), f"{key}: table has {got}, expected {(processed, rejected)}"
    entry = ledger(items, key, version_id)
    assert entry is not None, f"{key}: no ledger item"
    assert entry["status"] == "COMPLETED", (key, entry)
    assert (entry["processed"], entry["rejected"], entry["records"], entry["offset"]) == (
        processed, rejected, processed + rejected, processed + rejected), (key, entry)
    assert all(i["sourceKey"] == key and i["sourceVersionId"] == version_id for i in mine)
    assert all(i["errors"] for i in mine if i["processingStatus"] == "REJECTED")
    assert not letters_for(pipeline, region, key, version_id, letters), f"{key}: a completed file has a DLQ message"


def assert_failed(pipeline: LocalPipeline, region: str, key: str, version_id: str, reason: str | None = None,
                  items: dict[Key, dict[str, Any]] | None = None,
                  letters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Exactly one DLQ message with a reason, and the ledger FAILED with the same reason; returns the letter."""
    letters = letters_for(pipeline, region, key, version_id, letters)
    assert len(letters) == 1, f"{key}: {len(letters)} DLQ messages"
    (letter,) = letters
    body = letter["body"]
    assert body["reason"] in set(Reason) and body["message"], body
    assert letter["attributes"]["reason"] == body["reason"]
    if reason is not None:
        assert body["reason"] == reason, body
    items = table(pipeline, region) if items is None else items
    entry = ledger(items, key, version_id)
    assert entry is not None and entry["status"] == "FAILED" and entry["failureReason"] == body["reason"], entry
    return letter


# --- input files ------------------------------------------------------------------------------------------


def sensor(rid: str, n: int, **extra: Any) -> dict[str, Any]:
    record = {"id": rid, "dataType": "sensor", "timestamp": f"2024-05-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:"
              f"{n % 60:02d}Z", "deviceId": f"dev-{n % 5}", "metric": "temperature", "value": 20 + n % 17 / 4,
              "unit": "C"}
    record.update(extra)
    return record


def event(rid: str, n: int, **extra: Any) -> dict[str, Any]:
    record = {"id": rid, "dataType": "event", "timestamp": 1714550400 + n, "name": "door.opened"}
    record.update(extra)
    return record


def jsonl(records: list[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n"
                    for r in records)


def csv_text(header: list[str], rows: list[list[Any]]) -> bytes:
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# --- faults ---------------------------------------------------------------------------------------------------


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def error_response(request: Any, status: int, code: str, service: str) -> AWSResponse:
    """An error answer for ``request`` that never reaches moto (a refused request was never applied): botocore
    takes the first answer a before-send hook gives, and parses it as the service's own error."""
    request.url = "https://fault-injected.invalid/"
    if service == "s3":
        data = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected</Message>'
                f"<RequestId>fault</RequestId></Error>").encode()
        headers = {"x-amz-request-id": "fault", "content-type": "application/xml"}
    else:
        data = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}).encode()
        headers = {"x-amzn-requestid": "fault", "content-type": "application/x-amz-json-1.0"}
    result = AWSResponse(request.url, status, headers, _Raw(data))
    result._content = data
    return result
