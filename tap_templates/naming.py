"""Every physical resource name and ARN the pipeline uses, computed in one place.

Names are pure functions of the config and the region, so any template can name a resource that another
region's template creates (the primary replicates to the secondaries' buckets; alarms name the queue the
template created) and a test can check that both sides agree. Account-scoped parts are written as the
CloudFormation pseudo parameter ``${AWS::AccountId}``: wrap the result in ``Sub`` inside a template, or call
``resolve`` to get the concrete name for one account (the deploy and operations tools do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tap_templates.errors import ConfigError

if TYPE_CHECKING:
    from tap_templates.config import PipelineConfig

ACCOUNT = "${AWS::AccountId}"
PARTITION = "${AWS::Partition}"
SAMPLE_ACCOUNT = "123456789012"
METRICS_FILTER_ID = "EntireBucket"
BUCKET_NAME_MAX = 63

# The object suffixes that trigger processing. None is a suffix of another (S3 rejects overlapping filters).
INGEST_SUFFIXES: tuple[str, ...] = (
    ".json", ".jsonl", ".ndjson", ".csv", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".csv.gz",
)


def prefix(cfg: PipelineConfig) -> str:
    return f"{cfg.project}-{cfg.environment}"


# S3 buckets: globally unique, so account and region are part of the name.
def ingest_bucket(cfg: PipelineConfig, region: str) -> str:
    return f"{prefix(cfg)}-ingest-{ACCOUNT}-{region}"


def access_log_bucket(cfg: PipelineConfig, region: str) -> str:
    return f"{prefix(cfg)}-access-logs-{ACCOUNT}-{region}"


def artifacts_bucket(cfg: PipelineConfig, region: str) -> str:
    return f"{prefix(cfg)}-artifacts-{ACCOUNT}-{region}"


# Regional resources: the same name in every region, so alarms and tools need only the region.
def key_alias(cfg: PipelineConfig) -> str:
    return f"alias/{prefix(cfg)}-data"


def ingest_queue(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-ingest"


def dead_letter_queue(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-ingest-dlq"


def table(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-records"


def function(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-processor"


def function_log_group(cfg: PipelineConfig) -> str:
    return f"/aws/lambda/{function(cfg)}"


def alarm_topic(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-alarms"


def alarm(cfg: PipelineConfig, what: str) -> str:
    return f"{prefix(cfg)}-{what}"


def dashboard(cfg: PipelineConfig, region: str) -> str:
    return f"{prefix(cfg)}-{region}"


def stack_set(cfg: PipelineConfig, region: str) -> str:
    return f"{prefix(cfg)}-{region}"


# ARNs, in the ${AWS::Partition} form so the templates work in every partition.
def bucket_arn(bucket: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}"


def key_alias_arn(cfg: PipelineConfig, region: str) -> str:
    return f"arn:{PARTITION}:kms:{region}:{ACCOUNT}:{key_alias(cfg)}"


def keys_arn(region: str) -> str:
    """All keys of the account in a region: only ever used together with a kms:ResourceAliases condition."""
    return f"arn:{PARTITION}:kms:{region}:{ACCOUNT}:key/*"


def queue_arn(region: str, queue: str) -> str:
    return f"arn:{PARTITION}:sqs:{region}:{ACCOUNT}:{queue}"


def queue_url(region: str, queue: str) -> str:
    return f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{queue}"


def table_arn(cfg: PipelineConfig, region: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT}:table/{table(cfg)}"


def log_group_arn(region: str, log_group: str) -> str:
    return f"arn:{PARTITION}:logs:{region}:{ACCOUNT}:log-group:{log_group}"


def resolve(name: str, account: str, partition: str = "aws") -> str:
    """The concrete value of a computed name for one account, as CloudFormation's Sub would give it."""
    return name.replace(ACCOUNT, account).replace(PARTITION, partition)


def validate(cfg: PipelineConfig) -> None:
    """Fail early when project and environment names would make a bucket name S3 rejects."""
    for region in cfg.regions:
        for bucket in (ingest_bucket(cfg, region), access_log_bucket(cfg, region), artifacts_bucket(cfg, region)):
            concrete = resolve(bucket, SAMPLE_ACCOUNT)
            if len(concrete) > BUCKET_NAME_MAX:
                raise ConfigError(
                    f"bucket name {concrete} would be {len(concrete)} characters (S3 allows "
                    f"{BUCKET_NAME_MAX}): shorten project {cfg.project!r} or environment {cfg.environment!r}"
                )
