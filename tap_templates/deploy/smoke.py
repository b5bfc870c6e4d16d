"""The smoke check after a deploy: one small canary file of known records through the active region's pipeline.

``check`` runs these steps in order and stops at the first that fails, naming it:

1. ``active region``: the region whose event source mapping (on its ingest queue) is enabled;
2. ``upload``: a JSON Lines file of valid and invalid ``sensor`` records, with a run ID in every record and in
   its key (``smoke/<run>.jsonl``, ``naming.smoke_object_key``), into that region's ingestion bucket: S3's own
   notification queues it;
3. ``ledger``: waits (timeout, progress) for the file's ledger item (``handlers.contracts.ledger_id``) to be
   COMPLETED with the expected processed and rejected counts; FAILED, or the file in the DLQ, fails at once;
4. ``records``: every valid record is in the table as PROCESSED and every invalid one as REJECTED, both with
   ``sourceFile`` = the ledger ID: the valid ones by data type and id, the rejected ones of the file through the
   time index (``operations.queries``, the queries ``tap query`` runs);
5. ``dead letters``: the DLQ holds nothing about the canary file (other files' new letters are only noted);
6. ``alarms``: the region's key alarms (``monitoring.KEY_ALARMS``, names from the rendered template) exist and
   none is in ALARM;
7. ``clean up`` (always, once something was uploaded): deletes every version of the canary object in every
   region's bucket, its record items, its content item and any dead letter about it. The ledger item stays, set
   to expire in ``LEDGER_KEEP_DAYS``: a replica of the canary that reaches a passive region's queue later (S3
   replication is asynchronous) is then a no-op there after a promotion instead of writing the records again.

Nothing here knows about the emulator: the same calls go to AWS or to moto, where ``tap_templates.local`` plays
Lambda's poller between polls (``on_progress``).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote_plus

from botocore.exceptions import BotoCoreError, ClientError

from handlers.contracts import CONTENT_SORT_KEY, LedgerStatus, ledger_id, ledger_key
from handlers.ledger import content_id
from tap_templates import naming
from tap_templates.components.monitoring import KEY_ALARMS
from tap_templates.config import PipelineConfig
from tap_templates.deploy.aws import Aws
from tap_templates.operations import queries
from tap_templates.operations.environment import Environment
from tap_templates.render import render

DEFAULT_TIMEOUT_SECONDS = 300.0
LEDGER_KEEP_DAYS = 15  # longer than SQS keeps a message (14 days at most)
VALID, INVALID = 3, 2


class Failed(Exception):
    """A step of the smoke check failed; the message says why in one line."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step, self.reason = step, reason


@dataclass(frozen=True)
class Progress:
    step: str
    detail: str
    elapsed: float
    done: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class SmokeResult:
    region: str | None = None
    key: str = ""
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and bool(self.steps)

    @property
    def failed_step(self) -> str:
        return next((s.name for s in self.steps if not s.ok), "")

    @property
    def reason(self) -> str:
        return next((s.detail for s in self.steps if not s.ok), "")

    def describe(self) -> list[str]:
        uploaded = any(s.name == "upload" and s.ok for s in self.steps)
        lines = [f"smoke check in {self.region or '(no active region)'}: "
                 f"{self.key if uploaded else '(nothing uploaded)'}"]
        lines += [f"  {'ok  ' if s.ok else 'FAIL'}  {s.name.ljust(12)}  {s.detail} ({s.seconds:.1f} s)"
                  for s in self.steps]
        lines.append(f"smoke check {'passed' if self.ok else 'FAILED at ' + self.failed_step} in "
                     f"{sum(s.seconds for s in self.steps):.1f} s")
        return lines


