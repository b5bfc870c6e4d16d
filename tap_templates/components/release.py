"""Canary releases of the processor: CodeDeploy moves the ``live`` alias, which the SQS event source invokes, from
the running version to the one a deploy published, and back when a release alarm fires.

How it works in CloudFormation (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/
aws-attribute-updatepolicy.html#cfn-attributes-updatepolicy-codedeploylambdaaliasupdate): the alias carries a
``CodeDeployLambdaAliasUpdate`` update policy, so when a deploy changes its ``FunctionVersion`` CloudFormation
starts a CodeDeploy deployment of this application and group instead of updating the alias, and waits for it.
CodeDeploy shifts ``[release] canary_percent`` of the alias's invocations to the new version for
``canary_minutes``, then the rest (or everything at once), and stops and rolls back when an alarm of the group is
in ALARM (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html#deployment-
configuration-lambda). A rollback fails the stack update, so the StackSet operation fails with the reason and
the deploy stops before the next region.

The release alarms look at one minute at a time, since a five-minute canary is over before a five-minute
alarm has a datapoint: errors of the new version only (Lambda's ``ExecutedVersion`` dimension of alias
invocations), throttles of the alias, and dead letters sent during the release (``NumberOfMessagesSent`` of the
DLQ: letters already waiting there, the region's ``DeadLetterQueueAlarm``, do not block a release). A passive
region (``ProcessingEnabled`` false) has no traffic to try a canary on, so it takes its new version at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import aws
from troposphere import AWSObject, GetAtt, If, Output, Ref, Sub, cloudwatch, codedeploy, iam, sns
from troposphere.policies import UpdatePolicy

from tap_templates import naming
from tap_templates.components import policies
from tap_templates.components.compat import AliasUpdate
from tap_templates.components.function import ENABLED_CONDITION, VERSION_ID
from tap_templates.config import PipelineConfig

ALL_AT_ONCE = "CodeDeployDefault.LambdaAllAtOnce"
ALARM_PERIOD = 60
RELEASE_ALARMS = ("ReleaseErrorsAlarm", "ReleaseThrottlesAlarm", "ReleaseDeadLettersAlarm")


@dataclass(frozen=True)
class Release:
    application: codedeploy.Application
    group: codedeploy.DeploymentGroup
    role: iam.Role
    alarms: list[cloudwatch.Alarm]
    canary: codedeploy.DeploymentConfig | None

    def update_policy(self) -> UpdatePolicy:
        """The alias's update policy: its version changes go through this deployment group."""
        return UpdatePolicy(CodeDeployLambdaAliasUpdate=AliasUpdate(
            ApplicationName=Ref(self.application), DeploymentGroupName=Ref(self.group)))

    def resources(self) -> list[AWSObject]:
        return [self.application, *([self.canary] if self.canary else []), self.role, *self.alarms, self.group]

    def outputs(self) -> list[Output]:
        return [Output("ReleaseApplicationName", Value=Ref(self.application)),
                Output("ReleaseDeploymentGroupName", Value=Ref(self.group))]


def _alarm(title: str, name: str, description: str, namespace: str, metric: str,
           dimensions: dict[str, object], topic: sns.Topic) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        title, AlarmName=name, AlarmDescription=description, Namespace=namespace, MetricName=metric,
        Dimensions=[cloudwatch.MetricDimension(Name=k, Value=v) for k, v in dimensions.items()],
        Statistic="Sum", Period=ALARM_PERIOD, EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
        AlarmActions=[Ref(topic)], OKActions=[Ref(topic)])


def release_alarms(cfg: PipelineConfig, topic: sns.Topic) -> list[cloudwatch.Alarm]:
    fn = naming.function(cfg)
    alias = f"{fn}:{naming.function_alias(cfg)}"
    return [
        _alarm("ReleaseErrorsAlarm", naming.alarm(cfg, "release-new-version-errors"),
               "The version being released raised errors: CodeDeploy rolls the live alias back",
               "AWS/Lambda", "Errors",
               {"FunctionName": fn, "Resource": alias, "ExecutedVersion": GetAtt(VERSION_ID, "Version")}, topic),
        _alarm("ReleaseThrottlesAlarm", naming.alarm(cfg, "release-throttles"),
               "Invocations of the live alias were throttled during a release: CodeDeploy rolls it back",
               "AWS/Lambda", "Throttles", {"FunctionName": fn, "Resource": alias}, topic),
        _alarm("ReleaseDeadLettersAlarm", naming.alarm(cfg, "release-dead-letters"),
               "Files were dead-lettered during a release: CodeDeploy rolls the live alias back",
               "AWS/SQS", "NumberOfMessagesSent", {"QueueName": naming.dead_letter_queue(cfg)}, topic),
    ]


