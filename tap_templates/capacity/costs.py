"""The monthly bill of an environment at a sustained record rate, line by line.

Quantities come from three places: the rendered templates (``template_facts``: what exists, in which region),
the model run (``measure``: write units, bytes stored and logged per record and per file, requests per file),
and the config (``[capacity]``: how fast one invocation goes). Prices come from ``prices.json``. A month is
730 hours. Storage is the steady state: what is stored once the data has been arriving for its whole retention
(table items until their TTL, objects until their last lifecycle tier expires, logs until their retention).

What is assumed rather than measured is a named constant below, with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tap_templates.capacity.prices import PriceList
from tap_templates.capacity.table_shape import TABLE
from tap_templates.capacity.template_facts import RegionFacts

GB = 1024**3
DAY = 86_400
VCPU_MB = 1769  # Lambda gives one vCPU at 1,769 MB (Lambda Developer Guide, "Configuring function memory")
BATCH_ITEMS = 25  # BatchWriteItem's maximum, which the handler always fills
# Assumptions (not measured here):
SQS_REQUESTS_PER_FILE = 3  # the S3 notification's SendMessage, a ReceiveMessage and a DeleteMessage(Batch) at most
IDLE_POLL_REQUESTS = 5 * 3 * 60 * 730  # Lambda's SQS poller: about 5 long polls of 20 s at a time when idle
PLATFORM_LOG_BYTES = 600  # Lambda's own platform.start/report lines per invocation (JSON log format)
FLOW_LOG_RECORD_BYTES = 130  # one VPC flow log record
FLOW_CONNECTIONS = 8  # connections of one execution environment (S3, DynamoDB pool, SQS, ...), one record each
FLOW_RECORDS_PER_HOUR = 6  # per connection: the flow log's default 10-minute aggregation
KMS_REQUESTS_PER_FILE_PRIMARY = 2  # S3 SSE-KMS for the upload and the handler's read (bucket keys cut most)
KMS_REQUESTS_PER_FILE_SECONDARY = 1  # the replica's write
KMS_BACKGROUND_REQUESTS = 4 * 12 * 730  # per region: SQS, DynamoDB, Lambda, S3 refresh their data keys ~5 min
TRAIL_EVENTS_PER_FILE_PRIMARY = 2  # PutObject by the producer, GetObject by the handler
TRAIL_EVENTS_PER_FILE_SECONDARY = 1  # the replica's PutObject
TRACE_BYTES = 5_000  # one X-Ray trace sent through the X-Ray interface endpoint
XRAY_RESERVOIR_PER_SECOND = 1  # X-Ray's default sampling rule: the first request each second ...
XRAY_RATE = 0.05  # ... and 5% of the others
CONFIG_EVALUATIONS_PER_RULE = 30  # one evaluation a day per rule
S3_REQUEST_METRICS = 16  # metrics of one S3 request-metrics configuration (AllRequests ... TotalRequestLatency)
GLACIER_OVERHEAD_CLASS = 32 * 1024  # per object in Glacier tiers, at the tier's price (S3 pricing page)
GLACIER_OVERHEAD_STANDARD = 8 * 1024  # per object in Glacier tiers, at the Standard price
TIER_PRICES = {"STANDARD": "s3.standard", "STANDARD_IA": "s3.standard_ia", "GLACIER": "s3.glacier",
               "DEEP_ARCHIVE": "s3.deep_archive"}
TRANSITION_PRICES = {"STANDARD_IA": "s3.transition_standard_ia", "GLACIER": "s3.transition_glacier",
                     "DEEP_ARCHIVE": "s3.transition_deep_archive"}


@dataclass(frozen=True)
class Line:
    component: str
    item: str
    region: str
    quantity: float
    unit: str
    monthly: float


@dataclass(frozen=True)
class Throughput:
    """How fast one invocation goes: bound by its CPU share or by its writes in flight."""

    per_invocation: float
    cpu_bound: float
    write_bound: float
    write_concurrency: int
    vcpu: float


def throughput(memory_mb: int, records_per_second_per_vcpu: int, write_concurrency: int, batch_write_ms: int
               ) -> Throughput:
    # The handler's CPU work runs on one thread at a time (the GIL): more than one vCPU does not speed it up.
    vcpu = min(1.0, memory_mb / VCPU_MB)
    cpu = vcpu * records_per_second_per_vcpu
    writes = max(1, write_concurrency) * BATCH_ITEMS * 1000 / batch_write_ms
    return Throughput(min(cpu, writes), cpu, writes, write_concurrency, vcpu)


@dataclass(frozen=True)
class Workload:
    """The traffic of a month at ``rate`` records per second."""

    rate: float
    file_bytes: int
    month_seconds: float
    record_bytes: float  # input bytes per record (measured on the mix)

    @property
    def records(self) -> float:
        return self.rate * self.month_seconds

    @property
    def records_per_file(self) -> float:
        return max(1.0, self.file_bytes / self.record_bytes)

    @property
    def files(self) -> float:
        return self.records / self.records_per_file


@dataclass(frozen=True)
class Inputs:
    primary: str
    facts: dict[str, RegionFacts]
    measurement: dict[str, Any]
    throughput: Throughput
    ttl_days: int
    prices: PriceList


class Bill:
    def __init__(self, inputs: Inputs, work: Workload) -> None:
        self.inputs, self.work, self.lines = inputs, work, []
        self.p = inputs.prices

    def add(self, component: str, item: str, region: str, quantity: float, unit: str, price: str) -> None:
        self.lines.append(Line(component, item, region, quantity, unit, quantity * self.p[price]))


def _m(inputs: Inputs, name: str) -> dict[str, float]:
    return inputs.measurement[name]


def _per_record(inputs: Inputs, name: str) -> float:
    """Write units of ``name`` (table or index) per record of the mix, valid and rejected together."""
    m = inputs.measurement
    valid, rejected = m["valid"] / m["records"], m["rejected"] / m["records"]
    return valid * m["units_per_valid_record"][name] + rejected * m["units_per_rejected_record"][name]


def dynamodb(bill: Bill) -> None:
    i, w = bill.inputs, bill.work
    m, regions = i.measurement, tuple(i.measurement["table"]["regions"])
    names = m["indexes"]
    for name in names:
        units = w.records * _per_record(i, name) + w.files * m["units_per_file"][name]
        what = "table" if name == TABLE else f"index {name}"
        bill.add("DynamoDB writes", f"writes: {what}", i.primary, units, "write units", "dynamodb.write_request_unit")
    region_units = sum(w.records * _per_record(i, n) + w.files * m["units_per_file"][n] for n in names)
    ttl_units = (w.records * m["ttl_delete_units_per_record"]["total"]
                 + w.files * m["ttl_delete_units_per_file"]["total"])
    for region in regions:
        if region == i.primary:
            continue
        bill.add("DynamoDB writes", "replicated writes: table and indexes", region, region_units, "write units",
                 "dynamodb.replicated_write_request_unit")
        if m["table"]["ttl_attribute"]:
            bill.add("DynamoDB writes", "TTL deletes replicated from the region that expired them", region,
                     ttl_units, "write units", "dynamodb.replicated_write_request_unit")
    bill.add("DynamoDB writes", "reads: the ledger's content lookups", i.primary,
             w.files * m["read_units_per_file"], "read units", "dynamodb.read_request_unit")
    stored = w.rate * i.ttl_days * DAY
    storage = m["storage_bytes_per_record"]
    for region in regions:
        for name in names:
            what = "table" if name == TABLE else f"index {name}"
            bill.add("DynamoDB storage", f"{what} ({i.ttl_days} days of records)", region,
                     stored * storage[name] / GB, "GB-month", "dynamodb.storage")
        bill.add("DynamoDB storage", "point-in-time recovery (table size)", region, stored * storage[TABLE] / GB,
                 "GB-month", "dynamodb.pitr")
        if region != i.primary:
            item_bytes = storage[TABLE] - 100
            bill.add("Data transfer", "global table replication", region,
                     (w.records + 3 * w.files) * item_bytes / GB, "GB", "data_transfer.inter_region")
    _contributor_insights(bill, region_units)


def _contributor_insights(bill: Bill, region_units: float) -> None:
    i, w, m = bill.inputs, bill.work, bill.inputs.measurement
    tables = i.facts[i.primary].contributor_insights_tables
    if not tables:
        return
    rules = 4 if m["table"]["indexes"][0]["range_key"] else 2
    bill.add("CloudWatch", "Contributor Insights rules on the table", i.primary, tables * rules, "rule-months",
             "cloudwatch.contributor_insights_rule")
    table_writes = w.records + w.files * m["units_per_file"][TABLE]
    bill.add("CloudWatch", "Contributor Insights events (table writes and reads in every replica)", i.primary,
             tables * (table_writes + w.files * m["read_units_per_file"]), "events",
             "cloudwatch.contributor_insights_event")


def _tiers(bucket: Any) -> list[tuple[str, int]]:
    """(storage class, days an object spends in it) from the bucket's lifecycle."""
    marks = [("STANDARD", 0), *bucket.transitions]
    end = bucket.expiry_days or 365
    return [(cls, (marks[n + 1][1] if n + 1 < len(marks) else end) - day) for n, (cls, day) in enumerate(marks)]


