"""What moto's CloudFormation skips or ignores in a rendered template, applied after a deploy through the same
AWS APIs a user would call (``apply_skipped_resources``). Idempotent: it can run after every deploy.

Gaps covered here:

- ``AWS::S3::BucketPolicy``, ``AWS::SQS::QueuePolicy`` and ``AWS::SNS::TopicPolicy`` are skipped: applied with
  the S3, SQS and SNS APIs.
- Bucket ``VersioningConfiguration``, ``NotificationConfiguration``, ``PublicAccessBlockConfiguration`` and
  ``OwnershipControls`` are ignored: applied with the S3 API (so an upload reaches the ingest queue).
- ``AWS::SecretsManager::Secret`` is skipped (the pseudonymization key the processor reads): created with the
  Secrets Manager API, with a value generated as its ``GenerateSecretString`` asks, its KMS key and its
  ``ReplicaRegions`` (moto replicates it), unless it exists (a new value would break what was pseudonymized).
- ``AWS::CloudWatch::Alarm`` is skipped: each single-metric alarm is created with ``PutMetricAlarm`` (its
  name, metric, dimensions, statistic, thresholds and actions), so tools that read alarm states (the smoke
  check) find them; nothing publishes the metrics, so they stay in INSUFFICIENT_DATA unless a test sets a
  state (``SetAlarmState``).
- ``AWS::DynamoDB::GlobalTable`` where no stack created it (a template deployed without ``patch_moto``, whose
  model creates it): ``create_table_from_template`` creates the replica as a plain table (key schema,
  attributes, GSIs, stream, TTL). The handler tests create their table with it, from the rendered template.

Not covered, and checked on the rendered template by the template tests instead (``tests/local/test_skipped.py``
checks that they refer only to what the deploy created): composite alarms, network ACLs
and their entries and associations, the CloudTrail trail, Config rules and e-mail subscriptions (skipped);
bucket lifecycle, logging, metrics and replication, the function's logging configuration and KMS key
(ignored); the table's PITR, contributor insights and encryption (accepted, not enforced).
"""

from __future__ import annotations

import json
from typing import Any

from tap_templates.local.intrinsics import TemplateContext, resolve, resources_of_type

GLOBAL_TABLE = "AWS::DynamoDB::GlobalTable"
_POLICIES = ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy")
_PASSWORD_OPTIONS = ("PasswordLength", "ExcludeCharacters", "ExcludeNumbers", "ExcludePunctuation",
                     "ExcludeUppercase", "ExcludeLowercase", "IncludeSpace", "RequireEachIncludedType")


def global_table(template: dict[str, Any]) -> dict[str, Any]:
    tables = resources_of_type(template, GLOBAL_TABLE)
    if len(tables) != 1:
        raise ValueError(f"expected one AWS::DynamoDB::GlobalTable in the template, found {len(tables)}")
    return next(iter(tables.values()))["Properties"]


def create_table_from_template(template: dict[str, Any], dynamodb_client: Any) -> str:
    """Create the global table's replica in the client's region as a plain table; return its name.

    Encryption, PITR, deletion protection and contributor insights are not applied: moto accepts but does
    not enforce them, and the template tests check them on the rendered JSON instead.
    """
    props = global_table(template)
    name = props["TableName"]
    dynamodb_client.create_table(
        TableName=name,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props["BillingMode"],
        GlobalSecondaryIndexes=[
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in props.get("GlobalSecondaryIndexes", [])
        ],
        StreamSpecification={"StreamEnabled": True, **props["StreamSpecification"]},
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb_client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return name


def _notification(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in the shape of S3's PutBucketNotificationConfiguration."""
    def one(entry: dict[str, Any], target_key: str, arn_key: str) -> dict[str, Any]:
        rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        return {arn_key: entry[target_key], "Events": [entry["Event"]],
                **({"Filter": {"Key": {"FilterRules": rules}}} if rules else {})}
    return {
        **({"QueueConfigurations": [one(e, "Queue", "QueueArn") for e in config["QueueConfigurations"]]}
           if "QueueConfigurations" in config else {}),
        **({"TopicConfigurations": [one(e, "Topic", "TopicArn") for e in config["TopicConfigurations"]]}
           if "TopicConfigurations" in config else {}),
        **({"LambdaFunctionConfigurations": [one(e, "Function", "LambdaFunctionArn")
                                             for e in config["LambdaConfigurations"]]}
           if "LambdaConfigurations" in config else {}),
    }


def _apply_bucket(ctx: TemplateContext, props: dict[str, Any]) -> list[str]:
    s3, bucket, done = ctx.clients("s3"), resolve(props["BucketName"], ctx), []
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=resolve(props["VersioningConfiguration"], ctx))
        done.append(f"versioning of {bucket}")
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=resolve(props["PublicAccessBlockConfiguration"], ctx))
        done.append(f"public access block of {bucket}")
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=resolve(props["OwnershipControls"], ctx))
        done.append(f"ownership controls of {bucket}")
    if "NotificationConfiguration" in props:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=_notification(resolve(props["NotificationConfiguration"], ctx)))
        done.append(f"notifications of {bucket}")
    return done


