"""Template behaviours that cfn-lint accepts and the emulator cannot show, checked on the rendered JSON against
the AWS rule each comes from (the page is cited where the template builds it):

- CloudTrail can use the data key: DescribeKey carries no encryption context; the audit bucket's S3 Bucket Key
  needs kms:Decrypt (components/kms.py);
- S3's events reach the encrypted ingest queue: SQS calls KMS for S3, with conditions that call carries;
- AWS Config refuses a scope on a periodic managed rule (components/audit.py);
- a dead letter always gets ``dead_letter_days`` in the DLQ, whatever it waited before (components/queues.py);
- the concurrency alarm watches the limit that binds (components/monitoring.py);
- a Route 53 alarm check never stays unhealthy on a silent metric (components/health.py);
- the subnets are placed by zone ID, from the config (components/network.py).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_templates import naming
from tap_templates.components import audit, health, monitoring, queues
from tap_templates.config import parse_config
from tap_templates.errors import ConfigError
from tap_templates.render import render
from tests.support.key_policy import Request, allowing_statements
from tests.support.rendered import ACCOUNT, all_templates, config

TEMPLATES = all_templates()
per_template = pytest.mark.parametrize("t", TEMPLATES, ids=[f"{t.env}-{t.region}" for t in TEMPLATES])
WITH_TRAIL = [t for t in TEMPLATES if config(t.env).audit.cloudtrail]
DAY = 86_400
# The trigger type on each managed rule's page of the AWS Config Developer Guide (<rule-name>.html).
TRIGGER_TYPES = {
    "S3_BUCKET_SSL_REQUESTS_ONLY": "Configuration changes",
    "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED": "Configuration changes",
    "S3_BUCKET_VERSIONING_ENABLED": "Configuration changes",
    "S3_BUCKET_LOGGING_ENABLED": "Configuration changes",
    "LAMBDA_CONCURRENCY_CHECK": "Configuration changes",
    "LAMBDA_INSIDE_VPC": "Configuration changes",
    "DYNAMODB_PITR_ENABLED": "Configuration changes",
    "CMK_BACKING_KEY_ROTATION_ENABLED": "Periodic",
}


def dev_with(**sections):
    return parse_config({"tags": dict(config("dev").tags), **sections}, "dev")


# --- CloudTrail and the data key ---------------------------------------------------------------------------------


def trail_arn(t):
    return naming.resolve(naming.trail_arn(config(t.env), t.region), ACCOUNT)


def cloudtrail(action, **context):
    return Request(("Service", "cloudtrail.amazonaws.com"), action, context)


@pytest.mark.parametrize("t", WITH_TRAIL, ids=[t.region for t in WITH_TRAIL])
def test_cloudtrail_can_describe_the_key_without_an_encryption_context(t):
    assert allowing_statements(t, cloudtrail("kms:DescribeKey", **{"aws:SourceArn": trail_arn(t)})) == [
        "CloudTrailDescribesKey"]
    for statement in t.one("AWS::KMS::Key")["KeyPolicy"]["Statement"]:
        if "kms:DescribeKey" in statement["Action"] and "cloudtrail" in str(statement["Principal"]):
            assert "kms:EncryptionContext" not in str(statement["Condition"]), statement["Sid"]


@pytest.mark.parametrize("t", WITH_TRAIL, ids=[t.region for t in WITH_TRAIL])
def test_cloudtrail_encrypts_its_logs_and_decrypts_through_the_audit_bucket_key(t):
    arn = trail_arn(t)
    bucket_key = t.props("AuditBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert bucket_key["BucketKeyEnabled"] is True, "the Decrypt statement exists for the bucket key"
    assert allowing_statements(t, cloudtrail("kms:GenerateDataKey", **{
        "aws:SourceArn": arn, "kms:EncryptionContext:aws:cloudtrail:arn": arn})) == ["CloudTrailEncryptsDataEventLogs"]
    assert allowing_statements(t, cloudtrail("kms:Decrypt", **{"aws:SourceArn": arn})) == [
        "CloudTrailDecryptsWithAuditBucketKey"]


@pytest.mark.parametrize("t", WITH_TRAIL, ids=[t.region for t in WITH_TRAIL])
def test_another_trail_may_not_use_the_key(t):
    other = trail_arn(t).replace("data-events", "someone-else")
    for action in ("kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"):
        request = cloudtrail(action, **{"aws:SourceArn": other, "kms:EncryptionContext:aws:cloudtrail:arn": other})
        assert allowing_statements(t, request) == [], action


def test_no_cloudtrail_statements_without_a_trail():
    for t in TEMPLATES:
        if not config(t.env).audit.cloudtrail:
            assert "cloudtrail" not in str(t.one("AWS::KMS::Key")["KeyPolicy"])


# --- S3 events into the encrypted queue --------------------------------------------------------------------------


def s3_through_sqs(t, queue, via=None, **extra):
    """The KMS call SQS makes for S3's SendMessage: S3's principal, SQS's ViaService and encryption context, and
    no aws:SourceArn / aws:SourceAccount (only present when the service principal calls the resource itself)."""
    context = {"kms:ViaService": via or f"sqs.{t.region}.amazonaws.com",
               "kms:EncryptionContext:aws:sqs:arn": f"arn:aws:sqs:{t.region}:{ACCOUNT}:{queue}", **extra}
    return [Request(("Service", "s3.amazonaws.com"), action, context)
            for action in ("kms:GenerateDataKey", "kms:Decrypt")]


@per_template
def test_s3_events_reach_the_encrypted_ingest_queue(t):
    ingest = naming.ingest_queue(config(t.env))
    assert t.props("IngestQueue")["QueueName"] == ingest
    for request in s3_through_sqs(t, ingest):
        assert allowing_statements(t, request) == ["S3NotifiesEncryptedIngestQueue"], request.action


@per_template
def test_s3_may_use_the_key_for_no_other_queue_or_path(t):
    for request in [*s3_through_sqs(t, naming.dead_letter_queue(config(t.env))),
                    *s3_through_sqs(t, "someone-elses-queue"),
                    *s3_through_sqs(t, naming.ingest_queue(config(t.env)), via=f"s3.{t.region}.amazonaws.com")]:
        assert allowing_statements(t, request) == [], request


# --- Config rules --------------------------------------------------------------------------------------------------


def test_every_rendered_rule_has_a_known_trigger_type():
    assert {r for r, kind in TRIGGER_TYPES.items() if kind == "Periodic"} == audit.PERIODIC_RULES
    for t in TEMPLATES:
        for rule in t.of_type("AWS::Config::ConfigRule").values():
            assert rule["Properties"]["Source"]["SourceIdentifier"] in TRIGGER_TYPES


@pytest.mark.parametrize("t", [t for t in TEMPLATES if config(t.env).audit.config_rules],
                         ids=lambda t: f"{t.env}-{t.region}")
def test_periodic_rules_carry_no_scope_and_the_others_are_scoped(t):
    kinds = {}
    for rule in t.of_type("AWS::Config::ConfigRule").values():
        props = rule["Properties"]
        kind = TRIGGER_TYPES[props["Source"]["SourceIdentifier"]]
        kinds[props["Source"]["SourceIdentifier"]] = kind
        if kind == "Periodic":
            assert "Scope" not in props
            assert props["MaximumExecutionFrequency"] == "TwentyFour_Hours"
        else:
            assert props["Scope"]["ComplianceResourceId"] and "MaximumExecutionFrequency" not in props
    assert "Periodic" in kinds.values()


# --- Dead-letter retention ---------------------------------------------------------------------------------------


def time_left_in_dlq(first_queued: int, moved: int, dlq_retention: int) -> int:
    """A standard DLQ keeps a moved message's first enqueue time, and expires it at that time plus its own
    retention (Amazon SQS Developer Guide, "Setting-up dead-letter queue retention in Amazon SQS")."""
    return first_queued + dlq_retention - moved


def worst_case(ingest_retention: int, dlq_retention: int) -> int:
    """The least time any dead letter gets: moved at the last second the ingest queue still had it."""
    return min(time_left_in_dlq(0, moved, dlq_retention) for moved in (0, ingest_retention // 2, ingest_retention - 1))


@per_template
def test_every_dead_letter_gets_the_promised_retention(t):
    cfg = config(t.env)
    ingest, dlq = t.props("IngestQueue")["MessageRetentionPeriod"], t.props("DeadLetterQueue")["MessageRetentionPeriod"]
    assert (ingest, dlq) == (cfg.retention.ingest_queue_days * DAY,
                             (cfg.retention.ingest_queue_days + cfg.retention.dead_letter_days) * DAY)
    assert dlq <= queues.MAX_RETENTION_SECONDS
    assert worst_case(ingest, dlq) >= cfg.retention.dead_letter_days * DAY
    assert time_left_in_dlq(0, ingest - 1, dlq) == cfg.retention.dead_letter_days * DAY + 1


def test_the_retained_days_of_the_shipped_configs():
    """4 days for a passive region's backlog, then 10 days in the DLQ, within SQS's 14."""
    for env in ("dev", "prod"):
        r = config(env).retention
        assert (r.ingest_queue_days, r.dead_letter_days) == (4, 10)


@given(ingest=st.integers(1, 13), extra=st.integers(0, 12))
def test_the_arithmetic_holds_for_every_valid_config(ingest, extra):
    dead = max(1, min(14 - ingest, 1 + extra))
    cfg = dev_with(retention={"ingest_queue_days": ingest, "dead_letter_days": dead})
    ingest_s, dlq_s = queues.retention_seconds(cfg)
    assert dlq_s <= queues.MAX_RETENTION_SECONDS
    assert worst_case(ingest_s, dlq_s) >= dead * DAY


@pytest.mark.parametrize(("retention", "message"), [
    ({"ingest_queue_days": 7, "dead_letter_days": 8}, "ingest_queue_days \\+ dead_letter_days is 15 days"),
    ({"ingest_queue_days": 14}, "retention.ingest_queue_days is 14; it must be between 1 and 13"),
    ({"dead_letter_days": 0}, "retention.dead_letter_days is 0"),
])
def test_retention_sqs_cannot_keep_is_refused(retention, message):
    with pytest.raises(ConfigError, match=message):
        dev_with(retention=retention)


def test_a_queue_age_alarm_past_the_queue_s_retention_is_refused():
    with pytest.raises(ConfigError, match="messages would expire before the alarm fires"):
        dev_with(retention={"ingest_queue_days": 1}, alarms={"queue_age_seconds": 86_400})


# --- Concurrency alarm -------------------------------------------------------------------------------------------


@per_template
def test_the_concurrency_alarm_can_fire(t):
    p, a = config(t.env).processor, config(t.env).alarms
    binding = min(p.reserved_concurrency, p.max_concurrency)
    assert binding == p.max_concurrency < p.reserved_concurrency, "the event source binds in the shipped configs"
    alarm = t.props("ProcessorConcurrencyAlarm")
    assert alarm["Threshold"] == max(1, int(a.concurrency_fraction * binding)) <= binding
    assert f"maximum concurrency ({binding})" in alarm["AlarmDescription"]


def test_when_reserved_equals_the_maximum_the_event_source_still_names_the_limit():
    cfg = dev_with(processor={"reserved_concurrency": 6, "max_concurrency": 6})
    assert monitoring.binding_concurrency(cfg) == (6, "the event source's maximum concurrency")


# --- Health checks -----------------------------------------------------------------------------------------------


@per_template
def test_alarm_health_checks_are_healthy_while_their_metric_is_silent(t):
    assert set(health.INSUFFICIENT_DATA) == set(monitoring.KEY_ALARMS), "a key alarm without a decision"
    by_alarm = {c["Properties"]["HealthCheckConfig"]["AlarmIdentifier"]["Name"]: c["Properties"]["HealthCheckConfig"]
                for c in t.of_type("AWS::Route53::HealthCheck").values()
                if c["Properties"]["HealthCheckConfig"]["Type"] == "CLOUDWATCH_METRIC"}
    assert len(by_alarm) == len(monitoring.KEY_ALARMS)
    for logical_id, (status, reason) in health.INSUFFICIENT_DATA.items():
        name = t.props(logical_id)["AlarmName"]
        assert by_alarm[name]["InsufficientDataHealthStatus"] == status == "Healthy", logical_id
        assert reason


# --- Zones -------------------------------------------------------------------------------------------------------


@per_template
def test_subnets_are_placed_by_zone_id(t):
    zones = [t.props(s)["AvailabilityZoneId"] for s in ("PrivateSubnet1", "PrivateSubnet2")]
    prefix = {"us-east-1": "use1", "us-west-2": "usw2"}[t.region]
    assert zones == [f"{prefix}-az1", f"{prefix}-az2"], "the region's az1 and az2 unless [network] zone_ids says"
    assert "Fn::GetAZs" not in str(t.resources)


def test_configured_zone_ids_reach_the_template():
    cfg = dev_with(network={"zone_ids": {"us-east-1": ["use1-az4", "use1-az6"]}})
    bodies = {r.region: json.loads(r.body) for r in render(cfg).templates}
    subnets = [bodies["us-east-1"]["Resources"][s]["Properties"]["AvailabilityZoneId"]
               for s in ("PrivateSubnet1", "PrivateSubnet2")]
    assert subnets == ["use1-az4", "use1-az6"]
    assert bodies["us-west-2"]["Resources"]["PrivateSubnet1"]["Properties"]["AvailabilityZoneId"] == "usw2-az1"


@pytest.mark.parametrize(("zone_ids", "message"), [
    ({"us-east-1": ["usw2-az1", "use1-az2"]}, "usw2-az1 is not a zone ID of us-east-1 like use1-az1"),
    ({"us-east-1": ["use1-az1"]}, "must list 2 different zone IDs, one per private subnet; it lists use1-az1"),
    ({"us-east-1": ["use1-az1", "use1-az1"]}, "must list 2 different zone IDs"),
    ({"eu-west-1": ["euw1-az1", "euw1-az2"]}, "names 'eu-west-1', not a region of this environment"),
])
def test_bad_zone_ids_are_refused(zone_ids, message):
    with pytest.raises(ConfigError, match=message):
        dev_with(network={"zone_ids": zone_ids})
