"""The typed pipeline configuration and its loader.

Every template property that an operator may want to change comes from here, so a reviewer can read one
TOML file and know what a region's stack will contain. Loading validates everything up front: a bad value
is reported as one ``ConfigError`` line naming the key and the fix, never as a traceback from deep inside
the template code.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

from handlers.contracts import DEFAULT_DATA_TYPE_SHARDS, DEFAULT_REJECTED_SHARDS, MAX_SHARDS
from tap_templates import naming, regions, shipped
from tap_templates.errors import ConfigError

CONFIG_DIR = shipped.folder("config")  # the shipped environments (dev, prod)
OWN_CONFIG_DIR = Path("config")  # a user's own environments, relative to the working directory

ENV_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PROJECT_NAME = ENV_NAME
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REQUIRED_TAGS = ("CostCenter", "Repository", "Owner")
RELEASE_STRATEGIES = ("canary", "all-at-once")
# Fields that make up a record's table key: the handler refuses to pseudonymize them.
RECORD_KEY_FIELDS = ("id", "dataType", "timestamp")
# SQS keeps a message at most 14 days (MessageRetentionPeriod, Amazon SQS Developer Guide, "Amazon SQS quotas").
SQS_MAX_RETENTION_DAYS = 14
# The private subnets of an isolated network, one per zone.
ISOLATED_ZONE_COUNT = 2


@dataclass(frozen=True)
class ProcessorConfig:
    """Sizing of the Lambda function and its SQS event source."""

    memory_mb: int = 1024
    timeout_seconds: int = 300
    reserved_concurrency: int = 20
    max_concurrency: int = 10
    batch_size: int = 10
    batching_window_seconds: int = 5
    max_receive_count: int = 5
    record_ttl_days: int = 365
    max_object_mb: int = 2048
    max_decompression_ratio: int = 100
    log_level: str = "INFO"


@dataclass(frozen=True)
class RetentionConfig:
    """How long data, logs and old object versions are kept, and when objects change storage class."""

    log_days: int = 365  # a year at least: AWS Control Tower control CT.CLOUDWATCH.PR.2
    object_expiry_days: int = 365
    transition_ia_days: int = 30
    transition_glacier_days: int = 90
    transition_deep_archive_days: int = 180
    noncurrent_version_days: int = 30
    access_log_days: int = 90
    abort_multipart_days: int = 7
    # A message moved to a standard DLQ keeps its first enqueue time, so the DLQ keeps it for its own retention
    # minus the time it spent in the ingest queue: the two must fit in SQS's 14 days (queues.py).
    ingest_queue_days: int = 4
    dead_letter_days: int = 10


@dataclass(frozen=True)
class AlarmConfig:
    """Who hears about alarms and how sensitive they are."""

    email: str = ""
    queue_age_seconds: int = 900
    duration_fraction: float = 0.8
    concurrency_fraction: float = 0.8
    replication_latency_ms: int = 60_000


@dataclass(frozen=True)
class NetworkConfig:
    """VPC isolation of the processor: private subnets, endpoints, no route to the internet."""

    isolated: bool = True
    cidr: str = "10.40.0.0/16"
    # Availability Zone IDs (the same physical zones in every account, unlike zone names) of the two private
    # subnets, per region; a region not listed uses its az1 and az2 (``subnet_zone_ids``). The deploy's
    # pre-flight checks that every endpoint service is offered in them.
    zone_ids: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditConfig:
    """Account-level governance; off by default in dev because a trail and Config rules cost money."""

    cloudtrail: bool = False
    config_rules: bool = False
    trail_log_days: int = 365


@dataclass(frozen=True)
class PseudonymizationConfig:
    """Personal-data fields replaced by a keyed HMAC before storing, per data type (dotted paths)."""

    enabled: bool = True
    fields: dict[str, list[str]] = field(default_factory=lambda: {
        "event": ["properties.email", "properties.phone", "properties.userId"],
    })


@dataclass(frozen=True)
class FailoverConfig:
    """DNS failover for producers; without a hosted zone no DNS resources are rendered."""

    hosted_zone_id: str = ""
    record_name: str = ""


@dataclass(frozen=True)
class StackSetConfig:
    """How StackSet operations roll out; the defaults are the cautious ones."""

    permission_model: str = "SELF_MANAGED"
    max_concurrent_count: int = 1
    failure_tolerance_count: int = 0
    region_concurrency: str = "SEQUENTIAL"
    accounts: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()
    # Service-managed only: deploy to accounts that join the OUs, and keep their stacks when they leave.
    auto_deployment: bool = True
    retain_stacks_on_account_removal: bool = True


@dataclass(frozen=True)
class CapacityConfig:
    """What the capacity model (``tap estimate``) cannot read from a template: how fast one invocation of the
    handler goes, and this account's quotas. The defaults are the benchmark's figure and AWS's default quotas;
    set them to what you measured or were granted."""

    # Records per second the handler processes on one vCPU with writes answered at once (bench/handler_bench.py,
    # whole handler): about 45,000 on the benchmark machine. Lambda gives 1 vCPU per 1,769 MB of memory.
    records_per_second_per_vcpu: int = 45_000
    # Round trip of one BatchWriteItem of 25 items, in ms: with WRITE_CONCURRENCY requests in flight, this bounds
    # an invocation at WRITE_CONCURRENCY * 25 * 1000 / batch_write_ms records per second.
    batch_write_ms: int = 20
    # Account quotas (Service Quotas): concurrent Lambda executions per region, and the on-demand table-level
    # write throughput (write request units per second, per table and per index).
    lambda_concurrency_quota: int = 1000
    table_write_quota: int = 40_000


@dataclass(frozen=True)
class TableConfig:
    """How the records table's time index spreads writes (``handlers/contracts.py``): ``timeShard`` values per
    data type and for rejected records (each receives at most 1/shards of the records per second), and whether
    valid records are in the index (off: one write unit per record instead of two, and no query by data type:
    serve it elsewhere, e.g. from DynamoDB's export to S3). Counts may only grow: the deploy refuses a decrease."""

    data_type_shards: int = DEFAULT_DATA_TYPE_SHARDS
    rejected_shards: int = DEFAULT_REJECTED_SHARDS
    index_data_types: bool = True


@dataclass(frozen=True)
class ReleaseConfig:
    """How new handler code reaches the ``live`` alias the event source invokes: CodeDeploy shifts a share of
    the polled batches to the new version for a while (``canary``) or everything at once, and rolls back when
    a release alarm fires."""

    strategy: str = "canary"
    canary_percent: int = 10
    canary_minutes: int = 5
    snapstart: bool = False


@dataclass(frozen=True)
class PipelineConfig:
    """One environment of the pipeline (dev, prod, ...) across all its regions."""

    environment: str
    project: str = "tap"
    primary_region: str = "us-east-1"
    secondary_regions: tuple[str, ...] = ("us-west-2",)
    processor: ProcessorConfig = field(default_factory=ProcessorConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    alarms: AlarmConfig = field(default_factory=AlarmConfig)
    stacksets: StackSetConfig = field(default_factory=StackSetConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    pseudonymization: PseudonymizationConfig = field(default_factory=PseudonymizationConfig)
    failover: FailoverConfig = field(default_factory=FailoverConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    release: ReleaseConfig = field(default_factory=ReleaseConfig)
    table: TableConfig = field(default_factory=TableConfig)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def regions(self) -> tuple[str, ...]:
        return (self.primary_region, *self.secondary_regions)


SECTIONS: dict[str, type] = {
    "processor": ProcessorConfig,
    "retention": RetentionConfig,
    "alarms": AlarmConfig,
    "stacksets": StackSetConfig,
    "network": NetworkConfig,
    "audit": AuditConfig,
    "pseudonymization": PseudonymizationConfig,
    "failover": FailoverConfig,
    "capacity": CapacityConfig,
    "release": ReleaseConfig,
    "table": TableConfig,
}


# How a value of each kind is named in an error message ("must be an integer", not "must be a int").
_KINDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def config_path(env: str) -> Path:
    """Without ``--config``: ``config/<env>.toml`` in the working directory (a user's own environment, or an
    edited copy of a shipped one), else the shipped file."""
    own = OWN_CONFIG_DIR / f"{env}.toml"
    return own if own.is_file() else CONFIG_DIR / f"{env}.toml"


def environments() -> list[str]:
    """Every environment ``config_path`` can find: the working directory's and the shipped ones."""
    return sorted({p.stem for folder in (OWN_CONFIG_DIR, CONFIG_DIR) for p in folder.glob("*.toml")})


def load_config(env: str, path: Path | None = None) -> PipelineConfig:
    """Read ``path``, else ``config_path(env)``, and return a validated config."""
    if not ENV_NAME.match(env or ""):
        raise ConfigError(
            f"environment name {env!r} is not valid: use lowercase letters, digits and single hyphens, "
            "starting with a letter (it becomes part of bucket names)"
        )
    source = path or config_path(env)
    if path is not None and not path.is_file():
        raise ConfigError(f"no config file {path}" + (" (it is a folder)" if path.is_dir() else ""))
    if not source.is_file():
        known = ", ".join(environments()) or "none"
        raise ConfigError(f"no config file {OWN_CONFIG_DIR / f'{env}.toml'} in {Path.cwd()} nor a shipped one: "
                          f"create it, pass --config FILE, or pick one of {known}")
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    return parse_config(raw, env, str(source))


def parse_config(raw: dict[str, Any], env: str, source: str = "config") -> PipelineConfig:
    """Build a config from parsed TOML; every unknown key and out-of-range value is an error."""
    raw = dict(raw)
    declared_env = raw.pop("environment", env)
    if declared_env != env:
        raise ConfigError(f"{source} declares environment {declared_env!r} but was loaded as {env!r}")
    sections = {}
    for name, cls in SECTIONS.items():
        value = raw.pop(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        sections[name] = _section(cls, value, f"{source}: [{name}]")
    tags = raw.pop("tags", {})
    top = {f.name for f in fields(PipelineConfig)} - set(SECTIONS) - {"tags", "environment"}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(top))}, "
                          f"and the sections {', '.join(f'[{name}]' for name in [*SECTIONS, 'tags'])}")
    if "secondary_regions" in raw:
        if not isinstance(raw["secondary_regions"], list):
            raise ConfigError(f"{source}: secondary_regions must be a list of region names")
        raw["secondary_regions"] = tuple(raw["secondary_regions"])
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ConfigError(f"{source}: [tags] must map tag names to strings")
    cfg = PipelineConfig(environment=env, tags=dict(sorted(tags.items())), **sections, **raw)
    validate(cfg, source)
    return cfg


def _section(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    converted = {}
    for key, value in values.items():
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise ConfigError(f"{where}: {key} must be a list")
            value = tuple(str(v) for v in value)
        elif isinstance(default, dict):
            if not isinstance(value, dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values()
            ):
                raise ConfigError(f"{where}: {key} must map names to lists of strings")
            value = {k: sorted(v) for k, v in sorted(value.items())}
        elif type(value) is not type(default) and not (type(default) is float and type(value) is int):
            raise ConfigError(f"{where}: {key} must be {_KINDS[type(default)]}, got {value!r}")
        converted[key] = value
    return cls(**converted)


Fail = Callable[[str], NoReturn]


def validate(cfg: PipelineConfig, source: str = "config") -> None:
    """Reject values CloudFormation would reject later, or that would make an unsafe pipeline."""

    def fail(message: str) -> NoReturn:
        raise ConfigError(f"{source}: {message}")

    for check in (_check_regions, _check_processor, _check_retention, _check_alarms, _check_stacksets,
                  _check_network, _check_pseudonymization, _check_failover, _check_capacity, _check_release,
                  _check_table, _check_tags):
        check(cfg, fail)
    naming.validate(cfg)


def _check_regions(cfg: PipelineConfig, fail: Fail) -> None:
    if not PROJECT_NAME.match(cfg.project):
        fail(f"project {cfg.project!r} is not valid: use lowercase letters, digits and single hyphens")
    for region in cfg.regions:
        if region not in regions.KNOWN_REGIONS:
            fail(f"unknown region {region!r}; use one of the AWS commercial regions, e.g. us-east-1")
    if not cfg.secondary_regions:
        fail("secondary_regions is empty: active-passive needs at least one secondary region")
    if cfg.primary_region in cfg.secondary_regions:
        fail(f"secondary_regions contains the primary region {cfg.primary_region}: pick another region")
    if len(set(cfg.secondary_regions)) != len(cfg.secondary_regions):
        fail("secondary_regions lists a region twice")


def _check_processor(cfg: PipelineConfig, fail: Fail) -> None:
    p = cfg.processor
    _range(fail, "processor.memory_mb", p.memory_mb, 128, 10240)
    _range(fail, "processor.timeout_seconds", p.timeout_seconds, 10, 900)
    _range(fail, "processor.reserved_concurrency", p.reserved_concurrency, 2, 1000)
    _range(fail, "processor.max_concurrency", p.max_concurrency, 2, 1000)
    if p.max_concurrency > p.reserved_concurrency:
        fail("processor.max_concurrency exceeds reserved_concurrency: the event source would be throttled")
    _range(fail, "processor.batch_size", p.batch_size, 1, 10000)
    _range(fail, "processor.batching_window_seconds", p.batching_window_seconds, 0, 300)
    if p.batch_size > 10 and p.batching_window_seconds < 1:
        fail("processor.batch_size over 10 needs batching_window_seconds of at least 1 (SQS rule)")
    _range(fail, "processor.max_receive_count", p.max_receive_count, 1, 1000)
    _range(fail, "processor.record_ttl_days", p.record_ttl_days, 1, 36500)
    _range(fail, "processor.max_object_mb", p.max_object_mb, 1, 5 * 1024 * 1024)
    _range(fail, "processor.max_decompression_ratio", p.max_decompression_ratio, 2, 10000)
    if p.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail("processor.log_level must be one of DEBUG, INFO, WARNING, ERROR")


def _check_retention(cfg: PipelineConfig, fail: Fail) -> None:
    r = cfg.retention
    if r.log_days not in regions.LOG_RETENTION_DAYS:
        allowed = ", ".join(map(str, regions.LOG_RETENTION_DAYS))
        fail(f"retention.log_days {r.log_days} is not a CloudWatch Logs retention value ({allowed})")
    for name in ("noncurrent_version_days", "access_log_days", "abort_multipart_days"):
        _range(fail, f"retention.{name}", getattr(r, name), 1, 36500)
    _range(fail, "retention.transition_ia_days", r.transition_ia_days, 30, 36500)
    if not r.transition_ia_days < r.transition_glacier_days < r.transition_deep_archive_days:
        fail("retention transitions must increase: transition_ia_days < transition_glacier_days < "
             "transition_deep_archive_days")
    if r.transition_deep_archive_days - r.transition_glacier_days < 90:
        fail("retention.transition_deep_archive_days must be at least 90 days after transition_glacier_days "
             "(S3 minimum storage duration)")
    if r.object_expiry_days <= r.transition_deep_archive_days:
        fail("retention.object_expiry_days must be later than transition_deep_archive_days")
    _range(fail, "retention.ingest_queue_days", r.ingest_queue_days, 1, SQS_MAX_RETENTION_DAYS - 1)
    _range(fail, "retention.dead_letter_days", r.dead_letter_days, 1, SQS_MAX_RETENTION_DAYS - 1)
    if r.ingest_queue_days + r.dead_letter_days > SQS_MAX_RETENTION_DAYS:
        fail(f"retention.ingest_queue_days + dead_letter_days is {r.ingest_queue_days + r.dead_letter_days} days: "
             f"a dead letter keeps the time it was first queued and SQS keeps a message at most "
             f"{SQS_MAX_RETENTION_DAYS} days, so both must fit in {SQS_MAX_RETENTION_DAYS}")


def _check_alarms(cfg: PipelineConfig, fail: Fail) -> None:
    a = cfg.alarms
    if a.email and not EMAIL.match(a.email):
        fail(f"alarms.email {a.email!r} is not an e-mail address (leave it empty for no subscription)")
    _range(fail, "alarms.queue_age_seconds", a.queue_age_seconds, 60, 1_209_600)
    if a.queue_age_seconds >= cfg.retention.ingest_queue_days * 86_400:
        fail(f"alarms.queue_age_seconds {a.queue_age_seconds} is not shorter than retention.ingest_queue_days "
             f"({cfg.retention.ingest_queue_days} days): messages would expire before the alarm fires")
    if not 0 < a.duration_fraction < 1 or not 0 < a.concurrency_fraction < 1:
        fail("alarms.duration_fraction and alarms.concurrency_fraction must be between 0 and 1")
    _range(fail, "alarms.replication_latency_ms", a.replication_latency_ms, 1000, 86_400_000)


def _check_stacksets(cfg: PipelineConfig, fail: Fail) -> None:
    s = cfg.stacksets
    if s.permission_model not in ("SELF_MANAGED", "SERVICE_MANAGED"):
        fail("stacksets.permission_model must be SELF_MANAGED or SERVICE_MANAGED")
    if s.region_concurrency not in ("SEQUENTIAL", "PARALLEL"):
        fail("stacksets.region_concurrency must be SEQUENTIAL or PARALLEL")
    _range(fail, "stacksets.max_concurrent_count", s.max_concurrent_count, 1, 100)
    _range(fail, "stacksets.failure_tolerance_count", s.failure_tolerance_count, 0, 100)
    for account in s.accounts:
        if not re.fullmatch(r"\d{12}", account):
            fail(f"stacksets.accounts: {account!r} is not a 12-digit AWS account ID")


def _check_network(cfg: PipelineConfig, fail: Fail) -> None:
    try:
        network = ipaddress.IPv4Network(cfg.network.cidr)
    except ValueError:
        fail(f"network.cidr {cfg.network.cidr!r} is not an IPv4 network like 10.40.0.0/16")
    if not 16 <= network.prefixlen <= 24 or not network.is_private:
        fail(f"network.cidr {cfg.network.cidr} must be a private range between /16 and /24")
    _check_zone_ids(cfg, fail)
    _range(fail, "audit.trail_log_days", cfg.audit.trail_log_days, 1, 36500)


def zone_id_prefix(region: str) -> str:
    """AWS's zone ID prefix of a region: us-east-1 -> use1, ap-southeast-2 -> apse2, eu-central-1 -> euc1
    (the AZ IDs listed in AWS Regions and Availability Zones, "AWS Availability Zones")."""
    area, direction, number = region.split("-")
    return area + _DIRECTIONS.get(direction, direction) + number


_DIRECTIONS = {"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw", "north": "n",
               "south": "s", "east": "e", "west": "w", "central": "c"}


def subnet_zone_ids(cfg: PipelineConfig, region: str) -> list[str]:
    """The zone IDs of a region's private subnets: ``[network] zone_ids``, else the region's az1 and az2."""
    default = [f"{zone_id_prefix(region)}-az{n}" for n in range(1, ISOLATED_ZONE_COUNT + 1)]
    return list(cfg.network.zone_ids.get(region, default))


def _check_zone_ids(cfg: PipelineConfig, fail: Fail) -> None:
    for region, ids in cfg.network.zone_ids.items():
        if region not in cfg.regions:
            fail(f"network.zone_ids names {region!r}, not a region of this environment ({', '.join(cfg.regions)})")
        pattern = re.escape(zone_id_prefix(region)) + r"-az\d+"
        bad = [z for z in ids if not re.fullmatch(pattern, z)]
        if bad:
            fail(f"network.zone_ids.{region}: {', '.join(bad)} is not a zone ID of {region} like "
                 f"{zone_id_prefix(region)}-az1 (aws ec2 describe-availability-zones --region {region})")
        if len(set(ids)) != ISOLATED_ZONE_COUNT or len(ids) != ISOLATED_ZONE_COUNT:
            fail(f"network.zone_ids.{region} must list {ISOLATED_ZONE_COUNT} different zone IDs, one per private "
                 f"subnet; it lists {', '.join(ids) or 'none'}")


def _check_pseudonymization(cfg: PipelineConfig, fail: Fail) -> None:
    for data_type, paths in cfg.pseudonymization.fields.items():
        bad = [p for p in paths if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", p)]
        if bad or not re.fullmatch(r"[a-z][a-zA-Z0-9]*", data_type):
            fail(f"pseudonymization.fields.{data_type}: {bad or data_type} is not a dotted field path")
        keys = [p for p in paths if p.split(".")[0] in RECORD_KEY_FIELDS]
        if keys:
            fail(f"pseudonymization.fields.{data_type}: {', '.join(keys)} would change the record's table key; "
                 "pseudonymize only other fields")


def _check_failover(cfg: PipelineConfig, fail: Fail) -> None:
    f = cfg.failover
    if bool(f.hosted_zone_id) != bool(f.record_name):
        fail("failover.hosted_zone_id and failover.record_name go together: set both or neither")
    if f.hosted_zone_id and not re.fullmatch(r"Z[A-Z0-9]{1,31}", f.hosted_zone_id):
        fail(f"failover.hosted_zone_id {f.hosted_zone_id!r} is not a Route 53 hosted zone ID (Z...)")
    if f.record_name and not re.fullmatch(r"([a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?", f.record_name):
        fail(f"failover.record_name {f.record_name!r} is not a DNS name like ingest.data.example.com")


def _check_capacity(cfg: PipelineConfig, fail: Fail) -> None:
    c = cfg.capacity
    _range(fail, "capacity.records_per_second_per_vcpu", c.records_per_second_per_vcpu, 100, 10_000_000)
    _range(fail, "capacity.batch_write_ms", c.batch_write_ms, 1, 10_000)
    _range(fail, "capacity.lambda_concurrency_quota", c.lambda_concurrency_quota, 10, 1_000_000)
    if c.lambda_concurrency_quota - 100 < cfg.processor.reserved_concurrency:
        fail("capacity.lambda_concurrency_quota must leave 100 unreserved executions above "
             "processor.reserved_concurrency (Lambda rule)")
    _range(fail, "capacity.table_write_quota", c.table_write_quota, 1000, 100_000_000)


def _check_release(cfg: PipelineConfig, fail: Fail) -> None:
    r = cfg.release
    if r.strategy not in RELEASE_STRATEGIES:
        fail(f"release.strategy {r.strategy!r} must be one of {', '.join(RELEASE_STRATEGIES)}")
    # CodeDeploy's TimeBasedCanary: a percentage below 100, an interval in minutes (at most two days).
    _range(fail, "release.canary_percent", r.canary_percent, 1, 99)
    _range(fail, "release.canary_minutes", r.canary_minutes, 1, 2880)


def _check_table(cfg: PipelineConfig, fail: Fail) -> None:
    _range(fail, "table.data_type_shards", cfg.table.data_type_shards, 1, MAX_SHARDS)
    _range(fail, "table.rejected_shards", cfg.table.rejected_shards, 1, MAX_SHARDS)


def _check_tags(cfg: PipelineConfig, fail: Fail) -> None:
    missing = [t for t in REQUIRED_TAGS if not cfg.tags.get(t)]
    if missing:
        fail(f"[tags] is missing {', '.join(missing)}: every resource is tagged with them for cost reports")
    reserved = sorted(t for t in cfg.tags if t in ("Environment", "Project", "Service") or t.startswith("aws:"))
    if reserved:
        fail(f"[tags] sets {', '.join(reserved)}, which the pipeline sets itself; remove them")


def _range(fail: Fail, name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        fail(f"{name} is {value}; it must be between {low} and {high}")
