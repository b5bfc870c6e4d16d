"""Alarms, the alarm topic and the region's dashboard.

Every alarm dimension is built from the same naming functions the resources use, so an alarm can never
watch a queue, table or function the pipeline did not create. The key alarms are plain single-metric
alarms with a simple statistic because Route 53 health checks (the failover design) accept only those;
the composite "region unhealthy" alarm is for people, not for health checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from awacs import aws
from awacs import sns as sns_actions
from troposphere import AWSObject, GetAtt, If, Join, Output, Ref, Sub, cloudwatch, sns

from tap_templates import naming, regions
from tap_templates.components import policies
from tap_templates.components.function import ENABLED_CONDITION, METRICS_NAMESPACE, SERVICE_NAME
from tap_templates.components.kms import DataKey
from tap_templates.components.table import TABLE_ACTIONS
from tap_templates.config import PipelineConfig

PERIOD = 300


@dataclass(frozen=True)
class Monitoring:
    topic: sns.Topic
    topic_policy: sns.TopicPolicy
    alarms: list[cloudwatch.Alarm]
    composite: cloudwatch.CompositeAlarm
    dashboard: cloudwatch.Dashboard
    subscriptions: list[sns.SubscriptionResource] = field(default_factory=list)

    def key_alarms(self) -> list[cloudwatch.Alarm]:
        """The alarms that say the region cannot process data; health checks follow these."""
        return [a for a in self.alarms if a.title in KEY_ALARMS]

    def resources(self) -> list[AWSObject]:
        return [self.topic, self.topic_policy, *self.subscriptions, *self.alarms, self.composite, self.dashboard]

    def outputs(self) -> list[Output]:
        return [
            Output("AlarmTopicArn", Description="Subscribe on-call here", Value=Ref(self.topic)),
            Output("RegionUnhealthyAlarmName", Value=Ref(self.composite)),
            Output("DashboardName", Value=Ref(self.dashboard)),
        ]


# Logical IDs of the alarms that mean "this region is not processing"; the composite ORs them.
KEY_ALARMS = ("ProcessorErrorsAlarm", "IngestQueueAgeAlarm", "TableSystemErrorsBatchWriteItemAlarm",
              "IngestBucket5xxAlarm")


def alarm_topic(cfg: PipelineConfig, region: str, key: DataKey) -> tuple[sns.Topic, sns.TopicPolicy,
                                                                          list[sns.SubscriptionResource]]:
    topic = sns.Topic("AlarmTopic", TopicName=naming.alarm_topic(cfg), KmsMasterKeyId=key.arn,
                      DisplayName=f"{naming.prefix(cfg)} alarms in {region}")
    topic_arn = f"arn:{naming.PARTITION}:sns:{region}:{naming.ACCOUNT}:{naming.alarm_topic(cfg)}"
    policy = sns.TopicPolicy(
        "AlarmTopicPolicy",
        Topics=[Ref(topic)],
        PolicyDocument=policies.document([
            policies.deny_insecure_transport("sns", [topic_arn]),
            aws.Statement(
                Sid="CloudWatchAlarmsPublish",
                Effect=aws.Allow,
                Principal=policies.service_principal("cloudwatch.amazonaws.com"),
                Action=[sns_actions.Publish],
                Resource=[Sub(topic_arn)],
                Condition=aws.Condition([
                    aws.StringEquals("aws:SourceAccount", Sub(naming.ACCOUNT)),
                    aws.ArnLike("aws:SourceArn",
                                Sub(f"arn:{naming.PARTITION}:cloudwatch:{region}:{naming.ACCOUNT}:alarm:*")),
                ]),
            ),
        ]),
    )
    subscriptions = []
    if cfg.alarms.email:
        subscriptions.append(sns.SubscriptionResource(
            "AlarmEmailSubscription", TopicArn=Ref(topic), Protocol="email", Endpoint=cfg.alarms.email))
    return topic, policy, subscriptions


def _alarm(title: str, name: str, description: str, namespace: str, metric: str, dimensions: dict[str, object],
           statistic: str, threshold: float, topic: sns.Topic, evaluation_periods: int = 1,
           **extra: object) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        title,
        AlarmName=name,
        AlarmDescription=description,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[cloudwatch.MetricDimension(Name=k, Value=v) for k, v in dimensions.items()],
        Statistic=statistic,
        Period=PERIOD,
        EvaluationPeriods=evaluation_periods,
        DatapointsToAlarm=evaluation_periods,
        Threshold=threshold,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[Ref(topic)],
        OKActions=[Ref(topic)],
        **extra,
    )


def binding_concurrency(cfg: PipelineConfig) -> tuple[int, str]:
    """The concurrency the function can actually reach, and what sets it. Only the SQS event source invokes the
    function, and its ``MaximumConcurrency`` caps the instances it invokes below the reserved concurrency
    (AWS Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings",
    services-sqs-scaling.html): an alarm on a fraction of the reserved value could never fire."""
    p = cfg.processor
    if p.max_concurrency <= p.reserved_concurrency:
        return p.max_concurrency, "the event source's maximum concurrency"
    return p.reserved_concurrency, "the reserved concurrency"


def alarms(cfg: PipelineConfig, region: str, topic: sns.Topic) -> list[cloudwatch.Alarm]:
    p, a = cfg.processor, cfg.alarms
    binding, binding_name = binding_concurrency(cfg)
    function = {"FunctionName": naming.function(cfg)}
    table = naming.table(cfg)
    found = [
        _alarm("ProcessorErrorsAlarm", naming.alarm(cfg, "processor-errors"),
               "The processor function raised errors: files are being retried or sent to the DLQ",
               "AWS/Lambda", "Errors", function, "Sum", 1, topic),
        _alarm("ProcessorThrottlesAlarm", naming.alarm(cfg, "processor-throttles"),
               "Invocations were throttled: reserved concurrency is too low for the load",
               "AWS/Lambda", "Throttles", function, "Sum", 1, topic),
        _alarm("ProcessorDurationAlarm", naming.alarm(cfg, "processor-duration-near-timeout"),
               f"An invocation ran past {int(a.duration_fraction * 100)}% of the function timeout",
               "AWS/Lambda", "Duration", function, "Maximum",
               round(a.duration_fraction * p.timeout_seconds * 1000), topic),
        _alarm("ProcessorConcurrencyAlarm", naming.alarm(cfg, "processor-concurrency-near-limit"),
               f"Concurrency reached {int(a.concurrency_fraction * 100)}% of {binding_name} ({binding})",
               "AWS/Lambda", "ConcurrentExecutions", function, "Maximum",
               max(1, int(a.concurrency_fraction * binding)), topic),
        # A passive secondary's queue holds events on purpose, so this alarm exists only while active.
        _alarm("IngestQueueAgeAlarm", naming.alarm(cfg, "ingest-queue-age"),
               "Files wait too long for processing: the processor is failing, disabled or too slow",
               "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": naming.ingest_queue(cfg)}, "Maximum",
               a.queue_age_seconds, topic, Condition=ENABLED_CONDITION),
        _alarm("DeadLetterQueueAlarm", naming.alarm(cfg, "dlq-has-messages"),
               "Files failed permanently or messages exhausted their retries: triage with docs/runbooks.md",
               "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": naming.dead_letter_queue(cfg)},
               "Maximum", 1, topic),
        _alarm("IngestBucket5xxAlarm", naming.alarm(cfg, "ingest-bucket-5xx"),
               "S3 returns server errors for the ingestion bucket",
               "AWS/S3", "5xxErrors",
               {"BucketName": Sub(naming.ingest_bucket(cfg, region)), "FilterId": naming.METRICS_FILTER_ID},
               "Sum", 5, topic),
    ]
    for action in TABLE_ACTIONS:
        dims = {"TableName": table, "Operation": action}
        found.append(_alarm(f"TableSystemErrors{action}Alarm", naming.alarm(cfg, f"table-system-errors-{action}"),
                            f"DynamoDB returned server errors for {action}", "AWS/DynamoDB", "SystemErrors",
                            dims, "Sum", 1, topic))
        found.append(_alarm(f"TableThrottles{action}Alarm", naming.alarm(cfg, f"table-throttles-{action}"),
                            f"DynamoDB throttled {action} requests", "AWS/DynamoDB", "ThrottledRequests",
                            dims, "Sum", 1, topic))
    for other in regions.other_regions(cfg, region):
        suffix = other.replace("-", "").title()
        found.append(_alarm(
            f"TableReplicationLatency{suffix}Alarm", naming.alarm(cfg, f"table-replication-latency-{other}"),
            f"Writes in {region} take too long to reach the replica in {other}",
            "AWS/DynamoDB", "ReplicationLatency", {"TableName": table, "ReceivingRegion": other}, "Average",
            a.replication_latency_ms, topic, evaluation_periods=3))
    return found


def composite(cfg: PipelineConfig, found: list[cloudwatch.Alarm], topic: sns.Topic) -> cloudwatch.CompositeAlarm:
    keys = [a for a in found if a.title in KEY_ALARMS]
    always = [a for a in keys if not hasattr(a, "Condition")]
    conditional = [a for a in keys if hasattr(a, "Condition")]

    def rule(members: list[cloudwatch.Alarm]) -> Join:
        return Join(" OR ", [Join("", ['ALARM("', GetAtt(m, "Arn"), '")']) for m in members])

    return cloudwatch.CompositeAlarm(
        "RegionUnhealthyAlarm",
        AlarmName=naming.alarm(cfg, "region-unhealthy"),
        AlarmDescription="This region cannot process data: consider failover (docs/runbooks.md)",
        AlarmRule=If(ENABLED_CONDITION, rule(always + conditional), rule(always)) if conditional else rule(always),
        AlarmActions=[Ref(topic)],
        OKActions=[Ref(topic)],
    )


def _metric_widget(title: str, region: str, metrics: list[list[object]], x: int, y: int,
                   stat: str = "Sum") -> dict[str, object]:
    return {
        "type": "metric", "x": x, "y": y, "width": 8, "height": 6,
        "properties": {"title": title, "region": region, "stat": stat, "period": PERIOD, "view": "timeSeries",
                       "metrics": metrics},
    }


def _region_widgets(cfg: PipelineConfig, region: str, y: int) -> list[dict[str, object]]:
    fn, table = naming.function(cfg), naming.table(cfg)
    ingest, dlq = naming.ingest_queue(cfg), naming.dead_letter_queue(cfg)
    records = ["RecordsProcessed", "RecordsRejected"]
    return [
        _metric_widget(f"{region}: processor", region, [
            ["AWS/Lambda", "Invocations", "FunctionName", fn],
            ["AWS/Lambda", "Errors", "FunctionName", fn],
            ["AWS/Lambda", "Throttles", "FunctionName", fn],
        ], 0, y),
        _metric_widget(f"{region}: queues", region, [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", ingest],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", ingest, {"yAxis": "right"}],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq],
        ], 8, y, stat="Maximum"),
        _metric_widget(f"{region}: records", region, [
            [METRICS_NAMESPACE, name, "service", SERVICE_NAME] for name in records
        ] + [
            ["AWS/DynamoDB", "ThrottledRequests", "TableName", table, "Operation", "BatchWriteItem"],
        ], 16, y),
    ]


def dashboard(cfg: PipelineConfig, region: str) -> cloudwatch.Dashboard:
    """The primary's dashboard also shows every secondary, so one page answers "is the standby ready?"."""
    fn, table = naming.function(cfg), naming.table(cfg)
    widgets = _region_widgets(cfg, region, 0)
    widgets += [
        _metric_widget(f"{region}: duration (ms)", region, [
            ["AWS/Lambda", "Duration", "FunctionName", fn, {"stat": "p99"}],
            ["AWS/Lambda", "Duration", "FunctionName", fn, {"stat": "Maximum"}],
        ], 0, 6, stat="Average"),
        _metric_widget(f"{region}: table", region, [
            ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", table],
            ["AWS/DynamoDB", "SystemErrors", "TableName", table, "Operation", "BatchWriteItem"],
        ] + [
            ["AWS/DynamoDB", "ReplicationLatency", "TableName", table, "ReceivingRegion", other,
             {"stat": "Average", "yAxis": "right"}]
            for other in regions.other_regions(cfg, region)
        ], 8, 6),
        _metric_widget(f"{region}: ingestion bucket", region, [
            ["AWS/S3", "AllRequests", "BucketName", naming.ingest_bucket(cfg, region), "FilterId",
             naming.METRICS_FILTER_ID],
            ["AWS/S3", "5xxErrors", "BucketName", naming.ingest_bucket(cfg, region), "FilterId",
             naming.METRICS_FILTER_ID],
        ], 16, 6),
    ]
    if regions.role(cfg, region) == "primary":
        for row, secondary in enumerate(cfg.secondary_regions, start=2):
            widgets += _region_widgets(cfg, secondary, row * 6)
    body = json.dumps({"widgets": widgets}, sort_keys=True, separators=(",", ":"))
    return cloudwatch.Dashboard("Dashboard", DashboardName=naming.dashboard(cfg, region), DashboardBody=Sub(body))


def build(cfg: PipelineConfig, region: str, key: DataKey) -> Monitoring:
    topic, topic_policy, subscriptions = alarm_topic(cfg, region, key)
    found = alarms(cfg, region, topic)
    return Monitoring(topic=topic, topic_policy=topic_policy, alarms=found,
                      composite=composite(cfg, found, topic), dashboard=dashboard(cfg, region),
                      subscriptions=subscriptions)