def s3(bill: Bill) -> None:
    i, w = bill.inputs, bill.work
    daily_bytes = w.rate * DAY * w.record_bytes
    daily_files = daily_bytes / w.file_bytes
    for region, f in i.facts.items():
        bucket = f.ingest_bucket
        if bucket is None:
            continue
        primary = region == i.primary
        bill.add("S3", "PUT requests (uploads)" if primary else "PUT requests (replicas)", region, w.files,
                 "requests", "s3.put")
        if primary:
            bill.add("S3", "GET requests (the handler's reads)", region,
                     w.files * i.measurement["requests_per_file"].get("GetObject", 1), "requests", "s3.get")
        else:
            bill.add("Data transfer", "S3 replication", region, w.files * w.file_bytes / GB, "GB",
                     "data_transfer.inter_region")
        for cls, days in _tiers(bucket):
            bill.add("S3", f"storage {cls} ({days} days)", region, daily_bytes * days / GB, "GB-month",
                     TIER_PRICES[cls])
            if cls in ("GLACIER", "DEEP_ARCHIVE"):
                objects = daily_files * days
                bill.add("S3", f"{cls} per-object overhead", region, objects * GLACIER_OVERHEAD_CLASS / GB,
                         "GB-month", TIER_PRICES[cls])
                bill.add("S3", f"{cls} per-object overhead (Standard)", region,
                         objects * GLACIER_OVERHEAD_STANDARD / GB, "GB-month", "s3.standard")
            if cls in TRANSITION_PRICES:
                bill.add("S3", f"lifecycle transitions to {cls}", region, w.files, "requests", TRANSITION_PRICES[cls])
        if bucket.metrics_configurations and w.rate > 0:
            bill.add("CloudWatch", "S3 request metrics of the ingestion bucket", region,
                     bucket.metrics_configurations * S3_REQUEST_METRICS, "metric-months", "cloudwatch.metric")


