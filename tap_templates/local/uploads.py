"""Objects into an ingestion bucket, and the S3 events that announce them.

An upload's own event reaches the ingest queue through the bucket's notification (applied by ``skipped``,
completed by ``patches.s3``). ``notify`` sends an event the bucket would not: for a key its notification
filter does not match, and for a redelivery. ``objects_in`` reads the objects an event names back, as the
poller and the reports need them.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from tap_templates.local.deployment import Deployment

ObjectRef = tuple[str, str, str | None, str | None]  # bucket, key, versionId, eTag


def upload(d: Deployment, region: str, key: str, body: bytes) -> str:
    """Put an object in the region's ingestion bucket; return its version ID ("null" when unversioned)."""
    response = d.client("s3", region).put_object(Bucket=d.bucket(region), Key=key, Body=body)
    return str(response.get("VersionId") or "null")


def notify(d: Deployment, region: str, key: str, version_id: str | None = None) -> None:
    """Send an object's S3 event to the region's ingest queue, in the shape S3 gives it."""
    head = d.client("s3", region).head_object(Bucket=d.bucket(region), Key=key,
                                             **({"VersionId": version_id} if version_id else {}))
    obj: dict[str, Any] = {"key": urllib.parse.quote_plus(key, safe=""), "size": head["ContentLength"],
                           "eTag": head["ETag"].strip('"'), "sequencer": f"{time.time_ns():016X}"}
    if head.get("VersionId") and head["VersionId"] != "null":
        obj["versionId"] = head["VersionId"]
    record = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region,
              "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
              "eventName": "ObjectCreated:Put",
              "s3": {"s3SchemaVersion": "1.0", "configurationId": "simulation",
                     "bucket": {"name": d.bucket(region), "arn": f"arn:aws:s3:::{d.bucket(region)}"},
                     "object": obj}}
    d.client("sqs", region).send_message(QueueUrl=d.queue_url(region), MessageBody=json.dumps({"Records": [record]}))


def objects_in(body: str) -> list[ObjectRef]:
    """(bucket, key, versionId, eTag) of every object-creation record in an S3 notification body."""
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    found = []
    for record in doc.get("Records", []) if isinstance(doc, dict) else []:
        try:
            obj = record["s3"]["object"]
            if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
                continue
            found.append((record["s3"]["bucket"]["name"], urllib.parse.unquote_plus(obj["key"]),
                          obj.get("versionId") or None, (obj.get("eTag") or "").strip('"') or None))
        except (KeyError, TypeError):
            continue
    return found