class Printer:
    """Progress on a terminal (one live line) or in a log (a line when the step changes, then every 10 s)."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.live, self.last = out, out.isatty(), ("", -10.0)

    def __call__(self, p: Progress) -> None:
        text = f"  smoke: {p.step}: {p.detail} ({p.elapsed:.0f} s)"
        if self.live:
            self.out.write("\r\033[K" + text + ("\n" if p.done else ""))
            self.out.flush()
        elif p.step != self.last[0] or p.elapsed - self.last[1] >= 10 or p.done:
            print(text, file=self.out)
            self.last = (p.step, p.elapsed)


@dataclass(frozen=True)
class Canary:
    """The canary file of one run and what the pipeline must make of it."""

    key: str
    body: bytes
    timestamp: str
    ids: tuple[str, ...]  # of the valid records (data type ``sensor``)

    @classmethod
    def make(cls, run_id: str, now: datetime) -> Canary:
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        valid = [{"id": f"smoke-{run_id}-{i}", "dataType": "sensor", "timestamp": stamp, "deviceId": "smoke-check",
                  "metric": "temperature", "value": 20.0 + i, "unit": "C"} for i in range(VALID)]
        invalid = [json.dumps({"id": f"smoke-{run_id}-bad", "dataType": "sensor", "timestamp": stamp,
                               "deviceId": "smoke-check", "metric": "temperature", "value": "not a number"}),
                   "this line is not JSON"]
        lines = [json.dumps(r, sort_keys=True) for r in valid] + invalid
        return cls(naming.smoke_object_key(run_id), ("\n".join(lines) + "\n").encode(), stamp,
                   tuple(r["id"] for r in valid))


@dataclass
class Run:
    """One smoke check in progress: where, what was uploaded, what to remove."""

    cfg: PipelineConfig
    aws: Aws
    canary: Canary
    timeout: float
    poll: float
    on_progress: ProgressCallback
    started: float = field(default_factory=time.monotonic)
    region: str = ""
    version_id: str | None = None
    ledger: str = ""
    dead_letters_before: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def client(self, service: str, region: str | None = None) -> Any:
        return self.aws.client(service, region or self.region)

    def bucket(self, region: str | None = None) -> str:
        return naming.resolve(naming.ingest_bucket(self.cfg, region or self.region), self.aws.account,
                              self.aws.partition)

    def queue_url(self, dead_letter: bool = False) -> str:
        name = naming.dead_letter_queue(self.cfg) if dead_letter else naming.ingest_queue(self.cfg)
        return self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def tell(self, step: str, detail: str, done: bool = False) -> None:
        self.on_progress(Progress(step, detail, self.elapsed(), done))


# --- the steps -------------------------------------------------------------------------------------------------


def active_region(run: Run) -> str:
    enabled = []
    for region in run.cfg.regions:
        arn = naming.resolve(naming.queue_arn(region, naming.ingest_queue(run.cfg)), run.aws.account,
                             run.aws.partition)
        mappings = run.client("lambda", region).list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
        if any(m.get("State") == "Enabled" for m in mappings):
            enabled.append(region)
    if len(enabled) != 1:
        raise Failed("active region", "no region's event source is enabled" if not enabled else
                     f"more than one region processes ({', '.join(enabled)}): finish the failover first")
    return enabled[0]


def upload(run: Run) -> str:
    run.dead_letters_before = depth(run)
    response = run.client("s3").put_object(Bucket=run.bucket(), Key=run.canary.key, Body=run.canary.body,
                                          ContentType="application/x-ndjson")
    run.version_id = response.get("VersionId")
    run.ledger = ledger_id(run.canary.key, run.version_id, response["ETag"].strip('"'))
    return f"s3://{run.bucket()}/{run.canary.key} ({len(run.canary.body)} bytes, {VALID} valid and {INVALID} " \
           f"invalid records)"


def dead_letters_about(run: Run, limit: int = 100, remove: bool = False) -> int:
    """Letters in the DLQ naming the canary, read without hiding them (visibility timeout 0); with ``remove``
    they are deleted (the rest stays as it was)."""
    sqs, url, found, seen = run.client("sqs"), run.queue_url(dead_letter=True), 0, 0
    needles = (run.canary.key, quote_plus(run.canary.key, safe="/"), quote_plus(run.canary.key, safe=""))
    while seen < limit:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                   WaitTimeSeconds=0).get("Messages", [])
        if not page:
            break
        seen += len(page)
        ours = [m for m in page if any(n in m["Body"] for n in needles)]
        found += len(ours)
        for message in ours if remove else ():
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def wait_for_ledger(run: Run) -> dict[str, Any]:
    table, status = naming.table(run.cfg), "no ledger item yet"
    while True:
        item = run.client("dynamodb").get_item(TableName=table, Key=ledger_key(run.ledger),
                                               ConsistentRead=True).get("Item")
        status = item["status"]["S"] if item and "status" in item else status
        if status == LedgerStatus.COMPLETED:
            return item
        if status == LedgerStatus.FAILED:
            raise Failed("ledger", f"the canary file FAILED: {item.get('failureReason', {}).get('S', '?')} "
                                   f"{item.get('failureMessage', {}).get('S', '')}".rstrip())
        if dead_letters_about(run, limit=20):
            raise Failed("ledger", f"the canary file was dead-lettered (ledger: {status})")
        if run.elapsed() > run.timeout:
            raise Failed("ledger", f"no COMPLETED ledger item after {run.timeout:.0f} s (ledger: {status}): is "
                                   "the function failing? see its errors alarm and logs")
        run.tell("ledger", f"waiting for the canary file's ledger item to be COMPLETED ({status})")
        time.sleep(run.poll)


def check_counts(item: dict[str, Any]) -> str:
    processed, rejected = int(item["processed"]["N"]), int(item["rejected"]["N"])
    if (processed, rejected) != (VALID, INVALID):
        raise Failed("ledger", f"the ledger counts {processed} processed and {rejected} rejected records; the "
                               f"canary has {VALID} valid and {INVALID} invalid")
    return f"COMPLETED: {processed} processed, {rejected} rejected (attempts {item.get('attempts', {}).get('N')})"


def _records(run: Run) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The canary's processed records (by data type and id) and its rejected ones (of the file, by the index)."""
    table = queries.TableQueries(Environment(run.cfg, run.aws), run.region)
    processed = [item for rid in run.canary.ids for item in table.record("sensor", rid)
                 if item.get("sourceFile", {}).get("S") == run.ledger
                 and item.get("processingStatus", {}).get("S") == "PROCESSED"]
    found, _ = table.rejected(queries.Window("", ""), source_file=run.ledger)
    rejected = [item for item in found if item.get("processingStatus", {}).get("S") == "REJECTED"]
    return processed, rejected