def _apply_policy(ctx: TemplateContext, kind: str, props: dict[str, Any]) -> list[str]:
    policy = json.dumps(resolve(props["PolicyDocument"], ctx))
    if kind == "AWS::S3::BucketPolicy":
        bucket = resolve(props["Bucket"], ctx)
        ctx.clients("s3").put_bucket_policy(Bucket=bucket, Policy=policy)
        return [f"policy of bucket {bucket}"]
    if kind == "AWS::SQS::QueuePolicy":
        queues = resolve(props["Queues"], ctx)
        for url in queues:
            ctx.clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        return [f"policy of queue {url.rsplit('/', 1)[-1]}" for url in queues]
    topics = resolve(props["Topics"], ctx)
    for arn in topics:
        ctx.clients("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=policy)
    return [f"policy of topic {arn.rsplit(':', 1)[-1]}" for arn in topics]


def _apply_secret(ctx: TemplateContext, props: dict[str, Any]) -> list[str]:
    client, name = ctx.clients("secretsmanager"), resolve(props["Name"], ctx)
    replicas = [{k: v for k, v in r.items() if k in ("Region", "KmsKeyId")}
                for r in resolve(props.get("ReplicaRegions", []), ctx)]
    done = [f"secret {name}" + (f" (replicas in {', '.join(r['Region'] for r in replicas)})" if replicas else "")]
    try:
        client.describe_secret(SecretId=name)
        return done  # its value stays: a new one would break what was pseudonymized with it
    except client.exceptions.ResourceNotFoundException:
        pass
    generate = {k: v for k, v in resolve(props.get("GenerateSecretString", {}), ctx).items()
                if k in _PASSWORD_OPTIONS}
    value = client.get_random_password(**generate)["RandomPassword"]
    client.create_secret(Name=name, SecretString=value, Description=props.get("Description", ""),
                         **({"KmsKeyId": resolve(props["KmsKeyId"], ctx)} if "KmsKeyId" in props else {}),
                         **({"AddReplicaRegions": replicas} if replicas else {}))
    return done


_ALARM_FIELDS = ("AlarmName", "AlarmDescription", "Namespace", "MetricName", "Statistic", "Period",
                 "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
                 "AlarmActions", "OKActions")


def _apply_alarm(ctx: TemplateContext, props: dict[str, Any]) -> list[str]:
    arguments = {name: resolve(props[name], ctx) for name in _ALARM_FIELDS if name in props}
    arguments["Dimensions"] = [{"Name": d["Name"], "Value": str(resolve(d["Value"], ctx))}
                               for d in props.get("Dimensions", [])]
    ctx.clients("cloudwatch").put_metric_alarm(**arguments)
    return [f"alarm {arguments['AlarmName']}"]


def apply_skipped_resources(template: dict[str, Any], region: str, session: Any, endpoint_url: str | None = None,
                            parameters: dict[str, str] | None = None) -> list[str]:
    """After a deploy to the emulator: apply what moto's CloudFormation skipped; return what was applied.
    Running it twice applies the same configuration again."""
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, region_name=region, endpoint_url=endpoint_url)
        return clients[service]

    identity = client("sts").get_caller_identity()
    ctx = TemplateContext(template=template, account=identity["Account"], region=region,
                          partition=identity["Arn"].split(":")[1], parameters=dict(parameters or {}), clients=client)
    applied: list[str] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if "Condition" in resource and not ctx.condition(resource["Condition"]):
            continue
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            applied += _apply_bucket(ctx, props)
        elif kind in _POLICIES:
            applied += _apply_policy(ctx, kind, props)
        elif kind == "AWS::SecretsManager::Secret":
            applied += _apply_secret(ctx, props)
        elif kind == "AWS::CloudWatch::Alarm":
            applied += _apply_alarm(ctx, props)
        elif kind == GLOBAL_TABLE and props["TableName"] not in client("dynamodb").list_tables()["TableNames"]:
            applied.append(f"table {create_table_from_template(template, client('dynamodb'))} ({logical_id})")
    return applied