def compute(bill: Bill) -> None:
    i, w, f = bill.inputs, bill.work, bill.inputs.facts[bill.inputs.primary]
    seconds = w.records / i.throughput.per_invocation if w.rate else 0.0
    price = "lambda.gb_second_arm" if f.function_arm else "lambda.gb_second_x86"
    bill.add("Lambda", f"duration at {f.function_memory_mb} MB, {i.throughput.per_invocation:,.0f} records/s "
             "per invocation", i.primary, seconds * f.function_memory_mb / 1024, "GB-seconds", price)
    bill.add("Lambda", "invocations (at most one per file)", i.primary, w.files, "requests", "lambda.request")
    if f.tracing:
        per_second = w.files / w.month_seconds
        sampled = min(per_second, XRAY_RESERVOIR_PER_SECOND) + XRAY_RATE * max(0.0, per_second - 1)
        traces = sampled * w.month_seconds
        bill.add("X-Ray", "traces (default sampling: 1 a second and 5% more)", i.primary, traces, "traces",
                 "xray.trace")
        bill.add("VPC endpoints", "data processed (X-Ray traces)", i.primary, traces * TRACE_BYTES / GB, "GB",
                 "vpc.interface_endpoint_data")


def queues_and_keys(bill: Bill) -> None:
    i, w = bill.inputs, bill.work
    for region, f in i.facts.items():
        primary = region == i.primary
        sqs = w.files * (SQS_REQUESTS_PER_FILE if primary else 1)
        bill.add("SQS", "notifications, receives and deletes" if primary else "notifications of replicas (queued)",
                 region, sqs, "requests", "sqs.request")
        if f.processing_by_default:
            bill.add("SQS", "the event source's idle long polling", region, IDLE_POLL_REQUESTS, "requests",
                     "sqs.request")
        bill.add("KMS", "customer managed keys", region, f.kms_keys, "key-months", "kms.key")
        per_file = KMS_REQUESTS_PER_FILE_PRIMARY if primary else KMS_REQUESTS_PER_FILE_SECONDARY
        bill.add("KMS", "requests", region, w.files * per_file + KMS_BACKGROUND_REQUESTS, "requests", "kms.request")


