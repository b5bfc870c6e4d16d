"""The whole pipeline running locally on the AWS emulator (moto): deploy, upload, replicate, drain.

``start(cfg)`` deploys every region's rendered template with the deploy code used for AWS (StackSets,
secondaries first), applies what moto's CloudFormation skips (``emulator.apply_skipped_resources``) and
yields a ``LocalPipeline``. Objects uploaded to an ingestion bucket reach the ingest queue through the
bucket's own event notification. ``drain(region)`` then plays the Lambda event source mapping of that region
and invokes the real ``handlers.processor.handler`` in this process; moto never runs the function's zip.

What the emulator cannot do and this module does instead (each a documented stand-in, never a change to a
template or to the handler):

- Lambda's SQS poller: ``drain`` reads the mapping (state, batch size, response types) and the function's
  configuration (environment, timeout) through the Lambda API, so a failover tool that flips the mapping or
  an override that changes the environment is honoured. One region's invocations run in one "container":
  switching region clears ``handlers.settings.current`` and ``handlers.clients`` as a cold start would.
- Time: a failed message becomes visible again at once (its visibility is set to 0, standing for the
  visibility timeout elapsing), so a poison message reaches ``maxReceiveCount`` and the queue's redrive
  policy moves it to the DLQ within one drain. The file ledger must see that time pass too: a lease that
  would have ended before the message is visible again (lease = remaining time + 60 s, visibility timeout
  = 6 x the function timeout: all of them, unless a test shortens the timeout) is ended (``leaseUntil`` = 0,
  conditional on its owner), or a retry of a file whose invocation died (the handler raised, as when Lambda
  kills it) or could not release it would find the file "busy" until the DLQ took the message.
- S3 replication and global-table replication: ``replicate`` copies new object versions from the primary's
  ingestion bucket to each bucket its replication rules name (same key and version ID, through
  ``emulator.replicate_object``; the replica's event notification goes to that region's queue as on S3) and
  copies changed table items between the regions' tables (last writer wins, as global tables do).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers.contracts import LEDGER_SORT_KEY, RETRIES_EXHAUSTED, LedgerStatus, ledger_id, ledger_key
from tap_templates import naming, regions
from tap_templates.config import PipelineConfig
from tap_templates.deploy import artifacts, manifest, plan, stacksets, targets
from tap_templates.deploy.aws import Aws, connect
from tap_templates.local import emulator
from tap_templates.render import render

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing", "AWS_SECURITY_TOKEN": "testing"}
# Variables that would send boto3 to real credentials (or slow it down looking for them).
_CREDENTIAL_LOOKUPS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                       "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")


# --- reports ------------------------------------------------------------------------------------------------


@dataclass
class FileReport:
    """One object version a drain delivered, as the table, the ledger and the DLQ show it afterwards.

    ``status`` is the ledger's (COMPLETED, FAILED, IN_PROGRESS), or PENDING when no invocation claimed the
    file, or DEAD_LETTERED when the notification itself went to the DLQ (redrive, invalid message).
    ``processed``/``rejected`` count the file's items in the table; ``ledger_*`` what the ledger says."""

    region: str
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    status: str = "PENDING"
    processed: int = 0
    rejected: int = 0
    ledger_processed: int = 0
    ledger_rejected: int = 0
    dlq_reason: str | None = None
    dlq_messages: int = 0
    deliveries: int = 0
    duplicate_deliveries: int = 0
    attempts: int = 0

    @property
    def records(self) -> int:
        return self.processed + self.rejected


