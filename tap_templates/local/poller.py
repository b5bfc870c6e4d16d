"""Lambda's SQS poller, which moto does not run (``patches.sqs`` turns its Docker delivery off).

``Poller.drain(region)`` acts as the region's event source mapping until the ingest queue is empty: only while
the mapping is ``Enabled`` (read through the Lambda API, so a failover that flips it is honoured), in batches
of the mapping's batch size, invoking the handler in the region's container with the function's timeout,
deleting what succeeded and honouring ``batchItemFailures`` when the mapping reports them. Moving a message
past ``maxReceiveCount`` to the DLQ is the queue's own redrive policy (moto applies it on receive).

Time is the one thing it makes pass: a failed message becomes visible again at once (its visibility is set to
0, standing for the visibility timeout elapsing), so a poison message reaches the DLQ within one drain. The
file ledger must see that time pass too: a lease that would have ended before the message is visible again
(lease = remaining time + 60 s, visibility timeout = 6 x the function timeout: all of them, unless a test
shortens the timeout) is ended (``leaseUntil`` = 0, conditional on its owner). Otherwise a retry of a file
whose invocation died (the handler raised, as when Lambda kills it) or could not release it would find the
file "busy" until the DLQ took the message.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from handlers.contracts import LEDGER_SORT_KEY, LedgerStatus, ledger_id, ledger_key
from tap_templates.local import state
from tap_templates.local.container import Container
from tap_templates.local.deployment import Deployment
from tap_templates.local.report import DrainReport, FileReport, describe
from tap_templates.local.uploads import ObjectRef, objects_in


@dataclass(frozen=True)
class EventSource:
    """What a drain reads once, before its first receive: the mapping's, the function's and the queue's settings."""

    url: str
    batch_size: int
    partial: bool  # the mapping reports batch item failures
    remaining_ms: int  # what each invocation starts with
    visibility_s: int


