"""Corrections for troposphere's generated Lambda classes, kept in one place until upstream fixes them.

troposphere 4.11 generates two Lambda property classes wrongly: ``awslambda.ScalingConfig`` (used by
``EventSourceMapping``) is bound to the capacity-provider shape (``MaxEnvironments``) instead of the event
source's ``MaximumConcurrency``, and ``awslambda.LoggingConfig`` lacks ``LogFormat``. Subclasses pass
troposphere's type check and carry the properties CloudFormation documents. cfn-lint validates the result
against the real CloudFormation schema in the tests.
"""

from __future__ import annotations

from typing import ClassVar

from troposphere import awslambda
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
