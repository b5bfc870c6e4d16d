"""Deploying the rendered templates as CloudFormation StackSets: plan, create or update, wait, summarize, destroy.

One StackSet per region template, administered from that region itself: a region's outage then never blocks
managing the others (a failover flips the secondary's ``ProcessingEnabled`` while the primary is down). Each
StackSet has one stack instance per target account, in its own region only. StackSets are deployed in the
manifest's order, secondaries first, and each waits for the one before: the primary replicates into the
secondaries' buckets and creates global-table replicas with their keys, which must exist already.

A change of more than one index of the records table runs as one update per index (``plan.rollout``, templates
uploaded with the rest), and the table's deletion protection is off while the primary's instances are first
created and turned on right after (``plan``'s docstring says why).

The code location (``CodeBucket``/``CodeKey``) is a StackSet parameter: every instance of a region reads the same
content-addressed zip from the deploying account's artifacts bucket there, so a new template and new code
reach each instance in one operation. Per-instance overrides are reserved for per-instance state, such as a
promoted secondary's ``ProcessingEnabled``: a deploy never passes overrides, which keeps them (AWS applies a
StackSet update on top of each instance's overrides), and ``set_overrides`` changes them explicitly.

Nothing here knows about the emulator: the same calls go to AWS or, with an endpoint URL, to moto.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tap_templates import naming, regions
from tap_templates.components.table import DELETION_PROTECTION
from tap_templates.config import PipelineConfig
from tap_templates.deploy.artifacts import region_artifacts
from tap_templates.deploy.aws import Aws
from tap_templates.deploy.plan import (
    StackSetPlan,
    auto_deployment,
    normalized,
    parameters_of,
    read_deployed,
    read_instances,
)
from tap_templates.deploy.targets import accounts_in, administration_role_arn, check_account_id, operation_preferences
from tap_templates.errors import ConfigError
from tap_templates.render import RenderedTemplate

DONE = ("SUCCEEDED", "FAILED", "STOPPED")
FAILED_INSTANCE = ("FAILED", "CANCELLED")
STACK_DONE = re.compile(r"_(COMPLETE|FAILED)$")


class OperationFailed(Exception):
    """A StackSet operation ended without success; each line names an instance and why it failed."""

    def __init__(self, stack_set: str, action: str, status: str, failures: Sequence[str]) -> None:
        self.lines = [f"{stack_set}: {action} {status}", *(f"  {line}" for line in failures)]
        super().__init__("\n".join(self.lines))



@dataclass(frozen=True)
class OperationProgress:
    """Where one StackSet operation stands, reported on every poll."""

    stack_set: str
    action: str
    status: str
    elapsed: float

    @property
    def done(self) -> bool:
        return self.status in DONE


ProgressCallback = Callable[[OperationProgress], None]


def _capabilities(template: RenderedTemplate) -> list[str]:
    """CAPABILITY_IAM for unnamed IAM resources, CAPABILITY_NAMED_IAM once any IAM resource has a name."""
    resources = json.loads(template.body).get("Resources", {}).values()
    named = any(r["Type"].startswith("AWS::IAM::") and "RoleName" in r.get("Properties", {}) for r in resources)
    return ["CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM"]


def wait(aws: Aws, stack_set: str, region: str, operation_id: str, action: str, on_progress: ProgressCallback,
         poll_seconds: float = 5.0, timeout_seconds: float = 7200.0) -> None:
    """Poll the operation until it ends; raise ``OperationFailed`` with each failed instance's reason."""
    cf = aws.client("cloudformation", region)
    started = time.monotonic()
    while True:
        operation = cf.describe_stack_set_operation(StackSetName=stack_set, OperationId=operation_id)
        status = operation["StackSetOperation"]["Status"]
        on_progress(OperationProgress(stack_set, action, status, time.monotonic() - started))
        if status in DONE:
            break
        if time.monotonic() - started > timeout_seconds:
            raise OperationFailed(stack_set, action, f"still {status} after {timeout_seconds:.0f} s",
                                  [f"operation {operation_id} continues in AWS; check the CloudFormation console"])
        time.sleep(poll_seconds)
    if status == "SUCCEEDED":
        return
    failures = []
    for page in cf.get_paginator("list_stack_set_operation_results").paginate(StackSetName=stack_set,
                                                                              OperationId=operation_id):
        for result in page["Summaries"]:
            if result["Status"] in FAILED_INSTANCE:
                failures.append(f"{result['Account']} {result['Region']} {result['Status']}: "
                                f"{result.get('StatusReason', 'no reason given')}")
    reason = operation["StackSetOperation"].get("StatusReason")
    raise OperationFailed(stack_set, action, status, failures or [reason or "no instance reported a reason"])