@dataclass
class DrainReport:
    """What one ``drain`` of a region did, and what it left."""

    region: str
    files: list[FileReport] = field(default_factory=list)
    invocations: int = 0
    function_errors: int = 0
    messages_received: int = 0
    messages_deleted: int = 0
    messages_retried: int = 0
    messages_left: int = 0
    dead_letters: int = 0
    stopped: str = ""  # "drained", "disabled" (mapping not Enabled), "max_invocations"

    @property
    def processed(self) -> int:
        return sum(f.processed for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def file(self, key: str) -> FileReport:
        """The (last delivered version of the) file with this key."""
        found = [f for f in self.files if f.key == key]
        if not found:
            raise KeyError(f"no file {key!r} was delivered in {self.region}")
        return found[-1]


# --- the handler zip --------------------------------------------------------------------------------------


def handler_zip(target: Path) -> tuple[Path, str]:
    """The stacks' ``CodeKey`` zip: the handler's own files (``packaging.build_source_zip``). The emulator stores
    it and never runs it, so the locked third-party wheels are not downloaded here."""
    from tap_templates.deploy.packaging import build_source_zip

    return build_source_zip(target)


# --- the context of one Lambda "container" ----------------------------------------------------------------


class _Context:
    """Lambda's context object; the remaining time counts down with the wall clock from ``remaining_ms``."""

    def __init__(self, cfg: PipelineConfig, region: str, account: str, remaining_ms: int) -> None:
        self.function_name = naming.function(cfg)
        self.memory_limit_in_mb = cfg.processor.memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvocationKilled(BaseException):
    """Raise from a hook to stand for Lambda killing the invocation (timeout, out of memory): nothing in
    the handler catches it, so it ends the invocation as a crash would."""


# --- the pipeline -------------------------------------------------------------------------------------------


@dataclass
class LocalPipeline:
    """A deployed pipeline in the emulator, and the moves of the AWS services moto does not make itself."""

    cfg: PipelineConfig
    account: str
    session: Any
    endpoint_url: str | None
    templates: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _container: str | None = field(default=None, repr=False)
    _container_env: dict[str, str] = field(default_factory=dict, repr=False)
    _saved_env: dict[str, str | None] = field(default_factory=dict, repr=False)
    _table_snapshots: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict, repr=False)

    # -- names and clients --------------------------------------------------------------------------------
    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            self._clients[service, region] = self.session.client(service, region_name=region,
                                                                 endpoint_url=self.endpoint_url)
        return self._clients[service, region]

    def bucket(self, region: str) -> str:
        return naming.resolve(naming.ingest_bucket(self.cfg, region), self.account)

    @property
    def table(self) -> str:
        return naming.table(self.cfg)

    def queue_url(self, region: str, dead_letter: bool = False) -> str:
        name = naming.dead_letter_queue(self.cfg) if dead_letter else naming.ingest_queue(self.cfg)
        return self.client("sqs", region).get_queue_url(QueueName=name)["QueueUrl"]

    def mapping(self, region: str) -> dict[str, Any]:
        """The function's event source mapping on the region's ingest queue, as the Lambda API returns it."""
        queue = f":{naming.ingest_queue(self.cfg)}"
        found = self.client("lambda", region).list_event_source_mappings(
            FunctionName=naming.function(self.cfg))["EventSourceMappings"]
        mine = [m for m in found if m["EventSourceArn"].endswith(queue)]
        if len(mine) != 1:
            raise RuntimeError(f"expected one event source mapping on {queue[1:]} in {region}, found {len(mine)}")
        return mine[0]

    # -- input ----------------------------------------------------------------------------------------------
    def upload(self, region: str, key: str, body: bytes) -> str:
        """Put an object in the region's ingestion bucket; its own notification enqueues the event."""
        response = self.client("s3", region).put_object(Bucket=self.bucket(region), Key=key, Body=body)
        return str(response.get("VersionId") or "null")

    def notify(self, region: str, key: str, version_id: str | None = None) -> None:
        """Send an S3 event for an object to the region's ingest queue, as the bucket would: for objects the
        bucket's notification filter does not match (an unsupported suffix) and for re-deliveries."""
        s3 = self.client("s3", region)
        head = s3.head_object(Bucket=self.bucket(region), Key=key,
                              **({"VersionId": version_id} if version_id else {}))
        obj: dict[str, Any] = {"key": urllib.parse.quote_plus(key, safe=""), "size": head["ContentLength"],
                               "eTag": head["ETag"].strip('"'), "sequencer": f"{time.time_ns():016X}"}
        if head.get("VersionId") and head["VersionId"] != "null":
            obj["versionId"] = head["VersionId"]
        record = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region,
                  "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                  "eventName": "ObjectCreated:Put",
                  "s3": {"s3SchemaVersion": "1.0", "configurationId": "simulation",
                         "bucket": {"name": self.bucket(region), "arn": f"arn:aws:s3:::{self.bucket(region)}"},
                         "object": obj}}
        self.client("sqs", region).send_message(QueueUrl=self.queue_url(region),
                                                MessageBody=json.dumps({"Records": [record]}))

    # -- replication (not emulated by moto) ---------------------------------------------------------------
    def replication_targets(self) -> list[str]:
        """Destination buckets of the primary ingestion bucket's replication rules, from its template."""
        template = self.templates[self.cfg.primary_region]
        found = []
        for resource in emulator.resources_of_type(template, "AWS::S3::Bucket").values():
            for rule in resource["Properties"].get("ReplicationConfiguration", {}).get("Rules", []):
                arn = rule["Destination"]["Bucket"]
                text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
                found.append(naming.resolve(text, self.account).replace("${AWS::Partition}", "aws")
                             .split(":::", 1)[-1])
        return found

    def replicate(self) -> int:
        """Copy new object versions primary -> each secondary bucket (key and version ID kept; the replica's
        event reaches that region's queue) and changed table items to every other region's table. Returns the
        number of object versions copied."""
        source = self.bucket(self.cfg.primary_region)
        s3 = self.client("s3", self.cfg.primary_region)
        copied = 0
        versions = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=source):
            versions += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        for target in self.replication_targets():
            for key, version_id in versions:
                if emulator.replicate_object_via(self.endpoint_url, self.account, source, key, version_id, target):
                    copied += 1
        self.replicate_table()
        return copied

    def replicate_table(self) -> int:
        """Global-table replication: items changed in one region since the last call are written to the others
        (an item changed in several regions: the last region in deploy order wins). Returns items written."""
        now = {region: self._scan(region) for region in self.cfg.regions}
        written = 0
        for source in self.cfg.regions:
            before = self._table_snapshots.get(source, {})
            changed = {k: v for k, v in now[source].items() if before.get(k) != v}
            deleted = [k for k in before if k not in now[source]]
            for target in self.cfg.regions:
                if target == source:
                    continue
                ddb = self.client("dynamodb", target)
                for key, item in changed.items():
                    if now[target].get(key) != item:
                        ddb.put_item(TableName=self.table, Item=item)
                        now[target][key] = item
                        written += 1
                for key in deleted:
                    if key in now[target]:
                        ddb.delete_item(TableName=self.table, Key={"recordId": {"S": key[0]},
                                                                   "timestamp": {"S": key[1]}})
                        del now[target][key]
                        written += 1
        self._table_snapshots = {region: dict(items) for region, items in now.items()}
        return written

    # -- reading what happened ------------------------------------------------------------------------------
    def _scan(self, region: str) -> dict[tuple[str, str], dict[str, Any]]:
        ddb = self.client("dynamodb", region)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for page in ddb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            for item in page["Items"]:
                found[item["recordId"]["S"], item["timestamp"]["S"]] = item
        return found

    def _summary_scan(self, region: str) -> list[dict[str, Any]]:
        """Only the attributes the reports count: moto's cost per item is in serializing it."""
        names = {"#r": "recordId", "#t": "timestamp", "#f": "sourceFile", "#p": "processingStatus", "#s": "status",
                 "#pr": "processed", "#rj": "rejected", "#a": "attempts", "#d": "duplicateOf"}
        found = []
        for page in self.client("dynamodb", region).get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True, ProjectionExpression=", ".join(names),
                ExpressionAttributeNames=names):
            found += page["Items"]
        return found

    def clear(self) -> None:
        """Empty every region's queues, table and ingestion bucket (every object version): tests and drills
        sharing one deployed pipeline start from a clean state. DeleteObjects, DeleteItem and ``empty_queue``,
        as an operator would."""
        for region in self.cfg.regions:
            s3, bucket = self.client("s3", region), self.bucket(region)
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                versions = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                for start in range(0, len(versions), 1000):
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": versions[start:start + 1000], "Quiet": True})
            for dead_letter in (False, True):
                self.empty_queue(region, dead_letter)
            ddb = self.client("dynamodb", region)
            keys = []
            for page in ddb.get_paginator("scan").paginate(TableName=self.table, ProjectionExpression="#r, #t",
                                                           ExpressionAttributeNames={"#r": "recordId",
                                                                                     "#t": "timestamp"}):
                keys += page["Items"]
            for start in range(0, len(keys), 25):
                requests = [{"DeleteRequest": {"Key": k}} for k in keys[start:start + 25]]
                while requests:
                    response = ddb.batch_write_item(RequestItems={self.table: requests})
                    requests = response.get("UnprocessedItems", {}).get(self.table, [])
        self._table_snapshots = {}

    def empty_queue(self, region: str, dead_letter: bool = False) -> int:
        """Delete every visible message; return how many. Not PurgeQueue: SQS (and moto since 5.2.2) allows one
        purge per queue every 60 seconds, and tests that share a pipeline empty the queues far more often."""
        sqs, url = self.client("sqs", region), self.queue_url(region, dead_letter)
        deleted = 0
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                           VisibilityTimeout=30).get("Messages", [])
            if not messages:
                return deleted
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            deleted += len(messages)

    def items(self, region: str) -> list[dict[str, Any]]:
        """Every item of the region's table, in DynamoDB's JSON (``{"S": ...}``)."""
        return list(self._scan(region).values())

    def dead_letters(self, region: str) -> list[dict[str, Any]]:
        """Every message in the region's DLQ, left in place: ``{"messageId", "body", "reason", "attributes"}``
        (body parsed when it is JSON; reason from the ``reason`` attribute, or RETRIES_EXHAUSTED for a
        notification the redrive policy moved)."""
        sqs, url = self.client("sqs", region), self.queue_url(region, dead_letter=True)
        seen: dict[str, dict[str, Any]] = {}
        handles = []
        while True:
            page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=60, MessageAttributeNames=["All"],
                                       AttributeNames=["All"]).get("Messages", [])
            if not page:
                break
            for m in page:
                handles.append(m["ReceiptHandle"])
                try:
                    body: Any = json.loads(m["Body"])
                except ValueError:
                    body = m["Body"]
                attributes = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
                seen[m["MessageId"]] = {"messageId": m["MessageId"], "body": body, "attributes": attributes,
                                        "reason": attributes.get("reason") or RETRIES_EXHAUSTED}
        for start in range(0, len(handles), 10):
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start:start + 10])])
        return list(seen.values())

    def queue_depth(self, region: str, dead_letter: bool = False) -> int:
        """Messages in the queue, visible or in flight."""
        attributes = self.client("sqs", region).get_queue_attributes(
            QueueUrl=self.queue_url(region, dead_letter), AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    # -- the handler's container ------------------------------------------------------------------------------
    def container(self, region: str) -> None:
        """Make this process the region's Lambda container: its function's environment (read through the
        Lambda API), its region, fresh settings and clients when it was another region's before. Tests that
        hook the handler's clients (``handlers.clients.s3(region)``) call this first."""
        config = self.client("lambda", region).get_function_configuration(FunctionName=naming.function(self.cfg))
        env = {**config.get("Environment", {}).get("Variables", {}), "AWS_REGION": region,
               "AWS_DEFAULT_REGION": region, "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
               "POWERTOOLS_TRACE_DISABLED": "true"}
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self._container == region and env == self._container_env:
            return
        from handlers import clients, settings

        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        for name in set(self._container_env) - set(env):
            _restore(name, self._saved_env.get(name))
        settings.current.cache_clear()
        clients.reset()
        self._container, self._container_env = region, env

    def _invoke(self, region: str, event: dict[str, Any], remaining_ms: int) -> dict[str, Any] | None:
        """Run the handler once: its response, or None when it raised (a function error)."""
        self.container(region)
        from handlers import processor

        context = _Context(self.cfg, region, self.account, remaining_ms)
        try:
            return processor.handler(event, context)
        except (Exception, InvocationKilled):
            return None

    def close(self) -> None:
        """Leave the container: its environment goes, and the handler's clients (bound to this emulator)."""
        from handlers import clients, settings

        for name, value in self._saved_env.items():
            _restore(name, value)
        self._container, self._container_env, self._saved_env = None, {}, {}
        settings.current.cache_clear()
        clients.reset()

    # -- the event source mapping ---------------------------------------------------------------------------
    def drain(self, region: str, *, max_invocations: int = 1000, deadline_ms: int | None = None) -> DrainReport:
        """Act as the region's Lambda event source mapping until its queue is drained; see the module doc.

        ``deadline_ms``: the remaining time each invocation starts with (default: the function's timeout), to
        make invocations run out of time mid-file."""
        report = DrainReport(region)
        mapping = self.mapping(region)
        if mapping["State"] != "Enabled":
            report.stopped = "disabled"
            report.messages_left = self.queue_depth(region)
            return report
        config = self.client("lambda", region).get_function_configuration(FunctionName=naming.function(self.cfg))
        remaining_ms = deadline_ms if deadline_ms is not None else int(config["Timeout"]) * 1000
        batch_size = int(mapping.get("BatchSize") or 10)
        partial = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
        sqs, url = self.client("sqs", region), self.queue_url(region)
        visibility_s = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
                           ["Attributes"]["VisibilityTimeout"])
        files: dict[tuple[str, str, str | None, str | None], FileReport] = {}
        report.stopped = "drained"
        while True:
            if report.invocations >= max_invocations:
                report.stopped = "max_invocations"
                break
            messages = self._receive(sqs, url, batch_size)
            if not messages:
                break
            report.messages_received += len(messages)
            for message in messages:
                for ref in _objects(message["Body"]):
                    file = files.setdefault(ref, FileReport(region, *ref))
                    file.deliveries += 1
                    if self._ledger_status(region, ref) in ("COMPLETED", "FAILED"):
                        file.duplicate_deliveries += 1
            response = self._invoke(region, _sqs_event(region, self.account, url, messages),
                                                remaining_ms)
            report.invocations += 1
            if response is None:
                report.function_errors += 1
                failed = {m["MessageId"] for m in messages}
            else:
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
                if failed and not partial:
                    failed = {m["MessageId"] for m in messages}
            done = [m for m in messages if m["MessageId"] not in failed]
            retry = [m for m in messages if m["MessageId"] in failed]
            for start in range(0, len(done), 10):
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
            if retry:  # the visibility timeout elapsing (see the module doc)
                self._elapse(region, visibility_s)
            for start in range(0, len(retry), 10):
                sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(retry[start:start + 10])])
            report.messages_deleted += len(done)
            report.messages_retried += len(retry)
        report.messages_left = self.queue_depth(region)
        letters = self.dead_letters(region)
        report.dead_letters = len(letters)
        report.files = self._describe(region, list(files.values()), letters)
        return report

    @staticmethod
    def _receive(sqs: Any, url: str, batch_size: int) -> list[dict[str, Any]]:
        """Up to ``batch_size`` messages, 10 per call as the poller does; moving messages past the receive
        limit to the DLQ is the queue's own redrive policy (moto applies it on receive)."""
        found: list[dict[str, Any]] = []
        while len(found) < batch_size:
            page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, batch_size - len(found)),
                                       WaitTimeSeconds=0, AttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
            if not page:
                break
            found += page
        return found

    def _ledger_key(self, ref: tuple[str, str, str | None, str | None]) -> dict[str, Any]:
        _bucket, key, version_id, etag = ref
        return ledger_key(ledger_id(key, version_id, etag))

    def _ledger_status(self, region: str, ref: tuple[str, str, str | None, str | None]) -> str | None:
        item = self.client("dynamodb", region).get_item(TableName=self.table, Key=self._ledger_key(ref),
                                                        ConsistentRead=True).get("Item")
        return item["status"]["S"] if item and "status" in item else None

    def _elapse(self, region: str, seconds: int) -> int:
        """The visibility timeout passing for the ledger: a lease that ends before a retried message is visible
        again has ended (``leaseUntil`` = 0, only if its owner is unchanged). Returns leases ended."""
        ddb, ended = self.client("dynamodb", region), 0
        horizon = int(time.time() * 1000) + seconds * 1000
        names = {"#r": "recordId", "#t": "timestamp", "#s": "status", "#u": "leaseUntil", "#o": "leaseOwner"}
        for page in ddb.get_paginator("scan").paginate(
                TableName=self.table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names,
                FilterExpression="#t = :ledger AND #s = :in_progress AND #u < :horizon AND #u > :zero",
                ExpressionAttributeValues={":ledger": {"S": LEDGER_SORT_KEY},
                                           ":in_progress": {"S": LedgerStatus.IN_PROGRESS},
                                           ":horizon": {"N": str(horizon)}, ":zero": {"N": "0"}}):
            for item in page["Items"]:
                with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):
                    ddb.update_item(TableName=self.table, Key={"recordId": item["recordId"],
                                                               "timestamp": item["timestamp"]},
                                    UpdateExpression="SET #u = :zero", ConditionExpression="#o = :owner",
                                    ExpressionAttributeNames={"#u": "leaseUntil", "#o": "leaseOwner"},
                                    ExpressionAttributeValues={":zero": {"N": "0"}, ":owner": item["leaseOwner"]})
                    ended += 1
        return ended

    def _describe(self, region: str, files: list[FileReport], letters: list[dict[str, Any]]) -> list[FileReport]:
        items = self._summary_scan(region) if files else []
        for file in files:
            lid = ledger_id(file.key, file.version_id, file.etag)
            ledger = next((i for i in items if i["recordId"]["S"] == lid and i["timestamp"]["S"] == LEDGER_SORT_KEY),
                          None)
            if ledger is not None:
                file.status = ledger.get("status", {}).get("S", "PENDING")
                file.ledger_processed = int(ledger.get("processed", {}).get("N", 0))
                file.ledger_rejected = int(ledger.get("rejected", {}).get("N", 0))
                file.attempts = int(ledger.get("attempts", {}).get("N", 0))
            # A re-upload of identical bytes stores nothing of its own: its records are the original version's.
            source = ledger.get("duplicateOf", {}).get("S", lid) if ledger is not None else lid
            mine = [i for i in items if i.get("sourceFile", {}).get("S") == source and "processingStatus" in i]
            file.processed = sum(i["processingStatus"]["S"] == "PROCESSED" for i in mine)
            file.rejected = sum(i["processingStatus"]["S"] == "REJECTED" for i in mine)
            own = [letter for letter in letters if _letter_names(letter, file)]
            file.dlq_messages = len(own)
            if own:
                file.dlq_reason = own[-1]["reason"]
                if ledger is None or file.status not in ("COMPLETED", "FAILED"):
                    file.status = "DEAD_LETTERED"
        return files


