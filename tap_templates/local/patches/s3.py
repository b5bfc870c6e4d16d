"""S3 event notifications, and the emulator server's route for replication.

Gap: S3 event notifications leave out the object's ``versionId`` and ``sequencer`` (S3 sends both for a
versioned bucket, and the processor's file ledger is keyed by the version), and their ``eventTime`` is local
time without a zone (S3's is UTC, ``2024-05-01T12:00:00.000Z``). The patch adds both and writes the time as S3.

Gap: S3 replication is not emulated, and no S3 API can create an object with a given version ID, which
replication keeps: ``tap_templates.local.replication.replicate_object`` copies through moto's backend. A server
keeps its backends to itself, so the patch serves that copy at ``POST /moto-api/tap/replicate-object`` (JSON
body: ``account``, ``sourceBucket``, ``key``, ``versionId``, ``targetBucket``; answer ``{"copied": bool}``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from tap_templates.local.patches.guard import Patch
from tap_templates.local.replication import REPLICATE_PATH, replicate_object

EVENT_VERSIONS = Patch("s3: event version, sequencer and time")
REPLICATION = Patch("s3: replication through the backend")


def _as_s3(event: dict[str, Any], key: Any) -> dict[str, Any]:
    for record in event["Records"]:
        obj = record["s3"]["object"]
        if key.version_id and key.version_id != "null":
            obj["versionId"] = key.version_id
        obj["sequencer"] = f"{time.time_ns():016X}"  # increases per key, as S3's does
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        record["eventTime"] = f"{stamp}.{int(now * 1000) % 1000:03d}Z"
    return event


def patch_event_versions() -> None:
    notifications = EVENT_VERSIONS.module("moto.s3.notifications")
    original = EVENT_VERSIONS.require(notifications, "_get_s3_event",
                                      ("event_name", "bucket", "key", "notification_id"))

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        return _as_s3(original(event_name, bucket, key, notification_id), key)

    notifications._get_s3_event = get_s3_event


def _replicate(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    raw = request.data if hasattr(request, "data") else request.body
    args = json.loads(raw or b"{}")
    try:
        copied = replicate_object(args["account"], args["sourceBucket"], args["key"], args["versionId"],
                                  args["targetBucket"])
    except (KeyError, TypeError) as exc:
        return 400, {"Content-Type": "application/json"}, json.dumps({"error": str(exc)})
    return 200, {"Content-Type": "application/json"}, json.dumps({"copied": copied})


def register_replication_route() -> None:
    """Serve ``replicate_object``, after checking that moto still has what it copies with."""
    patch = REPLICATION
    models, notifications = patch.module("moto.s3.models"), patch.module("moto.s3.notifications")
    patch.require(models, "s3_backends")
    for name in ("get_object", "get_bucket", "put_object"):
        patch.require(patch.require(models, "S3Backend"), name)
    patch.require(patch.require(models, "FakeKey"), "set_metadata")
    patch.require(notifications, "send_event")
    patch.require(patch.require(notifications, "S3NotificationEvent"), "OBJECT_CREATED_PUT_EVENT")
    paths = patch.require(patch.module("moto.moto_api._internal.urls"), "url_paths")
    paths["{0}" + REPLICATE_PATH] = _replicate