def _stack_set_arguments(cfg: PipelineConfig, aws: Aws, p: StackSetPlan, template_url: str | None = None,
                         protected: bool = True) -> dict[str, Any]:
    """The StackSet's settings; ``template_url`` for a step of an index rollout, ``protected`` False while the
    records table's first create is not done."""
    parameters = dict(p.parameters)
    if not protected and p.protects_table:
        parameters[DELETION_PROTECTION] = "false"
    arguments: dict[str, Any] = {
        "TemplateURL": template_url or p.where.template_url, "Capabilities": _capabilities(p.template),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
    }
    if not p.targets.service_managed:
        arguments |= {"AdministrationRoleARN": administration_role_arn(cfg, aws),
                      "ExecutionRoleName": naming.stackset_execution_role(cfg)}
    elif p.deployed is not None:
        arguments["AutoDeployment"] = auto_deployment(cfg)
    return arguments


def apply(cfg: PipelineConfig, aws: Aws, p: StackSetPlan, on_progress: ProgressCallback,
          poll_seconds: float = 5.0) -> list[str]:
    """Create or update the StackSet (an index rollout one step per operation), then its missing instances, then
    protect the records table of what was created; wait for each operation. Returns the actions that ran, each
    also reported to ``on_progress`` as it ends."""
    cf = aws.client("cloudformation", p.region)
    preferences = operation_preferences(cfg, p.region)
    done = []
    # The StackSet's table is unprotected until its first create is done (a new StackSet, or one an earlier deploy
    # left with the parameter off): every operation keeps it off, and a last one turns it on.
    first_create = p.protects_table and (p.deployed is None
                                         or p.deployed.parameters.get(DELETION_PROTECTION) == "false")
    # The StackSet is updated when anything but that parameter changes (an update reaches every instance, failed
    # ones included); the parameter itself is set by the last operation.
    updated = p.deployed is not None and bool(set(p.changes) - {f"parameter {DELETION_PROTECTION}"})

    def run(action: str, call: Callable[..., dict[str, Any]], **arguments: Any) -> None:
        token = str(uuid.uuid4())  # idempotency token: a retried call cannot start a second operation
        operation_id = call(StackSetName=p.name, OperationId=token, OperationPreferences=preferences,
                            **arguments)["OperationId"]
        wait(aws, p.name, p.region, operation_id, action, on_progress, poll_seconds)
        done.append(action)

    if p.deployed is None:
        extra = ({"PermissionModel": "SERVICE_MANAGED", "AutoDeployment": auto_deployment(cfg)}
                 if p.targets.service_managed else {"PermissionModel": "SELF_MANAGED"})
        cf.create_stack_set(StackSetName=p.name,
                            Description=f"tap-pipeline {cfg.environment}: {p.role} region {p.region}",
                            **_stack_set_arguments(cfg, aws, p, protected=not first_create), **extra)
        on_progress(OperationProgress(p.name, "create StackSet", "SUCCEEDED", 0.0))
        done.append("create StackSet")
    elif updated:
        total = p.rollout.operations
        for number, (step, change) in enumerate(zip(p.rollout.steps, p.rollout.changes, strict=False), 1):
            url = region_artifacts(cfg, aws, step, "").template_url
            run(f"update {number} of {total} ({change.action} index {change.name})", cf.update_stack_set,
                **_stack_set_arguments(cfg, aws, p, url, protected=not first_create))
        last = p.rollout.changes[-1] if p.rollout.steps else None
        run(f"update {total} of {total} ({last.action} index {last.name})" if last else "update", cf.update_stack_set,
            **_stack_set_arguments(cfg, aws, p, protected=not first_create))
    fresh = _create_instances(cfg, aws, p, run, first_create) if p.new_accounts or p.new_organizational_units else []
    if p.retry_accounts and not updated:
        # No ParameterOverrides: AWS keeps every instance's overrides as they are.
        run("retry instances", cf.update_stack_instances, Regions=[p.region], **_some_instances(p, p.retry_accounts))
    if first_create:
        run("turn on the records table's deletion protection", cf.update_stack_set, **_stack_set_arguments(cfg, aws, p))
    elif p.protects_table and (fresh or p.unprotected):
        _protect_instances(aws, p, run, [*fresh, *p.unprotected])
    return done