# --- starting it ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _environment(endpoint_url: str | None) -> Iterator[None]:
    """Fake credentials only (the simulation never talks to AWS), restored afterwards."""
    names = (*FAKE_CREDENTIALS, *_CREDENTIAL_LOOKUPS, "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION",
             "AWS_REGION", "POWERTOOLS_TRACE_DISABLED", "AWS_EC2_METADATA_DISABLED")
    saved = {name: os.environ.get(name) for name in names}
    for name in _CREDENTIAL_LOOKUPS:
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS, POWERTOOLS_TRACE_DISABLED="true", AWS_EC2_METADATA_DISABLED="true")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            _restore(name, value)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def deploy_pipeline(cfg: PipelineConfig, aws: Aws, work_dir: Path) -> dict[str, dict[str, Any]]:
    """The deploy script's steps (roles, manifest check, artifacts, StackSets in order), then what the
    emulator skipped; returns each region's template."""
    rendering = render(cfg)
    stacksets.deploy_roles(cfg, aws, rendering.roles, poll_seconds=0.05)
    manifest.check_manifest(cfg, rendering)
    chosen = targets.targets(cfg, aws.account)
    plan.check_roles(cfg, aws, chosen)
    zip_path, code_sha = handler_zip(work_dir / "handler.zip")
    code = zip_path.read_bytes()
    plans = plan.plan(cfg, aws, rendering, code_sha, chosen)
    who = artifacts.readers(aws, chosen)
    for p in plans:
        artifacts.upload_artifacts(aws, p.where, p.template, code, who)
        stacksets.apply(cfg, aws, p, lambda progress: None, poll_seconds=0.05)
    templates = {}
    for p in plans:
        templates[p.region] = json.loads(p.template.body)
        emulator.apply_skipped_resources(templates[p.region], p.region, aws.session, aws.endpoint_url,
                                         parameters=p.parameters)
    return templates


