"""Did every object that arrived get processed, and do the table replicas agree?

Each region's ingestion bucket is listed (every object version modified in the window, delete markers and
keys without an ingest suffix left out, as the bucket's notifications leave them out), and each version is
looked up in the file ledger by its key: completed, failed (a DLQ message says why), in progress, retry
(redriven, not yet picked up) or missing (no ledger item: the event never reached a processor). The ledger
is read from the active region's table replica, where the handler writes. Then a sample of keys (the
window's ledger items and a page of records) is read from every replica and compared.

Discrepancies, which make the script exit 1: a missing or unfinished file (in progress or retry), replicas
that differ, a region that could not be read. A FAILED file is not one: its outcome is recorded, and the DLQ
alarm and the redrive runbook deal with it.

``backfill`` puts a missing or stalled file's S3 event back on an ingest queue, built like S3's own (key
URL-encoded, size, eTag, versionId), so the handler cannot tell it from the original: on the active region's
queue when its bucket has that version, else on the queue of the region whose bucket has it (the processor may
read only its own region's bucket), where it waits until that region is active again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from handlers.contracts import LEDGER_ITEM_TYPE, LedgerStatus, ledger_id, ledger_key, s3_event, s3_event_record
from tap_templates import naming
from tap_templates.errors import ConfigError
from tap_templates.operations import ledger_reads
from tap_templates.operations.environment import (
    Environment,
    OperationError,
    Unreachable,
    active_region,
    reaching,
    read_states,
)

RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MISSING = "MISSING"
STATUSES = (LedgerStatus.COMPLETED, LedgerStatus.FAILED, LedgerStatus.IN_PROGRESS, LedgerStatus.RETRY, MISSING)
UNFINISHED = (LedgerStatus.IN_PROGRESS, LedgerStatus.RETRY, MISSING)
SEND_BATCH = 10
BACKFILL_CONFIGURATION_ID = "tap-reconcile-backfill"


def parse_time(value: str, flag: str, now: dt.datetime | None = None) -> dt.datetime:
    """ISO 8601 (a time without zone is UTC) or a duration ago: ``90s``, ``30m``, ``2h``, ``7d``, ``1w``."""
    now = now or dt.datetime.now(dt.UTC)
    text = value.strip()
    relative = RELATIVE.match(text)
    if relative:
        return now - dt.timedelta(seconds=int(relative.group(1)) * UNITS[relative.group(2)])
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a time: give ISO 8601 (2025-01-31T14:00Z) or a duration "
                          f"ago (30m, 2h, 7d)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def window(since: str, until: str | None, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    now = now or dt.datetime.now(dt.UTC)
    start = parse_time(since, "--since", now)
    end = parse_time(until, "--until", now) if until else now
    if start >= end:
        raise ConfigError(f"--since ({start.isoformat(timespec='seconds')}) must be before --until "
                          f"({end.isoformat(timespec='seconds')})")
    if start > now:
        raise ConfigError(f"--since {since!r} is in the future")
    return start, end


@dataclass(frozen=True)
class Version:
    """One object version in one region's bucket, and its ledger item's ID."""

    region: str
    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    last_modified: dt.datetime

    @property
    def ledger_id(self) -> str:
        return ledger_id(self.key, self.version_id, self.etag)


@dataclass
class RegionReport:
    region: str
    bucket: str
    counts: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    error: str = ""


@dataclass
class Finding:
    """A file whose ledger status is worth listing (not completed), with every bucket that holds it."""

    ledger_id: str
    status: str
    versions: list[Version]
    item: dict[str, Any] | None

    @property
    def key(self) -> str:
        return self.versions[0].key

    @property
    def stalled(self) -> bool:
        """Not finished and nobody working on it: no live lease."""
        if self.status in (MISSING, LedgerStatus.RETRY):
            return True
        until = (self.item or {}).get("leaseUntil")
        return self.status == LedgerStatus.IN_PROGRESS and (until is None or int(until) < time.time() * 1000)

    def describe(self) -> str:
        where = ", ".join(sorted({v.region for v in self.versions}))
        v = self.versions[0]
        extra = ""
        if self.item and self.status == LedgerStatus.FAILED:
            extra = f" {self.item.get('failureReason', '?')}"
        elif self.item and self.status == LedgerStatus.IN_PROGRESS:
            extra = f" ({'stalled' if self.stalled else 'lease held'}, {self.item.get('records', 0)} records so far)"
        return f"{self.status}{extra}: {v.key} version {v.version_id} ({v.size} bytes) in {where}"


@dataclass
class Report:
    since: dt.datetime
    until: dt.datetime
    ledger_region: str | None
    active: str | None
    regions: list[RegionReport]
    findings: list[Finding]
    sampled: int = 0
    replica_differences: list[str] = field(default_factory=list)

    def by_status(self, *statuses: str) -> list[Finding]:
        return [f for f in self.findings if f.status in statuses]

    @property
    def discrepancies(self) -> list[str]:
        return self.remaining(set())

    def remaining(self, handled: set[str]) -> list[str]:
        """The discrepancies, less the files whose ledger IDs are in ``handled`` (e.g. just backfilled)."""
        found = [f"{r.region}: {r.error}" for r in self.regions if r.error]
        found += [f.describe() for f in self.by_status(*UNFINISHED) if f.ledger_id not in handled]
        found += self.replica_differences
        return found


def list_versions(env: Environment, region: str, since: dt.datetime, until: dt.datetime, prefix: str = "",
                  report: RegionReport | None = None) -> Iterator[Version]:
    """Object versions modified in [since, until) with an ingest suffix (delete markers carry no data)."""
    bucket = env.bucket(region)
    pages = env.client("s3", region).get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    with reaching(region):
        for page in pages:
            for v in page.get("Versions", []):
                if not since <= v["LastModified"] < until:
                    continue
                if not v["Key"].endswith(naming.INGEST_SUFFIXES):
                    if report is not None:
                        report.ignored += 1
                    continue
                yield Version(region, bucket, v["Key"], v.get("VersionId"), v.get("ETag", "").strip('"'),
                              int(v.get("Size", 0)), v["LastModified"])


def _ledger_region(env: Environment, active: str | None, readable: list[str]) -> str | None:
    for region in ([active] if active else []) + [env.cfg.primary_region, *env.cfg.secondary_regions]:
        if region in readable:
            return region
    return None


def _comparable(item: dict[str, Any]) -> dict[str, Any]:
    """Global tables version 2017 added ``aws:rep:*`` bookkeeping attributes; they differ by design."""
    return {k: v for k, v in item.items() if not k.startswith("aws:rep:")}


def compare_replicas(env: Environment, source: str, regions: list[str], lids: list[str],
                     sample: int) -> tuple[int, list[str]]:
    """Read the sample from ``source`` (ledger items, then a page of any items) and from each other replica;
    every difference is one line naming the key and what each region has."""
    table = env.table
    dynamodb = env.client("dynamodb", source)
    keys = [ledger_key(lid) for lid in sorted(lids)[:sample]]
    with reaching(source):
        page = dynamodb.scan(TableName=table, Limit=sample, ProjectionExpression="recordId, #ts",
                             ExpressionAttributeNames={"#ts": "timestamp"}).get("Items", [])
    keys += [k for k in page if k not in keys]
    differences = []
    for key in keys:
        label = f"{key['recordId']['S']}/{key['timestamp']['S']}"
        with reaching(source):
            found = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        expected = _comparable(ledger_reads.plain(found)) if found else None
        for region in regions:
            if region == source:
                continue
            try:
                with reaching(region):
                    other = env.client("dynamodb", region).get_item(TableName=table, Key=key).get("Item")
            except Unreachable as exc:
                differences.append(f"{region} replica unreachable: {exc.reason}")
                return len(keys), differences
            actual = _comparable(ledger_reads.plain(other)) if other else None
            if actual != expected:
                differences.append(f"replicas differ on {label}: {source} {_summary(expected)}, "
                                   f"{region} {_summary(actual)}")
    return len(keys), differences


def _summary(item: dict[str, Any] | None) -> str:
    if item is None:
        return "has no item"
    if item.get("itemType") == LEDGER_ITEM_TYPE:
        return f"{item.get('status')} (records {item.get('records')}, updated {item.get('updatedAt')})"
    return f"item updated {item.get('updatedAt') or item.get('processedAt') or '?'}"


def run(env: Environment, since: dt.datetime, until: dt.datetime, sample: int = 20, prefix: str = "") -> Report:
    """Read-only: list, look up, compare. Unreachable regions become discrepancies, not exceptions."""
    states = read_states(env)
    active = active_region(states)
    reports: list[RegionReport] = []
    versions: dict[str, list[Version]] = {}
    for region in states:
        report = RegionReport(region, env.bucket(region))
        reports.append(report)
        try:
            for v in list_versions(env, region, since, until, prefix, report):
                versions.setdefault(v.ledger_id, []).append(v)
        except Unreachable as exc:
            report.error = f"bucket {report.bucket} unreadable: {exc.reason}"
    readable = [r.region for r in reports if not r.error]
    source = _ledger_region(env, active, readable)
    items: dict[str, dict[str, Any]] = {}
    if source is not None:
        try:
            with reaching(source):
                items = {i["recordId"]: i for i in ledger_reads.read_many(env.client("dynamodb", source), env.table,
                                                                     versions)}
        except Unreachable as exc:
            next(r for r in reports if r.region == source).error = f"table unreadable: {exc.reason}"
            source = None
    findings = []
    for lid, found in sorted(versions.items(), key=lambda kv: (kv[1][0].key, kv[1][0].last_modified)):
        item = items.get(lid)
        status = str(item.get("status")) if item else MISSING
        for v in found:
            next(r for r in reports if r.region == v.region).counts[status] += 1
        if status != LedgerStatus.COMPLETED:
            findings.append(Finding(lid, status, found, item))
    result = Report(since, until, source, active, reports, findings)
    if source is not None and sample > 0:
        try:
            result.sampled, result.replica_differences = compare_replicas(
                env, source, [r for r in readable if r != source], list(items), sample)
        except Unreachable as exc:
            result.replica_differences.append(f"{source} table unreadable for the sample: {exc.reason}")
    return result


# --- backfill ------------------------------------------------------------------------------------------------


def backfill_event(version: Version, when: dt.datetime | None = None) -> dict[str, Any]:
    """The notification S3 sends for a new object version, as the handler receives it."""
    return s3_event(s3_event_record(
        bucket=version.bucket, key=version.key, region=version.region, size=version.size, etag=version.etag,
        version_id=version.version_id, when=when or dt.datetime.now(dt.UTC), principal="tap-reconcile",
        configuration_id=BACKFILL_CONFIGURATION_ID))


@dataclass(frozen=True)
class Backfill:
    """Where one file's event goes, and why there."""

    finding: Finding
    region: str
    version: Version
    note: str = ""

    def describe(self) -> str:
        return f"{self.finding.key} version {self.version.version_id} -> {self.region} ingest queue{self.note}"


