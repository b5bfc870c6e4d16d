"""What an environment's destroy removes and what it keeps: every instance and StackSet goes, the resources
that hold data stay (``DeletionPolicy`` Retain / RetainExceptOnCreate) and are listed with their IDs."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from tap_templates import naming, regions
from tap_templates.config import PipelineConfig
from tap_templates.deploy.aws import Aws
from tap_templates.deploy.plan import Deployed, read_deployed
from tap_templates.deploy.stacksets import ProgressCallback, wait
from tap_templates.deploy.targets import operation_preferences


@dataclass(frozen=True)
class Retained:
    """A resource that survives destroy (DeletionPolicy Retain), and the ID to find it by afterwards."""

    region: str
    account: str
    resource_type: str
    name: str


def retained_resources(aws: Aws, deployed: Deployed, region: str) -> list[Retained]:
    """Read before deleting: the template says what is retained, the instance's stack says its physical ID
    (a retained key loses its alias with the stack, so the alias cannot find it afterwards)."""
    template = json.loads(deployed.template_body).get("Resources", {})
    kept = {k: r["Type"] for k, r in template.items() if r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")}
    found = []
    for instance in deployed.instances:
        physical: dict[str, str] = {}
        if instance.account == aws.account and instance.stack_id:
            cf = aws.client("cloudformation", region)
            for page in cf.get_paginator("list_stack_resources").paginate(StackName=instance.stack_id):
                physical |= {r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
                             for r in page["StackResourceSummaries"]}
        found += [Retained(region, instance.account, kind, physical.get(logical) or logical)
                  for logical, kind in sorted(kept.items(), key=lambda item: (item[1], item[0]))]
    return found


def destroy(cfg: PipelineConfig, aws: Aws, on_progress: ProgressCallback,
            poll_seconds: float = 5.0) -> tuple[list[str], list[Retained]]:
    """Delete every instance, then each StackSet, primary first (the reverse of the deploy order: the primary
    replicates into the secondaries). Returns what was removed and what stays behind (DeletionPolicy Retain)."""
    removed, kept = [], []
    for region in reversed(regions.deploy_order(cfg)):
        name = naming.stack_set(cfg, region)
        deployed = read_deployed(aws, name, region)
        if deployed is None:
            removed.append(f"{name}: not deployed")
            continue
        kept += retained_resources(aws, deployed, region)
        cf = aws.client("cloudformation", region)
        if deployed.instances:
            targets_found = ({"DeploymentTargets": {"OrganizationalUnitIds": sorted(
                {i.organizational_unit for i in deployed.instances if i.organizational_unit})}}
                if any(i.organizational_unit for i in deployed.instances)
                else {"Accounts": sorted({i.account for i in deployed.instances})})
            operation_id = cf.delete_stack_instances(
                StackSetName=name, Regions=[region], RetainStacks=False, OperationId=str(uuid.uuid4()),
                OperationPreferences=operation_preferences(cfg, region), **targets_found)["OperationId"]
            wait(aws, name, region, operation_id, "delete instances", on_progress, poll_seconds)
        cf.delete_stack_set(StackSetName=name)
        removed.append(f"{name}: deleted {len(deployed.instances)} instance(s) and the StackSet")
    return removed, kept


def stack_set_names(cfg: PipelineConfig) -> list[str]:
    return [naming.stack_set(cfg, r) for r in regions.deploy_order(cfg)]