@contextlib.contextmanager
def start(cfg: PipelineConfig, endpoint_url: str | None = None) -> Iterator[LocalPipeline]:
    """Start the emulator (in this process, or use the server at ``endpoint_url``), deploy every region and
    yield the pipeline. The in-process emulator and its data end with the block."""
    import tempfile

    with _environment(endpoint_url), contextlib.ExitStack() as stack:
        if endpoint_url is None:
            from moto import mock_aws

            emulator.patch_moto()
            stack.enter_context(mock_aws())
        aws = connect(cfg.primary_region, None, endpoint_url)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        templates = deploy_pipeline(cfg, aws, work)
        pipeline = LocalPipeline(cfg=cfg, account=aws.account, session=aws.session, endpoint_url=endpoint_url,
                                 templates=templates)
        try:
            yield pipeline
        finally:
            pipeline.close()




# --- helpers -----------------------------------------------------------------------------------------------


def _objects(body: str) -> list[tuple[str, str, str | None, str | None]]:
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


def _letter_names(letter: dict[str, Any], file: FileReport) -> bool:
    """Whether a DLQ message is about this object version: a handler letter names it, a redriven
    notification carries its S3 record."""
    body = letter["body"]
    if isinstance(body, dict) and "reason" in body and "key" in body:
        return body.get("key") == file.key and body.get("versionId") == file.version_id
    text = body if isinstance(body, str) else json.dumps(body)
    return (file.bucket, file.key, file.version_id, file.etag) in _objects(text)