def _create_instances(cfg: PipelineConfig, aws: Aws, p: StackSetPlan, run: Callable[..., None],
                      first_create: bool) -> list[str]:
    """Create the missing instances; in a StackSet whose table is protected already, the new instances' table is
    created unprotected (an override), and the accounts created are returned to be protected next."""
    cf = aws.client("cloudformation", p.region)
    unprotect = p.protects_table and not first_create
    before = {i.account for i in read_instances(aws, p.name, p.region)} if unprotect else set()
    overrides = {"ParameterOverrides": [{"ParameterKey": DELETION_PROTECTION, "ParameterValue": "false"}]} \
        if unprotect else {}
    run("create instances", cf.create_stack_instances, Regions=[p.region],
        **p.targets.instance_targets(p.new_accounts), **overrides)
    if not unprotect:
        return []
    return sorted({i.account for i in read_instances(aws, p.name, p.region)} - before)


def _protect_instances(aws: Aws, p: StackSetPlan, run: Callable[..., None], accounts: Sequence[str]) -> None:
    """Drop the ``false`` override of these instances (they take the StackSet's ``true``), keeping any other
    override at its value: AWS replaces an instance's override list with the one given, and keeps a parameter
    listed with ``UsePreviousValue``."""
    overrides = {i.account: i.overrides for i in read_instances(aws, p.name, p.region)}
    groups: dict[tuple[str, ...], list[str]] = {}
    for account in accounts:
        kept = tuple(sorted(k for k in overrides.get(account, {}) if k != DELETION_PROTECTION))
        groups.setdefault(kept, []).append(account)
    cf = aws.client("cloudformation", p.region)
    for kept, group in groups.items():
        run("turn on the records table's deletion protection", cf.update_stack_instances, Regions=[p.region],
            **_some_instances(p, group),
            ParameterOverrides=[{"ParameterKey": k, "UsePreviousValue": True} for k in kept])


def _some_instances(p: StackSetPlan, accounts: Sequence[str]) -> dict[str, Any]:
    """Accounts= for self-managed instances; for service-managed ones their OUs intersected with the accounts."""
    if not p.targets.service_managed:
        return {"Accounts": list(accounts)}
    ous = {i.organizational_unit for i in (p.deployed.instances if p.deployed else ()) if i.account in accounts}
    return accounts_in(sorted(o for o in ous if o) or p.targets.organizational_units, accounts)


def set_overrides(cfg: PipelineConfig, aws: Aws, region: str, accounts: Sequence[str], overrides: dict[str, str],
                  on_progress: ProgressCallback, poll_seconds: float = 5.0) -> None:
    """Change some parameters of some instances and keep their other overrides (the failover tool's entry).

    ``UpdateStackInstances`` replaces an instance's whole override list, so each account's current overrides
    are read first and sent back merged; accounts whose merged lists differ get separate operations."""
    stack_set = naming.stack_set(cfg, region)
    instances = read_instances(aws, stack_set, region)
    current = {i.account: i.overrides for i in instances}
    units = {i.account: i.organizational_unit for i in instances}
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for account in accounts:
        if account not in current:
            raise ConfigError(f"{stack_set} has no instance in account {account}")
        merged = tuple(sorted({**current[account], **overrides}.items()))
        groups.setdefault(merged, []).append(account)
    cf = aws.client("cloudformation", region)
    for merged, group in groups.items():
        ous = sorted({units[a] for a in group if units[a]})
        where = accounts_in(ous, group) if ous else {"Accounts": group}
        operation_id = cf.update_stack_instances(
            StackSetName=stack_set, Regions=[region], **where, OperationId=str(uuid.uuid4()),
            OperationPreferences=operation_preferences(cfg, region),
            ParameterOverrides=[{"ParameterKey": k, "ParameterValue": v} for k, v in merged])["OperationId"]
        wait(aws, stack_set, region, operation_id, "update overrides", on_progress, poll_seconds)