def service_role(cfg: PipelineConfig, region: str, alarms: list[cloudwatch.Alarm]) -> iam.Role:
    """What CodeDeploy does in a Lambda deployment: read and move the alias, read the alarms
    (AWSCodeDeployRoleForLambdaLimited, without its S3 and SNS grants and limited to this function)."""
    function = f"arn:{naming.PARTITION}:lambda:{region}:{naming.ACCOUNT}:function:{naming.function(cfg)}"
    return iam.Role(
        "ReleaseRole",
        Description=f"CodeDeploy shifts the live alias of {naming.function(cfg)}",
        AssumeRolePolicyDocument=policies.document([aws.Statement(
            Effect=aws.Allow, Principal=policies.service_principal("codedeploy.amazonaws.com"),
            Action=[aws.Action("sts", "AssumeRole")],
            Condition=aws.Condition(aws.StringEquals("aws:SourceAccount", Sub(naming.ACCOUNT))))]),
        PermissionsBoundary=policies.role_boundary(cfg),
        Policies=[iam.Policy(PolicyName="shift-live-alias", PolicyDocument=policies.document([
            policies.allow(policies.actions("lambda", "GetAlias", "UpdateAlias"), [function, f"{function}:*"],
                           sid="ShiftLiveAlias"),
            # Provisioned concurrency is configured on a version or alias only (a qualified ARN).
            policies.allow(policies.actions("lambda", "GetProvisionedConcurrencyConfig"), [f"{function}:*"],
                           sid="ReadLiveAliasConcurrency"),
            policies.allow(policies.actions("cloudwatch", "DescribeAlarms"), [
                f"arn:{naming.PARTITION}:cloudwatch:{region}:{naming.ACCOUNT}:alarm:{a.AlarmName}" for a in alarms],
                sid="ReadReleaseAlarms"),
        ]))],
    )


def build(cfg: PipelineConfig, region: str, topic: sns.Topic) -> Release:
    """``topic``: the region's alarm topic, which hears the release alarms like every other alarm."""
    r = cfg.release
    application = codedeploy.Application("ReleaseApplication", ApplicationName=naming.release_application(cfg),
                                         ComputePlatform="Lambda")
    canary = None
    config_name: object = ALL_AT_ONCE
    if r.strategy == "canary":
        canary = codedeploy.DeploymentConfig(
            "ReleaseCanaryConfig", ComputePlatform="Lambda",
            DeploymentConfigName=naming.release_config(cfg, r.canary_percent, r.canary_minutes),
            TrafficRoutingConfig=codedeploy.TrafficRoutingConfig(
                Type="TimeBasedCanary", TimeBasedCanary=codedeploy.TimeBasedCanary(
                    CanaryPercentage=r.canary_percent, CanaryInterval=r.canary_minutes)))
        config_name = If(ENABLED_CONDITION, Ref(canary), ALL_AT_ONCE)
    alarms = release_alarms(cfg, topic)
    role = service_role(cfg, region, alarms)
    group = codedeploy.DeploymentGroup(
        "ReleaseDeploymentGroup",
        ApplicationName=Ref(application),
        DeploymentGroupName=naming.release_group(cfg),
        ServiceRoleArn=GetAtt(role, "Arn"),
        DeploymentConfigName=config_name,
        DeploymentStyle=codedeploy.DeploymentStyle(DeploymentType="BLUE_GREEN",
                                                   DeploymentOption="WITH_TRAFFIC_CONTROL"),
        AutoRollbackConfiguration=codedeploy.AutoRollbackConfiguration(
            Enabled=True, Events=["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]),
        AlarmConfiguration=codedeploy.AlarmConfiguration(
            Enabled=True, Alarms=[codedeploy.Alarm(Name=Ref(a)) for a in alarms]),
    )
    return Release(application=application, group=group, role=role, alarms=alarms, canary=canary)