def _sqs_event(region: str, account: str, url: str, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The Lambda event of an SQS batch, as the event source mapping builds it."""
    arn = f"arn:aws:sqs:{region}:{account}:{url.rsplit('/', 1)[-1]}"
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": region,
    } for m in messages]}


# --- counting input records independently of the handler ---------------------------------------------------


def count_records(name: str, body: bytes) -> int | None:
    """How many records a file holds, by a reading of its format independent of the handler: non-blank lines
    (JSON Lines), rows after the header (CSV), array elements or one value (JSON). None when the file cannot be
    read as a whole (unsupported suffix, corrupt gzip, not JSON, not UTF-8): it must fail whole."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, ValueError):
            return None
        lowered = lowered[:-3]
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if lowered.endswith((".jsonl", ".ndjson")):
        return sum(1 for line in text.split("\n") if line.strip())
    if lowered.endswith(".csv"):
        rows = [r for r in csv.reader(io.StringIO(text)) if r and not (len(r) == 1 and not r[0].strip())]
        return max(0, len(rows) - 1)
    if lowered.endswith(".json"):
        if not text.strip():
            return 0
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return len(value) if isinstance(value, list) else 1
    return None


# --- the local run of scripts/simulate.py --------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    """One file to upload: its object key, its bytes, and its record count by ``count_records``."""

    key: str
    path: Path
    body: bytes
    expected: int | None

    @property
    def notified(self) -> bool:
        """Whether the bucket's notification filter matches the key (only these suffixes reach the queue)."""
        return self.key.endswith(naming.INGEST_SUFFIXES)


def collect_inputs(paths: Sequence[Path]) -> list[InputFile]:
    """The files named, and the files under the directories named (keys relative to the directory), sorted;
    ``ConfigError`` for a path that does not exist, no file at all, or two files with one key."""
    from tap_templates.errors import ConfigError

    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            files = [(p.relative_to(path).as_posix(), p) for p in sorted(path.rglob("*"))
                     if p.is_file() and not p.name.startswith(".") and p.name != "README.md"]
        elif path.is_file():
            files = [(path.name, path)]
        else:
            raise ConfigError(f"{path} does not exist")
        for key, file in files:
            if key in found and found[key].resolve() != file.resolve():
                raise ConfigError(f"{found[key]} and {file} would both be uploaded as {key!r}: rename one")
            found[key] = file
    if not found:
        raise ConfigError(f"no files found in {', '.join(map(str, paths))}")
    inputs = []
    for key, file in sorted(found.items()):
        body = file.read_bytes()
        inputs.append(InputFile(key, file, body, count_records(key, body)))
    return inputs


@dataclass(frozen=True)
class Accounting:
    """Whether every record of one input file ended up somewhere: stored (processed or rejected), or the
    whole file in the DLQ. ``unaccounted`` is the number of records missing (negative: more items than
    records), None when every record is accounted for."""

    input: InputFile
    file: FileReport | None
    unaccounted: int | None
    note: str = ""

    @property
    def accounted(self) -> bool:
        return self.unaccounted is None


def account(item: InputFile, file: FileReport | None) -> Accounting:
    expected = item.expected
    if file is None:
        return Accounting(item, None, expected if expected is not None else 1, "never delivered to the function")
    if file.status in ("FAILED", "DEAD_LETTERED"):
        if file.dlq_messages >= 1:
            return Accounting(item, file, None, "failed whole: see its DLQ message")
        return Accounting(item, file, expected if expected is not None else 1, "failed without a DLQ message")
    if file.status != "COMPLETED":
        missing = expected - file.records if expected is not None else 1
        return Accounting(item, file, missing, f"left {file.status}")
    if expected is None:
        return Accounting(item, file, -file.records, "completed, but the file cannot be read as a whole")
    if file.records != expected:
        return Accounting(item, file, expected - file.records, f"{file.records} items for {expected} records")
    return Accounting(item, file, None)


@dataclass(frozen=True)
class RegionSummary:
    """A region after the run, read through the AWS APIs."""

    region: str
    role: str
    mapping_state: str
    queue: int
    dead_letters: int
    processed: int
    rejected: int
    ledger_files: int


def summarize_region(pipeline: LocalPipeline, region: str) -> RegionSummary:
    items = pipeline._summary_scan(region)
    status = [i["processingStatus"]["S"] for i in items if "processingStatus" in i]
    return RegionSummary(
        region=region, role=regions.role(pipeline.cfg, region), mapping_state=pipeline.mapping(region)["State"],
        queue=pipeline.queue_depth(region), dead_letters=pipeline.queue_depth(region, dead_letter=True),
        processed=status.count("PROCESSED"), rejected=status.count("REJECTED"),
        ledger_files=sum(i.get("timestamp", {}).get("S") == LEDGER_SORT_KEY for i in items))


@dataclass
class RunResult:
    """What ``run`` did: the primary's drain, each input's accounting, each region's state, replicas."""

    drain: DrainReport
    files: list[Accounting]
    regions: list[RegionSummary]
    replicated: int

    @property
    def unaccounted(self) -> int:
        return sum(abs(a.unaccounted) for a in self.files if a.unaccounted is not None)


def run(pipeline: LocalPipeline, inputs: Sequence[InputFile]) -> RunResult:
    """Upload every input to the primary, drain it, replicate to the secondaries, and account for each file.

    A key the bucket's notification filter does not match never reaches the queue on AWS; to show the
    UNSUPPORTED_FORMAT path, its S3 event is sent to the queue by ``notify`` (the report marks it)."""
    primary = pipeline.cfg.primary_region
    versions = {}
    for item in inputs:
        versions[item.key] = pipeline.upload(primary, item.key, item.body)
        if not item.notified:
            pipeline.notify(primary, item.key, versions[item.key])
    report = pipeline.drain(primary)
    replicated = pipeline.replicate()
    by_version = {(f.key, f.version_id or "null"): f for f in report.files}
    files = [account(item, by_version.get((item.key, versions[item.key]))) for item in inputs]
    return RunResult(report, files, [summarize_region(pipeline, r) for r in pipeline.cfg.regions], replicated)