# --- summary ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    stack_set: str
    region: str
    account: str
    status: str
    detailed_status: str
    reason: str
    outputs: dict[str, str]


def summary(cfg: PipelineConfig, aws: Aws) -> list[SummaryRow]:
    """Every StackSet instance with its status and, where the stack is in this account, its outputs."""
    rows = []
    for region in regions.deploy_order(cfg):
        name = naming.stack_set(cfg, region)
        deployed = read_deployed(aws, name, region)
        for instance in deployed.instances if deployed else ():
            outputs: dict[str, str] = {}
            if instance.account == aws.account and instance.stack_id:
                try:
                    stack = aws.client("cloudformation", instance.region).describe_stacks(
                        StackName=instance.stack_id)["Stacks"][0]
                    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
                except ClientError:
                    outputs = {}
            rows.append(SummaryRow(name, instance.region, instance.account, instance.status,
                                   instance.detailed_status, instance.reason, outputs))
    return rows


def per_account(rows: Sequence[SummaryRow]) -> list[str]:
    """One line per target account: each region's instance status, then the totals."""
    by_account: dict[str, dict[str, str]] = {}
    for row in rows:
        by_account.setdefault(row.account, {})[row.region] = row.status
    lines = [f"{account}: " + ", ".join(f"{region} {status}" for region, status in sorted(found.items()))
             for account, found in sorted(by_account.items())]
    current = sum(r.status == "CURRENT" for r in rows)
    regions_seen = {r.region for r in rows}
    lines.append(f"{len(by_account)} account(s) x {len(regions_seen)} region(s): {current} of {len(rows)} "
                 "instance(s) current")
    return lines


def deploy_roles(cfg: PipelineConfig, aws: Aws, roles_body: bytes, administrator_account: str = "",
                 poll_seconds: float = 2.0, timeout_seconds: float = 1800.0) -> str:
    """Create or update the roles stack in this account (IAM is global; the stack lives in the primary region).
    Returns the stack's final status, or "up to date"."""
    if not roles_body:
        raise ConfigError("this environment uses SERVICE_MANAGED StackSets: AWS Organizations provides their roles "
                          "and each region template carries the permissions boundary, so there are no roles to deploy")
    if administrator_account:
        check_account_id(administrator_account)
    cf = aws.client("cloudformation", cfg.primary_region)
    name = naming.stackset_roles_stack(cfg)
    arguments = {"StackName": name, "TemplateBody": roles_body.decode(), "Capabilities": ["CAPABILITY_NAMED_IAM"],
                 "Parameters": [{"ParameterKey": "AdministratorAccountId", "ParameterValue": administrator_account}],
                 "Tags": [{"Key": k, "Value": v} for k, v in sorted(cfg.tags.items())]}
    try:
        existing = cf.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" not in str(exc):
            raise
        existing = None
    if existing is None or existing["StackStatus"] == "DELETE_COMPLETE":
        cf.create_stack(**arguments)
    else:
        body = cf.get_template(StackName=name)["TemplateBody"]
        body = body if isinstance(body, str) else json.dumps(body)
        same_params = parameters_of(existing.get("Parameters", [])).get("AdministratorAccountId", "") \
            == administrator_account
        if normalized(body) == roles_body.decode() and same_params:
            return "up to date"
        cf.update_stack(**arguments)
    started = time.monotonic()
    while True:
        status = cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if STACK_DONE.search(status):
            break
        if time.monotonic() - started > timeout_seconds:
            break
        time.sleep(poll_seconds)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise OperationFailed(name, "deploy roles", status, ["see the stack's events in the CloudFormation console"])
    return status

