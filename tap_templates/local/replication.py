"""S3 replication and global-table replication, which moto does not emulate.

moto keeps a bucket's ``ReplicationConfiguration`` and never copies, and no S3 API can create an object with a
given version ID, which replication keeps. ``replicate_object`` copies one version into another bucket through
moto's backend, keeping key, version ID, content, metadata and encryption, and sends the destination bucket's
own event notifications as S3 does for a replica. Against a server, whose backends live in its own process,
``replicate_object_via`` calls the same copy at the route ``patches.s3`` registers there.

``Replicator`` decides what to replicate as the pipeline's rules would: new object versions from the primary's
ingestion bucket to each bucket its replication rules name (read from the rendered template), and table items
changed in one region to every other region's table (last writer wins, as global tables do). Delete markers
are not replicated.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tap_templates import naming
from tap_templates.local import state
from tap_templates.local.deployment import Deployment
from tap_templates.local.intrinsics import resources_of_type
from tap_templates.local.state import ItemKey

REPLICATE_PATH = "/moto-api/tap/replicate-object"

def replicate_object(account: str, source_bucket: str, key: str, version_id: str, target_bucket: str,
                     partition: str = "aws") -> bool:
    """Copy one object version as replication does (same key and version ID); return False when the target
    already holds that version (replication never copies a version twice)."""
    from moto.s3 import notifications
    from moto.s3.models import s3_backends

    backend = s3_backends[account][partition]
    source = backend.get_object(source_bucket, key, version_id=version_id)
    if source is None:
        raise KeyError(f"s3://{source_bucket}/{key} has no version {version_id}")
    target = backend.get_bucket(target_bucket)
    if any(v.version_id == version_id for v in target.keys.getlist(key, [])):
        return False
    encryption = target.encryption["Rule"]["ApplyServerSideEncryptionByDefault"] if target.encryption else {}
    replica = backend.put_object(
        target_bucket, key, source.value, storage=source.storage_class,
        encryption=encryption.get("SSEAlgorithm", source.encryption),
        kms_key_id=encryption.get("KMSMasterKeyID", source.kms_key_id),
        bucket_key_enabled=source.bucket_key_enabled, disable_notification=True)
    replica._version_id = version_id
    replica.set_metadata(source.metadata)  # (moto has no ReplicationStatus to set on either copy)
    notifications.send_event(account, notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT, target, replica)
    return True


def replicate_object_via(endpoint_url: str | None, account: str, source_bucket: str, key: str, version_id: str,
                         target_bucket: str) -> bool:
    """``replicate_object`` in this process (``mock_aws``), or in the emulator server at ``endpoint_url``."""
    if endpoint_url is None:
        return replicate_object(account, source_bucket, key, version_id, target_bucket)
    body = json.dumps({"account": account, "sourceBucket": source_bucket, "key": key, "versionId": version_id,
                       "targetBucket": target_bucket}).encode()
    request = urllib.request.Request(endpoint_url.rstrip("/") + REPLICATE_PATH, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bool(json.loads(response.read())["copied"])


@dataclass
class Replicator:
    """Replication of one deployed pipeline; remembers each region's table as it last saw it."""

    deployment: Deployment
    _snapshots: dict[str, dict[ItemKey, dict[str, Any]]] = field(default_factory=dict, repr=False)

    def targets(self) -> list[str]:
        """Destination buckets of the primary ingestion bucket's replication rules, from its template."""
        d = self.deployment
        found = []
        for resource in resources_of_type(d.templates[d.cfg.primary_region], "AWS::S3::Bucket").values():
            for rule in resource["Properties"].get("ReplicationConfiguration", {}).get("Rules", []):
                arn = rule["Destination"]["Bucket"]
                text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
                found.append(naming.resolve(text, d.account).replace("${AWS::Partition}", "aws")
                             .split(":::", 1)[-1])
        return found

    def objects(self) -> int:
        """Copy new object versions primary -> each secondary bucket; return how many were copied."""
        d = self.deployment
        source = d.bucket(d.cfg.primary_region)
        versions = []
        for page in d.client("s3", d.cfg.primary_region).get_paginator("list_object_versions").paginate(Bucket=source):
            versions += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        return sum(replicate_object_via(d.endpoint_url, d.account, source, key, version_id, target)
                   for target in self.targets() for key, version_id in versions)

    def table_items(self) -> int:
        """Items changed in one region since the last call are written to the others (an item changed in several
        regions: the last region in deploy order wins). Returns items written."""
        regions = self.deployment.cfg.regions
        now = {region: state.scan(self.deployment, region) for region in regions}
        written = 0
        for source in regions:
            before = self._snapshots.get(source, {})
            changed = {k: v for k, v in now[source].items() if before.get(k) != v}
            deleted = [k for k in before if k not in now[source]]
            for target in (r for r in regions if r != source):
                written += self._write(target, now[target], changed, deleted)
        self._snapshots = {region: dict(items) for region, items in now.items()}
        return written

    def forget(self) -> None:
        """Start over: the next ``table_items`` takes every item as changed (after the tables were emptied)."""
        self._snapshots = {}

    def _write(self, region: str, current: dict[ItemKey, dict[str, Any]], changed: dict[ItemKey, dict[str, Any]],
               deleted: list[ItemKey]) -> int:
        """Apply one region's changes to another region's table (``current``, kept up to date)."""
        ddb, table, written = self.deployment.client("dynamodb", region), self.deployment.table, 0
        for key, item in changed.items():
            if current.get(key) != item:
                ddb.put_item(TableName=table, Item=item)
                current[key] = item
                written += 1
        for key in deleted:
            if key in current:
                ddb.delete_item(TableName=table, Key={"recordId": {"S": key[0]}, "timestamp": {"S": key[1]}})
                del current[key]
                written += 1
        return written
