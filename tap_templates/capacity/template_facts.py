"""What a region's rendered template deploys, as the cost model needs it: counted from the template itself
(alarms, endpoints and their Availability Zones, health checks, buckets' lifecycle tiers, ...), never restated.

``PRICED`` and ``FREE`` together name every resource type the templates may hold: a priced type has a line in
the bill (``costs``), a free one has the reason it costs nothing by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Resource type -> the cost component that prices it.
PRICED: dict[str, str] = {
    "AWS::DynamoDB::GlobalTable": "DynamoDB writes, reads, storage, backups, replication transfer",
    "AWS::DynamoDB::Table": "DynamoDB writes, reads, storage, backups",
    "AWS::Lambda::Function": "Lambda requests and GB-seconds; X-Ray traces when tracing is active",
    "AWS::SQS::Queue": "SQS requests",
    "AWS::S3::Bucket": "S3 storage by lifecycle tier, requests, transitions, replication, request metrics",
    "AWS::KMS::Key": "KMS key-months and requests",
    "AWS::Logs::LogGroup": "CloudWatch Logs ingestion and storage",
    "AWS::EC2::FlowLog": "CloudWatch vended logs ingestion (into its log group)",
    "AWS::CloudWatch::Alarm": "CloudWatch alarm metrics",
    "AWS::CloudWatch::CompositeAlarm": "CloudWatch composite alarms",
    "AWS::CloudWatch::Dashboard": "CloudWatch dashboards",
    "AWS::EC2::VPCEndpoint": "interface endpoints per hour per AZ and data processed (gateway endpoints are free)",
    "AWS::CloudTrail::Trail": "CloudTrail data events",
    "AWS::Route53::HealthCheck": "Route 53 health checks",
    "AWS::SecretsManager::Secret": "Secrets Manager secrets and their replicas",
    "AWS::Config::ConfigRule": "AWS Config rule evaluations",
}

# Resource type -> why it adds nothing to the bill by itself.
FREE: dict[str, str] = {
    "AWS::IAM::Role": "IAM is free",
    "AWS::IAM::Policy": "IAM is free",
    "AWS::IAM::ManagedPolicy": "IAM is free",
    "AWS::Logs::MetricFilter": "a metric filter is free; its metric is billed only in a month it receives data (the "
                               "audit filters match a change to the key, a bucket policy or the trail: rarely)",
    "AWS::KMS::Alias": "aliases are free; the key is priced",
    "AWS::S3::BucketPolicy": "bucket policies are free",
    "AWS::SQS::QueuePolicy": "queue policies are free",
    "AWS::SNS::Topic": "a topic costs nothing; it publishes only when an alarm changes state (a few a month)",
    "AWS::SNS::TopicPolicy": "topic policies are free",
    "AWS::SNS::Subscription": "e-mail deliveries of alarm changes, a few a month (SNS's first 1,000 e-mails are free)",
    "AWS::Lambda::EventSourceMapping": "free; its SQS polling is priced as SQS requests",
    "AWS::Lambda::Version": "a published version is free; its invocations are priced with the function",
    "AWS::Lambda::Alias": "aliases are free",
    "AWS::CodeDeploy::Application": "CodeDeploy charges nothing for deployments to Lambda (AWS CodeDeploy pricing, "
                                    "aws.amazon.com/codedeploy/pricing/)",
    "AWS::CodeDeploy::DeploymentGroup": "free for Lambda, as the application",
    "AWS::CodeDeploy::DeploymentConfig": "free for Lambda, as the application",
    "AWS::EC2::VPC": "VPCs are free",
    "AWS::EC2::Subnet": "subnets are free",
    "AWS::EC2::RouteTable": "route tables are free",
    "AWS::EC2::SubnetRouteTableAssociation": "free",
    "AWS::EC2::NetworkAcl": "network ACLs are free",
    "AWS::EC2::NetworkAclEntry": "free",
    "AWS::EC2::SubnetNetworkAclAssociation": "free",
    "AWS::EC2::SecurityGroup": "security groups are free",
    "AWS::EC2::SecurityGroupIngress": "free",
    "AWS::EC2::SecurityGroupEgress": "free",
    "AWS::Route53::RecordSet": "a record costs nothing; queries to the hosted zone (not created here) are the zone "
                               "owner's and are not modelled",
}


@dataclass(frozen=True)
class Bucket:
    logical_id: str
    ingest: bool  # receives the S3 event notifications (the data)
    transitions: tuple[tuple[str, int], ...]  # (storage class, days), in order
    expiry_days: int | None
    metrics_configurations: int
    replication_destinations: int


@dataclass(frozen=True)
class RegionFacts:
    region: str
    resource_types: tuple[str, ...]
    kms_keys: int = 0
    alarm_metrics: int = 0
    composite_alarms: int = 0
    dashboards: int = 0
    interface_endpoint_azs: int = 0  # sum over interface endpoints of their subnets (one ENI per AZ)
    gateway_endpoints: int = 0
    health_checks: int = 0
    data_event_trails: int = 0
    config_rules: int = 0
    secrets: int = 0  # primary secrets plus their replicas
    buckets: tuple[Bucket, ...] = ()
    log_groups: dict[str, int] = field(default_factory=dict)  # logical id -> retention days
    function_log_group: str | None = None
    flow_log_group: str | None = None
    function_memory_mb: int = 0
    function_arm: bool = True
    tracing: bool = False
    function_env: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    max_concurrency: int | None = None
    batch_size: int = 10
    processing_by_default: bool = False
    contributor_insights_tables: int = 0  # table replicas with Contributor Insights on (primary template)

    @property
    def ingest_bucket(self) -> Bucket | None:
        return next((b for b in self.buckets if b.ingest), None)


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def _alarm_metrics(props: dict[str, Any]) -> int:
    """Metrics an alarm is billed for: one, or each metric of a metric-math alarm."""
    metrics = props.get("Metrics")
    return sum(1 for m in metrics if "MetricStat" in m) if metrics else 1


def _bucket(logical_id: str, props: dict[str, Any]) -> Bucket:
    rules = [r for r in props.get("LifecycleConfiguration", {}).get("Rules", []) if r.get("Status") == "Enabled"]
    transitions: list[tuple[str, int]] = []
    expiry = None
    for rule in rules:
        transitions += [(t["StorageClass"], int(t["TransitionInDays"])) for t in rule.get("Transitions", [])]
        if "ExpirationInDays" in rule:
            expiry = int(rule["ExpirationInDays"])
    notifications = props.get("NotificationConfiguration", {})
    replication = props.get("ReplicationConfiguration", {}).get("Rules", [])
    return Bucket(logical_id, bool(notifications.get("QueueConfigurations") or notifications.get(
        "LambdaConfigurations")), tuple(sorted(transitions, key=lambda t: t[1])), expiry,
        len(props.get("MetricsConfigurations", [])), len(replication))


def _default_enabled(template: dict[str, Any], value: Any) -> bool:
    """An event source's ``Enabled``: literal, or ``Fn::If`` on a condition that compares a parameter whose
    default decides (``ProcessingEnabled``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        test = template.get("Conditions", {}).get(condition, {})
        if "Fn::Equals" in test:
            left, right = test["Fn::Equals"]
            name = _ref(left) or _ref(right)
            other = right if _ref(left) else left
            default = template.get("Parameters", {}).get(name or "", {}).get("Default")
            return when_true if str(default) == str(other) else when_false
    return True


_COUNTED = {"AWS::KMS::Key": "kms_keys", "AWS::CloudWatch::CompositeAlarm": "composite_alarms",
            "AWS::CloudWatch::Dashboard": "dashboards", "AWS::Route53::HealthCheck": "health_checks",
            "AWS::Config::ConfigRule": "config_rules"}


def _count(kind: str, props: dict[str, Any], counts: dict[str, int]) -> None:
    """Add what one resource contributes to the counted facts."""
    if kind in _COUNTED:
        counts[_COUNTED[kind]] += 1
    elif kind == "AWS::CloudWatch::Alarm":
        counts["alarm_metrics"] += _alarm_metrics(props)
    elif kind == "AWS::EC2::VPCEndpoint" and props.get("VpcEndpointType") == "Interface":
        counts["interface_endpoint_azs"] += max(1, len(props.get("SubnetIds", [])))
    elif kind == "AWS::EC2::VPCEndpoint":
        counts["gateway_endpoints"] += 1
    elif kind == "AWS::CloudTrail::Trail":
        counts["data_event_trails"] += bool(props.get("EventSelectors") or props.get("AdvancedEventSelectors"))
    elif kind == "AWS::SecretsManager::Secret":
        counts["secrets"] += 1 + len(props.get("ReplicaRegions", []))
    elif kind in ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"):
        replicas = props.get("Replicas") or [props]
        counts["contributor_insights_tables"] += sum(
            1 for r in replicas if r.get("ContributorInsightsSpecification", {}).get("Enabled"))


def facts(template: dict[str, Any], region: str) -> RegionFacts:
    resources = template.get("Resources", {})
    counts = dict.fromkeys(("kms_keys", "alarm_metrics", "composite_alarms", "dashboards", "interface_endpoint_azs",
                            "gateway_endpoints", "health_checks", "data_event_trails", "config_rules", "secrets",
                            "contributor_insights_tables"), 0)
    buckets, log_groups = [], {}
    function: dict[str, Any] = {}
    mapping: dict[str, Any] = {}
    flow_group = None
    for logical_id, resource in resources.items():
        kind, props = resource.get("Type", ""), resource.get("Properties", {})
        _count(kind, props, counts)
        if kind == "AWS::S3::Bucket":
            buckets.append(_bucket(logical_id, props))
        elif kind == "AWS::Logs::LogGroup":
            log_groups[logical_id] = int(props.get("RetentionInDays", 3653))
        elif kind == "AWS::EC2::FlowLog":
            flow_group = _ref(props.get("LogGroupName"))
        elif kind == "AWS::Lambda::Function":
            function = props
        elif kind == "AWS::Lambda::EventSourceMapping":
            mapping = props
    variables = function.get("Environment", {}).get("Variables", {})
    return RegionFacts(
        region=region,
        resource_types=tuple(sorted({r.get("Type", "") for r in resources.values()})),
        buckets=tuple(buckets), log_groups=log_groups,
        function_log_group=_ref(function.get("LoggingConfig", {}).get("LogGroup")),
        flow_log_group=flow_group,
        function_memory_mb=int(function.get("MemorySize", 128)),
        function_arm=function.get("Architectures", ["x86_64"]) == ["arm64"],
        tracing=function.get("TracingConfig", {}).get("Mode") == "Active",
        function_env={k: v for k, v in variables.items() if isinstance(v, str)},
        reserved_concurrency=function.get("ReservedConcurrentExecutions"),
        max_concurrency=mapping.get("ScalingConfig", {}).get("MaximumConcurrency"),
        batch_size=int(mapping.get("BatchSize", 10)),
        processing_by_default=_default_enabled(template, mapping.get("Enabled", True)) if mapping else False,
        **counts,
    )
