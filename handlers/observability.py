"""Powertools logger, metrics and tracer, configured from the environment the template sets.

- Logs: structured JSON; while a file is processed, ``bucket``, ``key`` and ``versionId`` are on every line.
- Metrics (EMF, namespace ``POWERTOOLS_METRICS_NAMESPACE``): only the ``service`` dimension, plus
  ``reason`` (a fixed set of codes) on ``FilesFailedByReason``: the dimension set stays bounded.
- Traces: botocore calls are X-Ray subsegments (the tracer patches botocore); write threads join the
  invocation's trace through ``in_current_trace``. Tracing needs aws-xray-sdk, which the Lambda runtime lacks:
  without it the tracer is disabled with a warning instead of failing every invocation.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

T = TypeVar("T")

logger = Logger()
metrics = Metrics()


class _NoTracer:
    """Stands in for Powertools' Tracer when tracing is off, so the X-Ray SDK (about 90 ms of imports) is
    never loaded for nothing: the handler decorator and subsegments become no-ops."""

    disabled = True

    def __init__(self) -> None:
        self.provider = self

    def capture_lambda_handler(self, **_: Any) -> Callable[[T], T]:
        return lambda handler: handler

    def in_subsegment(self, name: str) -> Any:
        return contextlib.nullcontext(_NoSubsegment())


class _NoSubsegment:
    def put_annotation(self, key: str, value: Any) -> None:
        pass


def _tracer() -> Any:
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return _NoTracer()
    if importlib.util.find_spec("aws_xray_sdk") is None:
        logger.warning("aws-xray-sdk is not installed: tracing is disabled")
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer()


tracer = _tracer()

COUNT = MetricUnit.Count
MILLISECONDS = MetricUnit.Milliseconds


def count(name: str, value: float = 1) -> None:
    if value:
        metrics.add_metric(name=name, unit=COUNT, value=value)


def milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MILLISECONDS, value=value)


def failed_by_reason(reason: str) -> None:
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(name="FilesFailedByReason", unit=COUNT, value=1, namespace=metrics.namespace) as metric:
        service = getattr(metrics, "service", None)
        if service:
            metric.add_dimension(name="service", value=service)
        metric.add_dimension(name="reason", value=reason)


def in_current_trace(fn: Callable[[], T]) -> Callable[[], T]:
    """``fn`` made to run in another thread as part of the current X-Ray trace (as-is when tracing is off)."""
    if tracer.disabled:
        return fn
    from aws_xray_sdk.core import xray_recorder

    entity = xray_recorder.get_trace_entity()

    def run() -> T:
        xray_recorder.set_trace_entity(entity)
        try:
            return fn()
        finally:
            xray_recorder.clear_trace_entities()

    return run


def subsegment(name: str) -> Any:
    """A context manager for an X-Ray subsegment (a no-op when tracing is off)."""
    return tracer.provider.in_subsegment(name=name)
