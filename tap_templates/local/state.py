"""What a deployed pipeline holds, read and emptied through the AWS APIs: table items, queue messages, the
dead letters and their reasons. Reading leaves everything in place (a dead letter read is visible again)."""

from __future__ import annotations

import json
from typing import Any

from handlers.contracts import RETRIES_EXHAUSTED, ledger_key
from tap_templates.local.deployment import Deployment

ItemKey = tuple[str, str]  # recordId, timestamp

# The attributes the reports count (a ledger item's or a record's): moto's cost per item is in serializing it.
_SUMMARY = {"#r": "recordId", "#t": "timestamp", "#f": "sourceFile", "#p": "processingStatus", "#s": "status",
            "#pr": "processed", "#rj": "rejected", "#a": "attempts", "#d": "duplicateOf"}


def scan(d: Deployment, region: str) -> dict[ItemKey, dict[str, Any]]:
    """Every item of the region's table by key, in DynamoDB's JSON (``{"S": ...}``)."""
    found: dict[ItemKey, dict[str, Any]] = {}
    for page in d.client("dynamodb", region).get_paginator("scan").paginate(TableName=d.table, ConsistentRead=True):
        for item in page["Items"]:
            found[item["recordId"]["S"], item["timestamp"]["S"]] = item
    return found


def summary_scan(d: Deployment, region: str) -> list[dict[str, Any]]:
    """Every item of the region's table, with only the attributes the reports count."""
    found = []
    for page in d.client("dynamodb", region).get_paginator("scan").paginate(
            TableName=d.table, ConsistentRead=True, ProjectionExpression=", ".join(_SUMMARY),
            ExpressionAttributeNames=_SUMMARY):
        found += page["Items"]
    return found


def rejected_items(d: Deployment, region: str) -> list[dict[str, Any]]:
    """Every REJECTED record of the region's table, with what the report shows of it: its file (``sourceFile``),
    where in the file (``sourceLine`` or ``sourceIndex``) and its ``errors`` (field and message)."""
    names = {"#f": "sourceFile", "#l": "sourceLine", "#i": "sourceIndex", "#e": "errors", "#p": "processingStatus"}
    found = []
    for page in d.client("dynamodb", region).get_paginator("scan").paginate(
            TableName=d.table, ConsistentRead=True, ProjectionExpression="#f, #l, #i, #e",
            FilterExpression="#p = :rejected", ExpressionAttributeNames=names,
            ExpressionAttributeValues={":rejected": {"S": "REJECTED"}}):
        found += page["Items"]
    return found


def ledger_item(d: Deployment, region: str, lid: str) -> dict[str, Any] | None:
    """One file's ledger item (``handlers.contracts.ledger_key``), or None."""
    return d.client("dynamodb", region).get_item(TableName=d.table, Key=ledger_key(lid),
                                                 ConsistentRead=True).get("Item")


def dead_letters(d: Deployment, region: str) -> list[dict[str, Any]]:
    """Every message in the region's DLQ, left in place: ``{"messageId", "body", "reason", "attributes"}``
    (body parsed when it is JSON; reason from the ``reason`` attribute, or RETRIES_EXHAUSTED for a
    notification the redrive policy moved)."""
    sqs, url = d.client("sqs", region), d.queue_url(region, dead_letter=True)
    seen: dict[str, dict[str, Any]] = {}
    handles = []
    while True:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60,
                                   MessageAttributeNames=["All"], AttributeNames=["All"]).get("Messages", [])
        if not page:
            break
        for m in page:
            handles.append(m["ReceiptHandle"])
            seen[m["MessageId"]] = _letter(m)
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, h in enumerate(handles[start:start + 10])])
    return list(seen.values())


def _letter(message: dict[str, Any]) -> dict[str, Any]:
    try:
        body: Any = json.loads(message["Body"])
    except ValueError:
        body = message["Body"]
    attributes = {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()}
    return {"messageId": message["MessageId"], "body": body, "attributes": attributes,
            "reason": attributes.get("reason") or RETRIES_EXHAUSTED}


def queue_depth(d: Deployment, region: str, dead_letter: bool = False) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = d.client("sqs", region).get_queue_attributes(
        QueueUrl=d.queue_url(region, dead_letter), AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def empty_queue(d: Deployment, region: str, dead_letter: bool = False) -> int:
    """Delete every visible message; return how many. Not PurgeQueue: SQS (and moto since 5.2.2) allows one
    purge per queue every 60 seconds, and tests that share a pipeline empty the queues far more often."""
    sqs, url = d.client("sqs", region), d.queue_url(region, dead_letter)
    deleted = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=30).get("Messages", [])
        if not messages:
            return deleted
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        deleted += len(messages)


def clear(d: Deployment) -> None:
    """Empty every region's queues, table and ingestion bucket (every object version), with DeleteObjects,
    DeleteItem and ``empty_queue``, as an operator would."""
    for region in d.cfg.regions:
        _empty_bucket(d, region)
        for dead_letter in (False, True):
            empty_queue(d, region, dead_letter)
        _empty_table(d, region)


def _empty_bucket(d: Deployment, region: str) -> None:
    s3, bucket = d.client("s3", region), d.bucket(region)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(versions), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions[start:start + 1000], "Quiet": True})


def _empty_table(d: Deployment, region: str) -> None:
    ddb, keys = d.client("dynamodb", region), []
    for page in ddb.get_paginator("scan").paginate(TableName=d.table, ProjectionExpression="#r, #t",
                                                   ExpressionAttributeNames={"#r": "recordId", "#t": "timestamp"}):
        keys += page["Items"]
    for start in range(0, len(keys), 25):
        requests = [{"DeleteRequest": {"Key": k}} for k in keys[start:start + 25]]
        while requests:
            response = ddb.batch_write_item(RequestItems={d.table: requests})
            requests = response.get("UnprocessedItems", {}).get(d.table, [])
