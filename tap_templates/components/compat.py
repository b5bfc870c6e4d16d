"""Corrections for troposphere's generated classes, kept in one place until upstream fixes them.

troposphere 4.11 generates three classes wrongly: ``awslambda.ScalingConfig`` (used by ``EventSourceMapping``)
is bound to the capacity-provider shape (``MaxEnvironments``) instead of the event source's
``MaximumConcurrency``; ``awslambda.LoggingConfig`` lacks ``LogFormat``; ``policies.CodeDeployLambdaAliasUpdate``
validates its application and deployment group names as booleans. Subclasses pass troposphere's type check
and carry the properties CloudFormation documents. cfn-lint validates the result
against the real CloudFormation schema in the tests.
"""

from __future__ import annotations

from typing import ClassVar

from troposphere import awslambda, policies
from troposphere.validators import integer


class EventSourceScalingConfig(awslambda.ScalingConfig):
    props: ClassVar[dict] = {"MaximumConcurrency": (integer, False)}


class FunctionLoggingConfig(awslambda.LoggingConfig):
    props: ClassVar[dict] = {
        "ApplicationLogLevel": (str, False),
        "LogFormat": (str, False),
        "LogGroup": (str, False),
        "SystemLogLevel": (str, False),
    }


class AliasUpdate(policies.CodeDeployLambdaAliasUpdate):
    props: ClassVar[dict] = {
        "AfterAllowTrafficHook": (str, False),
        "ApplicationName": (object, True),
        "BeforeAllowTrafficHook": (str, False),
        "DeploymentGroupName": (object, True),
    }
