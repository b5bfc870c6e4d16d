"""The Lambda "container" of the local pipeline: this process, running the real ``handlers.processor.handler``.

moto stores the function's zip and never runs it. A container is one region's: its environment is the
function's own (read through the Lambda API, so an override that changes it is honoured), and switching to
another region, or to a changed environment, clears ``handlers.settings.current`` and ``handlers.clients`` as
a cold start would. ``close`` leaves it: the environment is restored and the handler's clients, bound to this
emulator, are dropped.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tap_templates import naming
from tap_templates.config import PipelineConfig
from tap_templates.local.deployment import Deployment


class LambdaContext:
    """Lambda's context object; the remaining time counts down with the wall clock from ``remaining_ms``."""

    def __init__(self, cfg: PipelineConfig, region: str, account: str, remaining_ms: int) -> None:
        self.function_name = naming.function(cfg)
        self.memory_limit_in_mb = cfg.processor.memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvocationKilled(BaseException):
    """Raise from a hook to stand for Lambda killing the invocation (timeout, out of memory): nothing in
    the handler catches it, so it ends the invocation as a crash would."""


def restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@dataclass
class Container:
    """This process as one region's Lambda container at a time."""

    deployment: Deployment
    region: str | None = None
    _env: dict[str, str] = field(default_factory=dict, repr=False)
    _saved: dict[str, str | None] = field(default_factory=dict, repr=False)

    def enter(self, region: str) -> None:
        """Become the region's container: its function's environment, its region, and fresh settings and
        clients when it was another region's (or another environment's) before."""
        d = self.deployment
        config = d.function_configuration(region)
        env = {**config.get("Environment", {}).get("Variables", {}), "AWS_REGION": region,
               "AWS_DEFAULT_REGION": region, "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
               "POWERTOOLS_TRACE_DISABLED": "true"}
        if d.endpoint_url:
            env["AWS_ENDPOINT_URL"] = d.endpoint_url
        if self.region == region and env == self._env:
            return
        for name, value in env.items():
            self._saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        for name in set(self._env) - set(env):
            restore_env(name, self._saved.get(name))
        _cold_start()
        self.region, self._env = region, env

    def invoke(self, region: str, event: dict[str, Any], remaining_ms: int) -> dict[str, Any] | None:
        """Run the handler once in the region's container: its response, or None when it raised (a function
        error, ``InvocationKilled`` included)."""
        self.enter(region)
        from handlers import processor

        context = LambdaContext(self.deployment.cfg, region, self.deployment.account, remaining_ms)
        try:
            return processor.handler(event, context)
        except (Exception, InvocationKilled):
            return None

    def close(self) -> None:
        for name, value in self._saved.items():
            restore_env(name, value)
        self.region, self._env, self._saved = None, {}, {}
        _cold_start()


def _cold_start() -> None:
    """What a new container starts without: the handler's cached settings and clients."""
    from handlers import clients, settings

    settings.current.cache_clear()
    clients.reset()
