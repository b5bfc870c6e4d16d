"""Each component's properties, asserted on the rendered JSON of every shipped environment and region."""

from __future__ import annotations

import pytest

from tap_templates import naming
from tests.support.rendered import all_templates, config, resolve

TEMPLATES = all_templates()
IDS = [f"{t.env}-{t.region}" for t in TEMPLATES]
PRIMARIES = [t for t in TEMPLATES if t.role == "primary"]
SECONDARIES = [t for t in TEMPLATES if t.role == "secondary"]
per_template = pytest.mark.parametrize("t", TEMPLATES, ids=IDS)


def is_key_arn(value) -> bool:
    return value == {"Fn::GetAtt": ["DataKey", "Arn"]}


@per_template
def test_kms_key_rotates_and_has_an_alias(t):
    key = t.one("AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True
    assert t.resources["DataKey"]["DeletionPolicy"] == "RetainExceptOnCreate"
    alias = t.one("AWS::KMS::Alias")
    assert alias["AliasName"] == naming.key_alias(config(t.env))
    assert alias["TargetKeyId"] == {"Ref": "DataKey"}


@per_template
def test_key_policy_grants_services_only_with_conditions(t):
    statements = t.one("AWS::KMS::Key")["KeyPolicy"]["Statement"]
    services = set()
    for s in statements:
        principal = s["Principal"]
        if "Service" in principal:
            services.add(principal["Service"] if isinstance(principal["Service"], str) else principal["Service"][0])
            assert s.get("Condition"), f"{s['Sid']} grants a service without a source condition"
        if s["Sid"] not in ("AccountAdministersKey", "StackSetExecutionRoleManagesKey"):  # admin, no data
            assert "Condition" in s
    expected = {f"logs.{t.region}.amazonaws.com", "s3.amazonaws.com", "cloudwatch.amazonaws.com"}
    if config(t.env).audit.cloudtrail:
        expected.add("cloudtrail.amazonaws.com")
    assert services == expected
    via = next(s for s in statements if s["Sid"] == "AccountUsesKeyThroughPipelineServices")
    assert set(via["Condition"]["StringEquals"]["kms:ViaService"]) >= {
        f"{svc}.{t.region}.amazonaws.com" for svc in ("s3", "sqs", "sns", "dynamodb")
    }
    admin = next(s for s in statements if s["Sid"] == "AccountAdministersKey")
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(admin["Action"])
    deny = next(s for s in statements if s["Sid"] == "DenyGrantsNotForAwsResources")
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", ["kms:CreateGrant"], "*")
    assert deny["Condition"] == {"BoolIfExists": {"kms:GrantIsForAWSResource": "false",
                                                  "aws:PrincipalIsAWSService": "false"}}
    execution = next(s for s in statements if s["Sid"] == "StackSetExecutionRoleManagesKey")
    role = naming.stackset_execution_role(config(t.env))
    assert resolve(execution["Principal"]["AWS"], t) == f"arn:aws:iam::123456789012:role/{role}"
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant"} & set(execution["Action"])
    uses = next(s for s in statements if s["Sid"] == "StackSetExecutionRoleUsesKeyThroughPipelineServices")
    assert uses["Condition"]["StringEquals"] == {"kms:ViaService": via["Condition"]["StringEquals"]["kms:ViaService"]}


@per_template
def test_ingest_bucket_is_private_encrypted_versioned_and_logged(t):
    cfg = config(t.env)
    bucket = t.props("IngestBucket")
    assert resolve(bucket["BucketName"], t) == naming.resolve(naming.ingest_bucket(cfg, t.region), "123456789012")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["BucketKeyEnabled"] is True
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert is_key_arn(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True)
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    assert bucket["MetricsConfigurations"] == [{"Id": naming.METRICS_FILTER_ID}]
    assert t.resources["IngestBucket"]["DeletionPolicy"] == "RetainExceptOnCreate"
    assert t.resources["IngestBucket"]["UpdateReplacePolicy"] == "Retain"


@per_template
def test_access_log_bucket_is_private_encrypted_and_expires(t):
    logs = t.props("AccessLogBucket")
    default = logs["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert default == {"SSEAlgorithm": "AES256"}  # S3 access logging cannot target an SSE-KMS bucket
    assert all(logs["PublicAccessBlockConfiguration"].values())
    assert logs["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == config(t.env).retention.access_log_days
    delivery = next(s for s in t.props("AccessLogBucketPolicy")["PolicyDocument"]["Statement"]
                    if s["Sid"] == "S3ServerAccessLogDelivery")
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert "aws:SourceAccount" in delivery["Condition"]["StringEquals"]


@per_template
def test_lifecycle_tiers_then_expires(t):
    r = config(t.env).retention
    (rule,) = t.props("IngestBucket")["LifecycleConfiguration"]["Rules"]
    assert [(x["StorageClass"], x["TransitionInDays"]) for x in rule["Transitions"]] == [
        ("STANDARD_IA", r.transition_ia_days), ("GLACIER", r.transition_glacier_days),
        ("DEEP_ARCHIVE", r.transition_deep_archive_days)]
    assert rule["ExpirationInDays"] == r.object_expiry_days
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": r.noncurrent_version_days}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": r.abort_multipart_days}


@per_template
def test_notifications_cover_every_supported_suffix_and_go_to_the_ingest_queue(t):
    configs = t.props("IngestBucket")["NotificationConfiguration"]["QueueConfigurations"]
    suffixes = [c["Filter"]["S3Key"]["Rules"][0]["Value"] for c in configs]
    assert sorted(suffixes) == sorted(naming.INGEST_SUFFIXES)
    assert {".json", ".jsonl", ".csv", ".json.gz", ".jsonl.gz", ".csv.gz"} <= set(suffixes)
    for a in suffixes:  # S3 rejects overlapping suffix filters for the same event type
        assert not any(b != a and b.endswith(a) for b in suffixes), a
    assert all(c["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]} for c in configs)
    assert all(c["Event"] == "s3:ObjectCreated:*" for c in configs)
    assert "IngestQueuePolicy" in t.resources["IngestBucket"]["DependsOn"]


@pytest.mark.parametrize("t", PRIMARIES, ids=[t.env for t in PRIMARIES])
def test_primary_replicates_to_every_secondary_with_its_key(t):
    cfg = config(t.env)
    replication = t.props("IngestBucket")["ReplicationConfiguration"]
    assert replication["Role"] == {"Fn::GetAtt": ["ReplicationRole", "Arn"]}
    destinations = {}
    for rule in replication["Rules"]:
        assert rule["Status"] == "Enabled"
        assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
        assert rule["SourceSelectionCriteria"]["SseKmsEncryptedObjects"] == {"Status": "Enabled"}
        dest = rule["Destination"]
        destinations[resolve(dest["Bucket"], t)] = resolve(dest["EncryptionConfiguration"]["ReplicaKmsKeyID"], t)
    assert destinations == {
        f"arn:aws:s3:::{naming.resolve(naming.ingest_bucket(cfg, r), '123456789012')}":
            f"arn:aws:kms:{r}:123456789012:{naming.key_alias(cfg)}"
        for r in cfg.secondary_regions
    }


@pytest.mark.parametrize("t", SECONDARIES, ids=[f"{t.env}-{t.region}" for t in SECONDARIES])
def test_secondary_neither_replicates_nor_creates_the_table(t):
    absent = {"Ref": "AWS::NoValue"}
    assert t.props("IngestBucket").get("ReplicationConfiguration", absent) == absent
    assert "ReplicationRole" not in t.resources
    assert not t.of_type("AWS::DynamoDB::GlobalTable")


@per_template
def test_queues_are_encrypted_and_wired_to_the_dlq(t):
    cfg = config(t.env)
    ingest, dlq = t.props("IngestQueue"), t.props("DeadLetterQueue")
    for queue in (ingest, dlq):
        assert is_key_arn(queue["KmsMasterKeyId"])
    assert ingest["QueueName"] == naming.ingest_queue(cfg)
    assert dlq["QueueName"] == naming.dead_letter_queue(cfg)
    assert ingest["VisibilityTimeout"] >= 6 * cfg.processor.timeout_seconds
    assert ingest["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                                       "maxReceiveCount": cfg.processor.max_receive_count}
    assert dlq["MessageRetentionPeriod"] - ingest["MessageRetentionPeriod"] >= cfg.retention.dead_letter_days * 86400


@per_template
def test_only_the_bucket_may_send_to_the_ingest_queue_and_only_over_tls(t):
    statements = t.props("IngestQueuePolicy")["PolicyDocument"]["Statement"]
    allow = next(s for s in statements if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Action"] == ["sqs:SendMessage"]
    bucket_arn = resolve(allow["Condition"]["ArnEquals"]["aws:SourceArn"], t)
    assert bucket_arn == f"arn:aws:s3:::{resolve(t.props('IngestBucket')['BucketName'], t)}"
    assert "aws:SourceAccount" in allow["Condition"]["StringEquals"]
    for policy in ("IngestQueuePolicy", "DeadLetterQueuePolicy", "IngestBucketPolicy", "AccessLogBucketPolicy",
                   "AlarmTopicPolicy"):
        deny = [s for s in t.props(policy)["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, policy


@pytest.mark.parametrize("t", PRIMARIES, ids=[t.env for t in PRIMARIES])
def test_table_deletion_protection_is_a_parameter_on_by_default(t):
    parameter = t.body["Parameters"]["TableDeletionProtection"]
    assert parameter["Default"] == "true" and parameter["AllowedValues"] == ["true", "false"]
    assert t.body["Conditions"]["TableIsProtected"] == {"Fn::Equals": [{"Ref": "TableDeletionProtection"}, "true"]}


@pytest.mark.parametrize("t", PRIMARIES, ids=[t.env for t in PRIMARIES])
def test_global_table_schema_replicas_and_retention(t):
    cfg = config(t.env)
    table = t.one("AWS::DynamoDB::GlobalTable")
    assert table["TableName"] == naming.table(cfg)
    assert table["KeySchema"] == [{"AttributeName": "recordId", "KeyType": "HASH"},
                                  {"AttributeName": "timestamp", "KeyType": "RANGE"}]
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {"TimeIndex": ["timeShard", "timestamp"]}
    assert [i["Projection"] for i in table["GlobalSecondaryIndexes"]] == [{"ProjectionType": "ALL"}]
    assert sorted(a["AttributeName"] for a in table["AttributeDefinitions"]) == ["recordId", "timeShard", "timestamp"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert [r["Region"] for r in table["Replicas"]] == list(cfg.regions)
    for replica in table["Replicas"]:
        assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert replica["DeletionProtectionEnabled"] == {"Fn::If": ["TableIsProtected", True, False]}
        assert replica["ContributorInsightsSpecification"] == {"Enabled": True}
        key = replica["SSESpecification"]["KMSMasterKeyId"]
        if replica["Region"] == t.region:
            assert is_key_arn(key)
        else:
            assert resolve(key, t) == f"arn:aws:kms:{replica['Region']}:123456789012:{naming.key_alias(cfg)}"
    resource = t.resources["RecordsTable"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


@per_template
def test_processor_function_runtime_code_and_tracing(t):
    cfg = config(t.env)
    fn = t.props("ProcessorFunction")
    assert fn["FunctionName"] == naming.function(cfg)
    assert fn["Runtime"] == "python3.13" and fn["Architectures"] == ["arm64"]
    assert fn["Handler"] == "handlers.processor.handler"
    assert fn["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["MemorySize"] == cfg.processor.memory_mb and fn["Timeout"] == cfg.processor.timeout_seconds
    assert fn["ReservedConcurrentExecutions"] == cfg.processor.reserved_concurrency
    assert fn["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": "ProcessorLogGroup"}}
    log_group = t.props("ProcessorLogGroup")
    assert log_group["LogGroupName"] == f"/aws/lambda/{naming.function(cfg)}"
    assert log_group["RetentionInDays"] == cfg.retention.log_days and is_key_arn(log_group["KmsKeyId"])
    env = fn["Environment"]["Variables"]
    assert env["TABLE_NAME"] == naming.table(cfg)
    assert env["DLQ_URL"] == {"Ref": "DeadLetterQueue"}
    assert env["RECORD_TTL_DAYS"] == str(cfg.processor.record_ttl_days)


@per_template
def test_event_source_reports_partial_failures_and_follows_the_enabled_switch(t):
    cfg = config(t.env)
    trigger = t.props("ProcessorEventSource")
    assert trigger["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert trigger["EventSourceArn"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert trigger["ScalingConfig"] == {"MaximumConcurrency": cfg.processor.max_concurrency}
    assert trigger["MaximumBatchingWindowInSeconds"] == cfg.processor.batching_window_seconds
    assert trigger["Enabled"] == {"Fn::If": ["ProcessingIsEnabled", True, False]}
    assert t.body["Conditions"]["ProcessingIsEnabled"] == {"Fn::Equals": [{"Ref": "ProcessingEnabled"}, "true"]}
    default = t.body["Parameters"]["ProcessingEnabled"]["Default"]
    assert default == ("true" if t.role == "primary" else "false")


@per_template
def test_execution_role_allows_exactly_what_the_handler_does(t):
    cfg = config(t.env)
    (policy,) = t.props("ProcessorRole")["Policies"]
    grants = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    expected = {"ReadIngestObjects", "TellMissingObjectsApart", "UseDataKey", "WriteRecordsAndLedger",
                "ConsumeIngestQueue", "ReportFailedFiles", "WriteOwnLogs", "WriteTraces"}
    if cfg.pseudonymization.enabled:
        expected.add("ReadPseudonymizationKey")
    if cfg.network.isolated:
        expected |= {"AttachToPrivateSubnets", "ManageOwnNetworkInterfaces", "DescribeNetwork"}
    assert set(grants) == expected
    assert grants["WriteTraces"]["Resource"] == ["*"]
    table_arn = resolve(grants["WriteRecordsAndLedger"]["Resource"][0], t)
    assert table_arn == f"arn:aws:dynamodb:{t.region}:123456789012:table/{naming.table(cfg)}"
    assert grants["ReportFailedFiles"]["Resource"] == [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}]
    assert set(grants["ReadIngestObjects"]["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"}
    bucket = resolve(t.props("IngestBucket")["BucketName"], t)
    assert grants["TellMissingObjectsApart"]["Action"] == ["s3:ListBucket"]
    assert resolve(grants["TellMissingObjectsApart"]["Resource"][0], t) == f"arn:aws:s3:::{bucket}"
    assert set(grants["ConsumeIngestQueue"]["Action"]) == {"sqs:ReceiveMessage", "sqs:DeleteMessage",
                                                           "sqs:GetQueueAttributes"}


@per_template
def test_every_role_carries_the_permissions_boundary(t):
    roles = t.of_type("AWS::IAM::Role")
    assert roles
    boundary = f"arn:aws:iam::123456789012:policy/{naming.role_boundary(config(t.env))}"
    for logical_id, role in roles.items():
        assert resolve(role["Properties"]["PermissionsBoundary"], t) == boundary, logical_id


@per_template
def test_alarms_notify_the_encrypted_topic(t):
    topic = t.props("AlarmTopic")
    assert is_key_arn(topic["KmsMasterKeyId"])
    alarms = t.of_type("AWS::CloudWatch::Alarm")
    names = {r["Properties"]["MetricName"] for r in alarms.values()}
    assert {"Errors", "Throttles", "Duration", "ConcurrentExecutions", "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesVisible", "SystemErrors", "ThrottledRequests", "ReplicationLatency",
            "5xxErrors"} <= names
    for alarm in [*alarms.values(), *t.of_type("AWS::CloudWatch::CompositeAlarm").values()]:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    email = config(t.env).alarms.email
    subscriptions = t.of_type("AWS::SNS::Subscription")
    assert [s["Properties"]["Endpoint"] for s in subscriptions.values()] == ([email] if email else [])


@per_template
def test_duration_and_concurrency_thresholds_follow_the_config(t):
    cfg = config(t.env)
    duration = t.props("ProcessorDurationAlarm")
    assert duration["Threshold"] == round(cfg.alarms.duration_fraction * cfg.processor.timeout_seconds * 1000)
    assert duration["Threshold"] < cfg.processor.timeout_seconds * 1000
    concurrency = t.props("ProcessorConcurrencyAlarm")
    assert concurrency["Threshold"] < min(cfg.processor.reserved_concurrency, cfg.processor.max_concurrency)


@per_template
def test_queue_age_alarm_exists_only_while_the_region_processes(t):
    assert t.resources["IngestQueueAgeAlarm"]["Condition"] == "ProcessingIsEnabled"
    rule = t.props("RegionUnhealthyAlarm")["AlarmRule"]
    assert rule["Fn::If"][0] == "ProcessingIsEnabled"
    assert "IngestQueueAgeAlarm" in str(rule["Fn::If"][1]) and "IngestQueueAgeAlarm" not in str(rule["Fn::If"][2])


@per_template
def test_dashboard_shows_this_region_and_the_primary_shows_the_secondaries(t):
    import json

    body = json.loads(resolve(t.props("Dashboard")["DashboardBody"], t))
    shown = {w["properties"]["region"] for w in body["widgets"]}
    cfg = config(t.env)
    assert shown == (set(cfg.regions) if t.role == "primary" else {t.region})