def observability(bill: Bill) -> None:
    i, w, m = bill.inputs, bill.work, bill.inputs.measurement
    for region, f in i.facts.items():
        primary = region == i.primary
        if primary and f.function_log_group:
            ingested = w.files * (m["log_bytes_per_file"] + PLATFORM_LOG_BYTES)
            _logs(bill, region, "the function's logs", ingested, f.log_groups[f.function_log_group],
                  "cloudwatch.logs_ingestion")
        if f.flow_log_group:
            environments = w.rate / i.throughput.per_invocation if primary and w.rate else 0.0
            ingested = environments * FLOW_CONNECTIONS * FLOW_RECORDS_PER_HOUR * 730 * FLOW_LOG_RECORD_BYTES
            _logs(bill, region, "VPC flow logs", ingested, f.log_groups[f.flow_log_group],
                  "cloudwatch.vended_logs_ingestion")
        if primary and w.rate:
            bill.add("CloudWatch", "the handler's metrics (EMF)", region, m["emf_metrics"], "metric-months",
                     "cloudwatch.metric")
        bill.add("CloudWatch", "alarm metrics", region, f.alarm_metrics, "alarm metric-months",
                 "cloudwatch.alarm_metric")
        bill.add("CloudWatch", "composite alarms", region, f.composite_alarms, "alarm-months",
                 "cloudwatch.composite_alarm")
        bill.add("CloudWatch", "dashboards", region, f.dashboards, "dashboard-months", "cloudwatch.dashboard")
        bill.add("VPC endpoints", "interface endpoints (hours x AZs)", region, f.interface_endpoint_azs * 730,
                 "endpoint-AZ-hours", "vpc.interface_endpoint_hour")
        if f.data_event_trails:
            per_file = TRAIL_EVENTS_PER_FILE_PRIMARY if primary else TRAIL_EVENTS_PER_FILE_SECONDARY
            bill.add("CloudTrail", "S3 data events of the ingestion bucket", region, w.files * per_file,
                     "events", "cloudtrail.data_event")
        bill.add("Route 53", "health checks", region, f.health_checks, "check-months", "route53.health_check")
        bill.add("Secrets Manager", "secrets and replicas", region, f.secrets, "secret-months",
                 "secretsmanager.secret")
        bill.add("Config", "rule evaluations", region, f.config_rules * CONFIG_EVALUATIONS_PER_RULE,
                 "evaluations", "config.rule_evaluation")


def _logs(bill: Bill, region: str, what: str, ingested: float, retention_days: int, price: str) -> None:
    bill.add("CloudWatch", f"{what}: ingestion", region, ingested / GB, "GB", price)
    bill.add("CloudWatch", f"{what}: storage ({retention_days} days)", region,
             ingested * retention_days / 30.4 / GB, "GB-month", "cloudwatch.logs_storage")


def bill(inputs: Inputs, work: Workload) -> list[Line]:
    """Every line of the month's bill at ``work.rate`` records per second (0: the environment at rest)."""
    result = Bill(inputs, work)
    for part in (dynamodb, s3, compute, queues_and_keys, observability):
        part(result)
    return [line for line in result.lines if line.quantity > 0]
