"""StackSet drift: what was changed by hand in the stacks the StackSets manage.

``detect`` starts drift detection on each region's StackSet (``DetectStackSetDrift``, one operation per StackSet,
with the configured operation preferences), waits for it like any StackSet operation, then reads which instances
drifted (``ListStackInstances``) and, for each, which resources and properties (``ListStackInstanceResourceDrifts``,
which the administrator account can call for every target account). See
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-drift.html: drift detection compares
each resource's live configuration with the template; a deploy does not fix drift in properties the template
leaves unset.

``warnings`` reads only the result of the last detection (``DescribeStackSet``'s
``StackSetDriftDetectionDetails``), so a deploy can warn without the minutes a new detection takes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tap_templates import naming, regions
from tap_templates.config import PipelineConfig
from tap_templates.deploy.aws import Aws, error_code
from tap_templates.deploy.stacksets import ProgressCallback, wait
from tap_templates.deploy.targets import operation_preferences

DRIFTED = "DRIFTED"
RESOURCE_DRIFT = ["MODIFIED", "DELETED"]


@dataclass(frozen=True)
class ResourceDrift:
    logical_id: str
    physical_id: str
    resource_type: str
    status: str
    differences: tuple[str, ...]


@dataclass(frozen=True)
class InstanceDrift:
    account: str
    region: str
    status: str
    resources: tuple[ResourceDrift, ...] = ()


@dataclass(frozen=True)
class StackSetDrift:
    stack_set: str
    region: str
    status: str  # DRIFTED, IN_SYNC, NOT_CHECKED, or "not deployed"
    instances: tuple[InstanceDrift, ...] = ()

    @property
    def drifted(self) -> bool:
        return self.status == DRIFTED or any(i.status == DRIFTED for i in self.instances)


def _difference(d: dict[str, Any]) -> str:
    return f"{d.get('PropertyPath', '?')} {d.get('DifferenceType', 'NOT_EQUAL').lower()}: expected " \
           f"{d.get('ExpectedValue', '')!s} actual {d.get('ActualValue', '')!s}"


def instance_resources(aws: Aws, stack_set: str, region: str, account: str, operation_id: str) \
        -> tuple[ResourceDrift, ...]:
    cf = aws.client("cloudformation", region)
    found, token = [], None
    while True:
        page = cf.list_stack_instance_resource_drifts(
            StackSetName=stack_set, StackInstanceAccount=account, StackInstanceRegion=region,
            OperationId=operation_id, StackInstanceResourceDriftStatuses=RESOURCE_DRIFT,
            **({"NextToken": token} if token else {}))
        found += [ResourceDrift(s.get("LogicalResourceId", "?"), s.get("PhysicalResourceId", ""),
                                s.get("ResourceType", "?"), s.get("StackResourceDriftStatus", "?"),
                                tuple(_difference(d) for d in s.get("PropertyDifferences", [])))
                  for s in page.get("Summaries", [])]
        token = page.get("NextToken")
        if not token:
            return tuple(sorted(found, key=lambda r: r.logical_id))


def detect_one(cfg: PipelineConfig, aws: Aws, region: str, on_progress: ProgressCallback,
               poll_seconds: float = 5.0) -> StackSetDrift:
    """Run drift detection on one region's StackSet and read what drifted."""
    stack_set = naming.stack_set(cfg, region)
    cf = aws.client("cloudformation", region)
    try:
        operation_id = cf.detect_stack_set_drift(StackSetName=stack_set, OperationId=str(uuid.uuid4()),
                                                 OperationPreferences=operation_preferences(cfg, region))["OperationId"]
    except ClientError as exc:
        if error_code(exc) in ("StackSetNotFoundException", "StackSetNotFound"):
            return StackSetDrift(stack_set, region, "not deployed")
        raise
    wait(aws, stack_set, region, operation_id, "detect drift", on_progress, poll_seconds)
    instances = []
    for page in cf.get_paginator("list_stack_instances").paginate(StackSetName=stack_set):
        for summary in page["Summaries"]:
            status = summary.get("DriftStatus", "NOT_CHECKED")
            resources = instance_resources(aws, stack_set, region, summary["Account"], operation_id) \
                if status == DRIFTED else ()
            instances.append(InstanceDrift(summary["Account"], summary["Region"], status, resources))
    details = cf.describe_stack_set(StackSetName=stack_set)["StackSet"].get("StackSetDriftDetectionDetails", {})
    return StackSetDrift(stack_set, region, details.get("DriftStatus", "NOT_CHECKED"), tuple(instances))


def detect(cfg: PipelineConfig, aws: Aws, on_progress: ProgressCallback, poll_seconds: float = 5.0) \
        -> list[StackSetDrift]:
    return [detect_one(cfg, aws, region, on_progress, poll_seconds) for region in regions.deploy_order(cfg)]


def describe(found: list[StackSetDrift]) -> list[str]:
    """One line per StackSet and instance, then one per drifted resource and property difference."""
    lines = []
    for s in found:
        lines.append(f"{s.stack_set} ({s.region}): {s.status}")
        for i in s.instances:
            lines.append(f"  {i.account} {i.region}: {i.status}")
            for r in i.resources:
                lines.append(f"    {r.status} {r.logical_id} ({r.resource_type} {r.physical_id})")
                lines += [f"      {d}" for d in r.differences]
    return lines


def warnings(cfg: PipelineConfig, aws: Aws) -> list[str]:
    """A warning per StackSet whose last drift detection found drift (no new detection is started)."""
    found = []
    for region in regions.deploy_order(cfg):
        stack_set = naming.stack_set(cfg, region)
        try:
            details = aws.client("cloudformation", region).describe_stack_set(
                StackSetName=stack_set)["StackSet"].get("StackSetDriftDetectionDetails", {})
        except ClientError:
            continue  # not deployed yet: nothing can have drifted
        if details.get("DriftStatus") == DRIFTED:
            when = details.get("LastDriftCheckTimestamp", "its last check")
            found.append(f"warning: {stack_set} has drifted ({details.get('DriftedStackInstancesCount', '?')} of "
                         f"{details.get('TotalStackInstancesCount', '?')} instance(s) at {when}); this deploy resets "
                         f"only the properties the template sets: see deploy.py drift --env {cfg.environment}")
    return found