def backfill_plan(report: Report) -> list[Backfill]:
    """Missing and stalled files, each to the active region when its bucket has the version, else to a region
    that has it (waiting there until that region is active)."""
    if report.active is None:
        raise OperationError("no single active region to backfill to: finish the failover first "
                             "(python scripts/failover.py status)")
    plans = []
    for finding in report.findings:
        if finding.status not in UNFINISHED or not finding.stalled:
            continue
        here = [v for v in finding.versions if v.region == report.active]
        if here:
            plans.append(Backfill(finding, report.active, here[0]))
        else:
            v = finding.versions[0]
            plans.append(Backfill(finding, v.region, v, f" (not in {report.active}'s bucket: processed once "
                                                        f"{v.region} is active)"))
    return plans


def backfill(env: Environment, plans: list[Backfill],
             on_sent: Callable[[Backfill], None] = lambda plan: None) -> int:
    """Send the events, ten per call, reporting each one sent; returns how many were sent (a failed send raises
    ``OperationError`` after reporting the ones sent before it)."""
    sent = 0
    by_region: dict[str, list[Backfill]] = {}
    for p in plans:
        by_region.setdefault(p.region, []).append(p)
    for region, group in by_region.items():
        url = env.ingest_queue_url(region)
        sqs = env.client("sqs", region)
        for start in range(0, len(group), SEND_BATCH):
            batch = group[start:start + SEND_BATCH]
            entries = [{"Id": str(i), "MessageBody": json.dumps(backfill_event(p.version)),
                        "MessageAttributes": {"source": {"DataType": "String", "StringValue": "reconcile"}}}
                       for i, p in enumerate(batch)]
            with reaching(region):
                response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            for success in response.get("Successful", []):
                on_sent(batch[int(success["Id"])])
            if response.get("Failed"):
                failed = response["Failed"][0]
                raise OperationError(f"backfill to {region} failed after {sent + len(response.get('Successful', []))}"
                                     f" sent: {failed.get('Code')}: {failed.get('Message', '')}")
            sent += len(batch)
    return sent
