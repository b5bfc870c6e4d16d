"""Route 53 health checks that follow each region's key alarms, and the optional failover DNS record.

Health checks of the CloudWatch-alarm type accept only standard-resolution metric alarms with a plain
statistic, so they follow the key alarms one by one (monitoring.KEY_ALARMS) and a calculated check combines
them per region; the composite alarm is for people. When a hosted zone is configured, a failover TXT record
tells producers which region's bucket to write to: the primary while its calculated check is healthy,
otherwise the first secondary. A fenced but healthy old primary keeps its record; what producers write there
still replicates to the active region, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import If, Output, Ref, Sub, route53

from tap_templates import naming, regions
from tap_templates.components.function import ENABLED_CONDITION
from tap_templates.components.monitoring import KEY_ALARMS, Monitoring
from tap_templates.config import PipelineConfig

# What each alarm check reports while its metric has no data. Route 53 evaluates the alarm's metric data
# itself, not the alarm's state, so the alarms' TreatMissingData does not apply; with LastKnownStatus a check
# that turned unhealthy on a burst stays unhealthy for as long as the metric stays silent, which keeps the
# failover record on the secondary (Amazon Route 53 Developer Guide, "How Amazon Route 53 determines whether
# a health check is healthy", dns-failover-determining-health-of-endpoints.html). Every key metric is silent
# in a healthy, quiet region, so silence is healthy for each, for its own reason:
INSUFFICIENT_DATA: dict[str, tuple[str, str]] = {
    "ProcessorErrorsAlarm": (
        "Healthy", "Lambda publishes Errors only for invocations: no data means nothing ran, so nothing failed"),
    "IngestQueueAgeAlarm": (
        "Healthy", "SQS publishes ApproximateAgeOfOldestMessage only while a message waits (Amazon SQS Developer "
                   "Guide, 'Available CloudWatch metrics for Amazon SQS'): no data means an empty queue"),
    "TableSystemErrorsBatchWriteItemAlarm": (
        "Healthy", "DynamoDB publishes SystemErrors only when requests fail with a server error"),
    "IngestBucket5xxAlarm": (
        "Healthy", "S3 request metrics exist only for minutes with requests: no data means no request failed"),
}


@dataclass(frozen=True)
class Health:
    checks: list[route53.HealthCheck]
    region_check: route53.HealthCheck
    records: list[route53.RecordSetType]

    def resources(self) -> list:
        return [*self.checks, self.region_check, *self.records]

    def outputs(self) -> list[Output]:
        return [Output("RegionHealthCheckId", Description="Calculated health of this region",
                       Value=Ref(self.region_check))]


def _alarm_check(alarm: object, region: str) -> route53.HealthCheck:
    check = route53.HealthCheck(
        alarm.title.removesuffix("Alarm") + "HealthCheck",
        HealthCheckConfig=route53.HealthCheckConfig(
            Type="CLOUDWATCH_METRIC",
            AlarmIdentifier=route53.AlarmIdentifier(Name=alarm.AlarmName, Region=region),
            InsufficientDataHealthStatus=INSUFFICIENT_DATA[alarm.title][0],
        ),
        DependsOn=[alarm.title],
    )
    if hasattr(alarm, "Condition"):
        check.Condition = alarm.Condition
    return check


def _failover_record(cfg: PipelineConfig, region: str, check: route53.HealthCheck) -> list[route53.RecordSetType]:
    role = regions.role(cfg, region)
    if not cfg.failover.hosted_zone_id or (role == "secondary" and region != cfg.secondary_regions[0]):
        return []
    bucket = naming.ingest_bucket(cfg, region)
    return [route53.RecordSetType(
        "IngestFailoverRecord",
        HostedZoneId=cfg.failover.hosted_zone_id,
        Name=cfg.failover.record_name,
        Type="TXT",
        TTL="60",
        SetIdentifier=region,
        Failover="PRIMARY" if role == "primary" else "SECONDARY",
        HealthCheckId=Ref(check),
        ResourceRecords=[Sub(f'"bucket={bucket}" "region={region}"')],
    )]


def build(cfg: PipelineConfig, region: str, monitoring: Monitoring) -> Health:
    """A region whose metrics stop altogether therefore looks healthy to Route 53: ``failover.py status``
    and the composite alarm are where people see it (docs/runbooks.md)."""
    undecided = set(KEY_ALARMS) - set(INSUFFICIENT_DATA)
    if undecided:
        raise ValueError(f"decide the health checks' insufficient-data status of {', '.join(sorted(undecided))}")
    checks = [_alarm_check(alarm, region) for alarm in monitoring.key_alarms()]
    always = [Ref(c) for c in checks if not hasattr(c, "Condition")]
    everything = [Ref(c) for c in checks]
    region_check = route53.HealthCheck(
        "RegionHealthCheck",
        HealthCheckConfig=route53.HealthCheckConfig(
            Type="CALCULATED",
            ChildHealthChecks=If(ENABLED_CONDITION, everything, always),
            HealthThreshold=If(ENABLED_CONDITION, len(everything), len(always)),
        ),
    )
    return Health(checks=checks, region_check=region_check, records=_failover_record(cfg, region, region_check))
