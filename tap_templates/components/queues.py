"""The ingest queue that S3 notifies and its dead-letter queue.

Retention is sized so that a dead letter always gets the time the runbooks promise
(``[retention] dead_letter_days``). SQS moves a message to a standard dead-letter queue with its original
enqueue timestamp, and the message expires when its age passes the DLQ's retention period; AWS therefore
advises a DLQ retention longer than the source queue's (Amazon SQS Developer Guide, "Setting-up dead-letter
queue retention in Amazon SQS", setting-up-dead-letter-queue-retention.html).
A message can wait in the ingest queue for at most its retention before it is moved or expires, so

    DLQ retention = ingest retention + dead_letter_days  (both in days; at most SQS's 14-day maximum)

leaves every dead letter at least ``dead_letter_days`` in the DLQ, however long it waited before (a passive
secondary's backlog, an outage). Events older than the ingest retention expire from a passive region's queue;
their objects stay in the bucket and ``reconcile.py --backfill`` re-sends them (docs/runbooks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import sqs as sqs_actions
from troposphere import GetAtt, Output, Ref, sqs

from tap_templates import naming
from tap_templates.components import policies
from tap_templates.components.kms import DataKey
from tap_templates.config import PipelineConfig

DAY_SECONDS = 86_400
MAX_RETENTION_SECONDS = 1_209_600
MAX_VISIBILITY_SECONDS = 43_200
VISIBILITY_PER_TIMEOUT = 6


@dataclass(frozen=True)
class Queues:
    ingest: sqs.Queue
    dead_letter: sqs.Queue
    ingest_policy: sqs.QueuePolicy
    dead_letter_policy: sqs.QueuePolicy

    @property
    def ingest_arn(self) -> GetAtt:
        return GetAtt(self.ingest, "Arn")

    @property
    def dead_letter_arn(self) -> GetAtt:
        return GetAtt(self.dead_letter, "Arn")

    @property
    def dead_letter_url(self) -> Ref:
        return Ref(self.dead_letter)

    def resources(self) -> list:
        return [self.ingest, self.dead_letter, self.ingest_policy, self.dead_letter_policy]

    def outputs(self) -> list[Output]:
        return [
            Output("IngestQueueUrl", Description="Queue of S3 events to process", Value=Ref(self.ingest)),
            Output("IngestQueueArn", Value=self.ingest_arn),
            Output("IngestQueueName", Value=GetAtt(self.ingest, "QueueName")),
            Output("DeadLetterQueueUrl", Description="Failed files and poison messages",
                   Value=self.dead_letter_url),
            Output("DeadLetterQueueArn", Value=self.dead_letter_arn),
            Output("DeadLetterQueueName", Value=GetAtt(self.dead_letter, "QueueName")),
        ]


def visibility_timeout(cfg: PipelineConfig) -> int:
    """AWS asks for at least six times the function timeout, so a batch is never redelivered while the
    function, its retries and the batching window may still be working on it."""
    return min(VISIBILITY_PER_TIMEOUT * cfg.processor.timeout_seconds, MAX_VISIBILITY_SECONDS)


def retention_seconds(cfg: PipelineConfig) -> tuple[int, int]:
    """(ingest queue, dead-letter queue) MessageRetentionPeriod: see the module docstring."""
    r = cfg.retention
    ingest = r.ingest_queue_days * DAY_SECONDS
    dead_letter = ingest + r.dead_letter_days * DAY_SECONDS
    if dead_letter > MAX_RETENTION_SECONDS:  # config validation refuses this; a template must never carry it
        raise ValueError(f"dead-letter retention {dead_letter} s exceeds SQS's maximum {MAX_RETENTION_SECONDS} s")
    return ingest, dead_letter


def build(cfg: PipelineConfig, region: str, key: DataKey) -> Queues:
    ingest_name = naming.ingest_queue(cfg)
    dlq_name = naming.dead_letter_queue(cfg)
    ingest_arn = naming.queue_arn(region, ingest_name)
    dlq_arn = naming.queue_arn(region, dlq_name)
    bucket_arn = naming.bucket_arn(naming.ingest_bucket(cfg, region))
    ingest_retention, dead_letter_retention = retention_seconds(cfg)

    dead_letter = sqs.Queue(
        "DeadLetterQueue",
        QueueName=dlq_name,
        KmsMasterKeyId=key.arn,
        KmsDataKeyReusePeriodSeconds=300,
        MessageRetentionPeriod=dead_letter_retention,
        # Only the ingest queue may use this DLQ, so a redrive can move messages back to just one place.
        RedriveAllowPolicy={"redrivePermission": "byQueue", "sourceQueueArnList": [policies.sub(ingest_arn)]},
    )
    ingest = sqs.Queue(
        "IngestQueue",
        QueueName=ingest_name,
        KmsMasterKeyId=key.arn,
        KmsDataKeyReusePeriodSeconds=300,
        MessageRetentionPeriod=ingest_retention,
        ReceiveMessageWaitTimeSeconds=20,
        VisibilityTimeout=visibility_timeout(cfg),
        RedrivePolicy=sqs.RedrivePolicy(deadLetterTargetArn=GetAtt(dead_letter, "Arn"),
                                        maxReceiveCount=cfg.processor.max_receive_count),
    )
    ingest_policy = sqs.QueuePolicy(
        "IngestQueuePolicy",
        Queues=[Ref(ingest)],
        PolicyDocument=policies.document([
            policies.deny_insecure_transport("sqs", [ingest_arn]),
            policies.Statement(
                Sid="IngestBucketSendsEvents",
                Effect=policies.Allow,
                Principal=policies.service_principal("s3.amazonaws.com"),
                Action=[sqs_actions.SendMessage],
                Resource=[policies.sub(ingest_arn)],
                Condition=policies.source_conditions(bucket_arn),
            ),
        ]),
    )
    dead_letter_policy = sqs.QueuePolicy(
        "DeadLetterQueuePolicy",
        Queues=[Ref(dead_letter)],
        PolicyDocument=policies.document([policies.deny_insecure_transport("sqs", [dlq_arn])]),
    )
    return Queues(ingest=ingest, dead_letter=dead_letter, ingest_policy=ingest_policy,
                  dead_letter_policy=dead_letter_policy)