def check_records(run: Run, ledger_item: dict[str, Any]) -> str:
    """The index is eventually consistent: asked again until the counts match or the time is up."""
    while True:
        processed, rejected = _records(run)
        run.items = processed + rejected
        if (len(processed), len(rejected)) == (VALID, INVALID):
            return f"{len(processed)} PROCESSED and {len(rejected)} REJECTED items from the canary file"
        if run.elapsed() > run.timeout:
            raise Failed("records", f"found {len(processed)} of {VALID} valid and {len(rejected)} of {INVALID} "
                                    "rejected records of the canary file in the table")
        run.tell("records", "waiting for the canary's records in the table")
        time.sleep(run.poll)


def check_dead_letters(run: Run) -> str:
    ours = dead_letters_about(run)
    if ours:
        raise Failed("dead letters", f"{ours} dead letter(s) about the canary file")
    grown = depth(run) - run.dead_letters_before
    return "no dead letter about the canary" + (f" ({grown} new for other files: see redrive.py)" if grown > 0
                                                else "")


def depth(run: Run) -> int:
    attributes = run.client("sqs").get_queue_attributes(
        QueueUrl=run.queue_url(dead_letter=True),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(v) for v in attributes.values())


def key_alarm_names(cfg: PipelineConfig, region: str) -> list[str]:
    body = next(json.loads(t.body) for t in render(cfg).templates if t.region == region)
    return sorted(r["Properties"]["AlarmName"] for logical_id, r in body["Resources"].items()
                  if logical_id in KEY_ALARMS)


def check_alarms(run: Run) -> str:
    names = key_alarm_names(run.cfg, run.region)
    found = {a["AlarmName"]: a for a in run.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]}
    missing = [n for n in names if n not in found]
    if missing:
        raise Failed("alarms", f"key alarm(s) not found: {', '.join(missing)}")
    firing = [f"{n} ({found[n].get('StateReason', '')})" for n in names if found[n]["StateValue"] == "ALARM"]
    if firing:
        raise Failed("alarms", f"in ALARM: {'; '.join(firing)}")
    return f"{len(names)} key alarms, none in ALARM ({', '.join(sorted({found[n]['StateValue'] for n in names}))})"


def _versions(run: Run, region: str) -> list[dict[str, Any]]:
    found = run.client("s3", region).list_object_versions(Bucket=run.bucket(region), Prefix=run.canary.key)
    return [v for v in [*found.get("Versions", []), *found.get("DeleteMarkers", [])] if v["Key"] == run.canary.key]


