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


def audit_bucket(cfg: PipelineConfig, region: str) -> str:
    return f"{prefix(cfg)}-audit-{ACCOUNT}-{region}"


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


def function_alias(cfg: PipelineConfig) -> str:
    """The alias the event source invokes; CodeDeploy moves it from version to version."""
    return "live"


def release_application(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-processor"


def release_group(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-processor-live"


def release_config(cfg: PipelineConfig, percent: int, minutes: int) -> str:
    """A custom canary's name says what it does (a new setting is a new config: its name is create-only)."""
    return f"{prefix(cfg)}-canary-{percent}pct-{minutes}min"


def function_log_group(cfg: PipelineConfig) -> str:
    return f"/aws/lambda/{function(cfg)}"


def flow_log_group(cfg: PipelineConfig) -> str:
    return f"/{cfg.project}/{cfg.environment}/vpc-flow-logs"


def trail(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-data-events"


def trail_log_group(cfg: PipelineConfig) -> str:
    return f"/{cfg.project}/{cfg.environment}/cloudtrail"


def pseudonymization_secret(cfg: PipelineConfig) -> str:
    """Replicas of a secret keep its name in every region, so the handler looks it up by name."""
    return f"{cfg.project}/{cfg.environment}/pseudonymization-key"


def config_rule(cfg: PipelineConfig, what: str) -> str:
    return f"{prefix(cfg)}-{what}"


def alarm_topic(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-alarms"


def alarm(cfg: PipelineConfig, what: str) -> str:
    return f"{prefix(cfg)}-{what}"


def dashboard(cfg: PipelineConfig, region: str) -> str:
    return f"{prefix(cfg)}-{region}"


def stack_set(cfg: PipelineConfig, region: str) -> str:
    return f"{prefix(cfg)}-{region}"


# StackSet deployment: the self-managed roles, the stack that creates them, and the artifacts' object keys.
def stackset_administration_role(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-stackset-administration"


def stackset_execution_role(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-stackset-execution"


def role_boundary(cfg: PipelineConfig) -> str:
    """The managed policy every role of the region templates carries as its permissions boundary."""
    return f"{prefix(cfg)}-role-boundary"


def boundary_arn(cfg: PipelineConfig) -> str:
    return f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{role_boundary(cfg)}"


def stackset_roles_stack(cfg: PipelineConfig) -> str:
    return f"{prefix(cfg)}-stackset-roles"


def stack_instance_stacks(cfg: PipelineConfig) -> str:
    """Pattern of the stacks StackSets creates for instances: ``StackSet-<stack set name>-<uuid>``; the
    execution role may manage only these, and the roles CloudFormation names after them."""
    return f"StackSet-{prefix(cfg)}-*"


def named_resources(cfg: PipelineConfig) -> str:
    """Pattern matching every resource named from ``prefix`` (buckets, queues, topics, functions, ...)."""
    return f"{prefix(cfg)}-*"


def path_named_resources(cfg: PipelineConfig) -> tuple[str, ...]:
    """Patterns of the names that are paths rather than prefixed (log groups, secrets)."""
    return (f"/aws/lambda/{prefix(cfg)}-*", f"/{cfg.project}/{cfg.environment}/*", f"{cfg.project}/{cfg.environment}/*")


def code_object_key(sha256: str) -> str:
    """Content-addressed: a new zip never overwrites the one running stacks point at."""
    return f"code/{sha256}.zip"


def template_object_key(sha256: str) -> str:
    return f"templates/{sha256}.json"


def smoke_object_key(run_id: str) -> str:
    """The smoke check's canary file in the ingestion bucket: the only key the deployer may write there."""
    return f"smoke/{run_id}.jsonl"


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


def secret_arn(cfg: PipelineConfig, region: str) -> str:
    """Secrets Manager appends six random characters to a secret's ARN; ``??????`` matches exactly those."""
    return f"arn:{PARTITION}:secretsmanager:{region}:{ACCOUNT}:secret:{pseudonymization_secret(cfg)}-??????"


def trail_arn(cfg: PipelineConfig, region: str) -> str:
    return f"arn:{PARTITION}:cloudtrail:{region}:{ACCOUNT}:trail/{trail(cfg)}"


def log_group_arn(region: str, log_group: str) -> str:
    return f"arn:{PARTITION}:logs:{region}:{ACCOUNT}:log-group:{log_group}"


def resolve(name: str, account: str, partition: str = "aws") -> str:
    """The concrete value of a computed name for one account, as CloudFormation's Sub would give it."""
    return name.replace(ACCOUNT, account).replace(PARTITION, partition)


def validate(cfg: PipelineConfig) -> None:
    """Fail early when project and environment names would make a bucket name S3 rejects."""
    for region in cfg.regions:
        buckets = (ingest_bucket(cfg, region), access_log_bucket(cfg, region), artifacts_bucket(cfg, region),
                   audit_bucket(cfg, region))
        for bucket in buckets:
            concrete = resolve(bucket, SAMPLE_ACCOUNT)
            if len(concrete) > BUCKET_NAME_MAX:
                raise ConfigError(
                    f"bucket name {concrete} would be {len(concrete)} characters (S3 allows "
                    f"{BUCKET_NAME_MAX}): shorten project {cfg.project!r} or environment {cfg.environment!r}"
                )