def sqs_event(region: str, account: str, url: str, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The Lambda event of an SQS batch, as the event source mapping builds it."""
    arn = f"arn:aws:sqs:{region}:{account}:{url.rsplit('/', 1)[-1]}"
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": region,
    } for m in messages]}


def receive(sqs: Any, url: str, batch_size: int) -> list[dict[str, Any]]:
    """Up to ``batch_size`` messages, 10 per call as the poller does."""
    found: list[dict[str, Any]] = []
    while len(found) < batch_size:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, batch_size - len(found)),
                                   WaitTimeSeconds=0, AttributeNames=["All"],
                                   MessageAttributeNames=["All"]).get("Messages", [])
        if not page:
            break
        found += page
    return found


def failed_ids(response: dict[str, Any] | None, messages: Sequence[dict[str, Any]], partial: bool) -> set[str]:
    """The messages of a batch that go back to the queue: all of them after a function error, or when the
    mapping does not report batch item failures and the handler reported some."""
    everything = {m["MessageId"] for m in messages}
    if response is None:
        return everything
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    return everything if failed and not partial else failed


@dataclass
class Poller:
    """The event source mapping of each region of one deployed pipeline."""

    deployment: Deployment
    container: Container

    def drain(self, region: str, *, max_invocations: int = 1000, deadline_ms: int | None = None) -> DrainReport:
        """Poll the region's queue until it is empty (see the module doc); report what happened to each file.

        ``deadline_ms``: the remaining time each invocation starts with (default: the function's timeout), to
        make invocations run out of time mid-file."""
        d, report = self.deployment, DrainReport(region)
        mapping = d.mapping(region)
        if mapping["State"] != "Enabled":
            report.stopped = "disabled"
            report.messages_left = state.queue_depth(d, region)
            return report
        source = self._event_source(region, mapping, deadline_ms)
        sqs = d.client("sqs", region)
        files: dict[ObjectRef, FileReport] = {}
        report.stopped = "drained"
        while True:
            if report.invocations >= max_invocations:
                report.stopped = "max_invocations"
                break
            messages = receive(sqs, source.url, source.batch_size)
            if not messages:
                break
            self._count_deliveries(region, messages, files)
            self._invoke(region, source, messages, report)
        report.messages_left = state.queue_depth(d, region)
        letters = state.dead_letters(d, region)
        report.dead_letters = len(letters)
        report.files = describe(list(files.values()), state.summary_scan(d, region) if files else [], letters)
        return report

    def _event_source(self, region: str, mapping: dict[str, Any], deadline_ms: int | None) -> EventSource:
        d = self.deployment
        timeout_s = int(d.function_configuration(region)["Timeout"])
        url = d.queue_url(region)
        visibility = d.client("sqs", region).get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
        return EventSource(url=url, batch_size=int(mapping.get("BatchSize") or 10),
                           partial="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
                           remaining_ms=deadline_ms if deadline_ms is not None else timeout_s * 1000,
                           visibility_s=int(visibility["Attributes"]["VisibilityTimeout"]))

    def _count_deliveries(self, region: str, messages: Sequence[dict[str, Any]],
                          files: dict[ObjectRef, FileReport]) -> None:
        """Each object a message names is delivered once more; a duplicate when the ledger has its outcome."""
        for message in messages:
            for ref in objects_in(message["Body"]):
                file = files.setdefault(ref, FileReport(region, *ref))
                file.deliveries += 1
                if self._ledger_status(region, ref) in ("COMPLETED", "FAILED"):
                    file.duplicate_deliveries += 1

    def _invoke(self, region: str, source: EventSource, messages: list[dict[str, Any]], report: DrainReport) -> None:
        """One invocation with one batch, then what the mapping does with its messages."""
        sqs = self.deployment.client("sqs", region)
        event = sqs_event(region, self.deployment.account, source.url, messages)
        response = self.container.invoke(region, event, source.remaining_ms)
        report.messages_received += len(messages)
        report.invocations += 1
        if response is None:
            report.function_errors += 1
        failed = failed_ids(response, messages, source.partial)
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=source.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
        if retry:  # the visibility timeout elapsing (see the module doc)
            self.end_leases(region, source.visibility_s)
        for start in range(0, len(retry), 10):
            sqs.change_message_visibility_batch(QueueUrl=source.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(retry[start:start + 10])])
        report.messages_deleted += len(done)
        report.messages_retried += len(retry)

    def _ledger_status(self, region: str, ref: ObjectRef) -> str | None:
        _bucket, key, version_id, etag = ref
        item = self.deployment.client("dynamodb", region).get_item(
            TableName=self.deployment.table, Key=ledger_key(ledger_id(key, version_id, etag)),
            ConsistentRead=True).get("Item")
        return item["status"]["S"] if item and "status" in item else None

    def end_leases(self, region: str, seconds: int) -> int:
        """``seconds`` passing for the ledger: a lease that ends before then has ended (``leaseUntil`` = 0, only
        if its owner is unchanged). Returns leases ended."""
        ddb, table, ended = self.deployment.client("dynamodb", region), self.deployment.table, 0
        horizon = int(time.time() * 1000) + seconds * 1000
        names = {"#r": "recordId", "#t": "timestamp", "#s": "status", "#u": "leaseUntil", "#o": "leaseOwner"}
        for page in ddb.get_paginator("scan").paginate(
                TableName=table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names,
                FilterExpression="#t = :ledger AND #s = :in_progress AND #u < :horizon AND #u > :zero",
                ExpressionAttributeValues={":ledger": {"S": LEDGER_SORT_KEY},
                                           ":in_progress": {"S": LedgerStatus.IN_PROGRESS},
                                           ":horizon": {"N": str(horizon)}, ":zero": {"N": "0"}}):
            for item in page["Items"]:
                with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):
                    ddb.update_item(TableName=table, Key={"recordId": item["recordId"], "timestamp": item["timestamp"]},
                                    UpdateExpression="SET #u = :zero", ConditionExpression="#o = :owner",
                                    ExpressionAttributeNames={"#u": "leaseUntil", "#o": "leaseOwner"},
                                    ExpressionAttributeValues={":zero": {"N": "0"}, ":owner": item["leaseOwner"]})
                    ended += 1
        return ended