def _content_keys(run: Run, region: str, version: dict[str, Any]) -> set[str]:
    """The candidate content items of an object version, one per checksum S3 stores for it."""
    head = run.client("s3", region).head_object(Bucket=run.bucket(region), Key=run.canary.key,
                                                VersionId=version["VersionId"], ChecksumMode="ENABLED")
    return {content_id(run.canary.key, version["Size"], name.removeprefix("Checksum"), value)
            for name, value in head.items() if name.startswith("Checksum") and name != "ChecksumType"}


def clean_up(run: Run) -> str:
    """Every version of the canary object in every region's bucket (replicas too), its items and its content
    item; the ledger item is kept, set to expire (see the module doc)."""
    removed, content_keys = 0, set()
    for region in run.cfg.regions:
        for version in _versions(run, region):
            if "Size" in version:
                content_keys |= _content_keys(run, region, version)
            run.client("s3", region).delete_object(Bucket=run.bucket(region), Key=run.canary.key,
                                                   VersionId=version["VersionId"])
            removed += 1
    ddb, table = run.client("dynamodb"), naming.table(run.cfg)
    keys = [{"recordId": i["recordId"], "timestamp": i["timestamp"]} for i in run.items]
    keys += [{"recordId": {"S": c}, "timestamp": {"S": CONTENT_SORT_KEY}} for c in sorted(content_keys)]
    for key in keys:
        ddb.delete_item(TableName=table, Key=key)
    expires = str(int(time.time()) + LEDGER_KEEP_DAYS * 86400)
    with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):  # the function never wrote one
        ddb.update_item(TableName=table, Key=ledger_key(run.ledger), UpdateExpression="SET expiresAt = :e",
                        ConditionExpression="attribute_exists(recordId)",
                        ExpressionAttributeValues={":e": {"N": expires}})
    letters = dead_letters_about(run, remove=True)
    return f"removed {removed} object version(s), {len(keys)} item(s) and {letters} dead letter(s); the ledger " \
           f"item expires in {LEDGER_KEEP_DAYS} days"


# --- the check -------------------------------------------------------------------------------------------------


def _step(run: Run, result: SmokeResult, name: str, action: Callable[[], str]) -> None:
    """Run one step and record it; an AWS refusal fails the step with AWS's message."""
    started = time.monotonic()
    run.tell(name, "...")
    try:
        detail = action()
    except Failed as exc:
        result.steps.append(Step(exc.step, False, exc.reason, time.monotonic() - started))
        run.tell(name, exc.reason, done=True)
        raise
    except (ClientError, BotoCoreError) as exc:
        result.steps.append(Step(name, False, f"AWS refused: {exc}", time.monotonic() - started))
        run.tell(name, str(exc), done=True)
        raise Failed(name, str(exc)) from None
    result.steps.append(Step(name, True, detail, time.monotonic() - started))
    run.tell(name, detail, done=True)


def _steps(run: Run, result: SmokeResult) -> None:
    """Steps 1 to 6; raises ``Failed`` at the first that fails (already recorded in ``result``)."""
    def find() -> str:
        run.region = result.region = active_region(run)
        return f"{run.region} processes (its event source is enabled)"

    ledger_item: dict[str, Any] = {}

    def ledger() -> str:
        ledger_item.update(wait_for_ledger(run))
        return check_counts(ledger_item)

    _step(run, result, "active region", find)
    _step(run, result, "upload", lambda: upload(run))
    _step(run, result, "ledger", ledger)
    _step(run, result, "records", lambda: check_records(run, ledger_item))
    _step(run, result, "dead letters", lambda: check_dead_letters(run))
    _step(run, result, "alarms", lambda: check_alarms(run))


def check(cfg: PipelineConfig, aws: Aws, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
          on_progress: ProgressCallback | None = None, poll_seconds: float = 2.0) -> SmokeResult:
    """Run the smoke check (see the module doc); the result says which step failed and why."""
    run = Run(cfg, aws, Canary.make(uuid.uuid4().hex[:12], datetime.now(UTC)), timeout_seconds, poll_seconds,
              on_progress or (lambda p: None))
    result = SmokeResult(key=run.canary.key)
    with contextlib.suppress(Failed):
        try:
            _steps(run, result)
        finally:
            if run.ledger:  # something was uploaded
                _step(run, result, "clean up", lambda: clean_up(run))
    return result
