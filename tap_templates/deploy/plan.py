"""Reading what each region's StackSet holds and planning what this deploy changes in it (read-only).

The plan compares the template's sha256 and the parameters with what the StackSet has, so a re-run with
nothing changed starts no operation; per-instance overrides (a promoted secondary's ``ProcessingEnabled``)
are read and kept, never sent. Changes to the records table are planned by ``indexes``: more than one index
change becomes one StackSet operation per index, and a lower shard count is refused.

The records table's deletion protection (the ``TableDeletionProtection`` parameter, ``components/table.py``) is
off while an instance of the primary's StackSet is first created, and turned on by one more operation once the
create succeeded: ``apply`` does both; the plan says so, and finds instances an interrupted deploy left
unprotected (an override ``false``), which the next deploy protects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tap_templates import cli, naming
from tap_templates.components.table import DELETION_PROTECTION
from tap_templates.config import PipelineConfig
from tap_templates.deploy import artifacts
from tap_templates.deploy.artifacts import RegionArtifacts, region_artifacts
from tap_templates.deploy.aws import Aws, error_code
from tap_templates.deploy.indexes import Rollout, rollout
from tap_templates.deploy.manifest import desired_parameters, manifest_entries
from tap_templates.deploy.targets import Targets, administration_role_arn, organization_accounts
from tap_templates.render import RenderedTemplate, Rendering


@dataclass(frozen=True)
class Instance:
    account: str
    region: str
    status: str
    detailed_status: str
    reason: str
    overrides: dict[str, str]
    stack_id: str | None
    organizational_unit: str | None = None

    @property
    def current(self) -> bool:
        return self.status == "CURRENT"


@dataclass(frozen=True)
class Deployed:
    template_body: str
    parameters: dict[str, str]
    administration_role_arn: str | None
    execution_role_name: str | None
    instances: tuple[Instance, ...]
    auto_deployment: dict[str, bool] | None = None


def parameters_of(items: Sequence[dict[str, Any]]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in items or [] if "ParameterValue" in p}


def read_instances(aws: Aws, stack_set: str, region: str) -> tuple[Instance, ...]:
    """Every instance with its overrides (only DescribeStackInstance returns those)."""
    cf = aws.client("cloudformation", region)
    found = []
    for page in cf.get_paginator("list_stack_instances").paginate(StackSetName=stack_set):
        for summary in page["Summaries"]:
            detail = cf.describe_stack_instance(StackSetName=stack_set, StackInstanceAccount=summary["Account"],
                                                StackInstanceRegion=summary["Region"])["StackInstance"]
            found.append(Instance(
                account=summary["Account"], region=summary["Region"], status=detail.get("Status", "UNKNOWN"),
                detailed_status=detail.get("StackInstanceStatus", {}).get("DetailedStatus", ""),
                reason=detail.get("StatusReason", ""), overrides=parameters_of(detail.get("ParameterOverrides", [])),
                stack_id=detail.get("StackId"), organizational_unit=detail.get("OrganizationalUnitId")))
    return tuple(found)


def read_deployed(aws: Aws, stack_set: str, region: str) -> Deployed | None:
    try:
        found = aws.client("cloudformation", region).describe_stack_set(StackSetName=stack_set)["StackSet"]
    except ClientError as exc:
        if error_code(exc) in ("StackSetNotFoundException", "StackSetNotFound"):
            return None
        raise
    if found.get("Status") == "DELETED":
        return None
    return Deployed(template_body=found.get("TemplateBody", ""), parameters=parameters_of(found.get("Parameters", [])),
                    administration_role_arn=found.get("AdministrationRoleARN"),
                    execution_role_name=found.get("ExecutionRoleName"),
                    instances=read_instances(aws, stack_set, region), auto_deployment=found.get("AutoDeployment"))


@dataclass(frozen=True)
class StackSetPlan:
    """What one StackSet needs: created, updated (and why), new instances, instances to retry."""

    name: str
    region: str
    role: str
    template: RenderedTemplate
    where: RegionArtifacts
    parameters: dict[str, str]
    targets: Targets
    deployed: Deployed | None
    changes: tuple[str, ...]
    new_accounts: tuple[str, ...] = ()
    new_organizational_units: tuple[str, ...] = ()
    retry_accounts: tuple[str, ...] = ()
    # Service-managed: the accounts each targeted OU holds now (what an operation on it reaches).
    reach: tuple[tuple[str, tuple[str, ...]], ...] = ()
    rollout: Rollout = field(default_factory=Rollout)  # the table's index changes, one StackSet operation each
    unprotected: tuple[str, ...] = ()  # instances whose table an interrupted deploy left without deletion protection

    @property
    def protects_table(self) -> bool:
        """Whether this StackSet holds the records table (its template has the deletion protection parameter)."""
        return DELETION_PROTECTION in self.parameters

    def touches(self) -> list[str]:
        """The accounts an operation of this plan reaches, in this StackSet's region (for the dry run)."""
        if self.up_to_date:
            return []
        if self.targets.service_managed:
            reached = dict(self.reach)
            ous = self.targets.organizational_units if self.changes or self.deployed is None \
                else self.new_organizational_units
            accounts = sorted({a for ou in ous for a in reached.get(ou, ())})
            existing = {i.account for i in self.deployed.instances} if self.deployed and self.changes else set()
            return sorted(set(accounts) | existing)
        if self.changes and self.deployed:
            return sorted({i.account for i in self.deployed.instances} | set(self.new_accounts))
        return sorted(set(self.new_accounts) | set(self.retry_accounts))

    @property
    def up_to_date(self) -> bool:
        return not (self.changes or self.new_accounts or self.new_organizational_units or self.retry_accounts
                    or self.unprotected)

    def describe(self) -> list[str]:
        """One line per intended action, in the order they run."""
        if self.up_to_date:
            return [f"{self.name} ({self.region}): up to date, {len(self.deployed.instances)} instance(s) current"]
        lines = []
        if self.deployed is None:
            lines.append(f"{self.name} ({self.region}): create StackSet")
        elif self.changes:
            lines.append(f"{self.name} ({self.region}): update StackSet and its "
                         f"{len(self.deployed.instances)} instance(s): {', '.join(self.changes)}")
        if self.new_accounts:
            lines.append(f"{self.name} ({self.region}): create instance(s) in {', '.join(self.new_accounts)}")
        if self.new_organizational_units:
            lines.append(f"{self.name} ({self.region}): create instances in OU(s) "
                         f"{', '.join(self.new_organizational_units)}")
        reached = dict(self.reach)
        for ou in self.targets.organizational_units:
            lines.append(f"{self.name} ({self.region}): OU {ou} holds {len(reached.get(ou, ()))} account(s): "
                         f"{', '.join(reached.get(ou, ())) or 'none'}")
        if self.retry_accounts and not self.changes:
            lines.append(f"{self.name} ({self.region}): retry instance(s) not current in "
                         f"{', '.join(self.retry_accounts)}")
        untargeted = [i.account for i in self.deployed.instances if i.account not in self.targets.accounts] \
            if self.deployed and not self.targets.service_managed else []
        if untargeted and self.changes:
            lines.append(f"{self.name} ({self.region}): the update also reaches the instance(s) of "
                         f"{', '.join(untargeted)}, not targeted now (destroy removes them)")
        if self.protects_table and (self.deployed is None or self.new_accounts or self.new_organizational_units):
            lines.append(f"{self.name} ({self.region}): the new instances' records table is created without deletion "
                         "protection (a failed create can then be rolled back); one more operation turns it on once "
                         "the create succeeded")
        if self.unprotected:
            lines.append(f"{self.name} ({self.region}): turn the records table's deletion protection back on in "
                         f"{', '.join(self.unprotected)} (an earlier deploy stopped before it did)")
        if self.changes and self.deployed is not None:
            lines += self.rollout.describe(self.name, self.region)
        if self.touches():
            lines.append(f"{self.name} ({self.region}): touches {len(self.touches())} account(s) in {self.region}: "
                         f"{', '.join(self.touches())}")
        for instance in self.deployed.instances if self.deployed else ():
            if instance.overrides:
                kept = ", ".join(f"{k}={v}" for k, v in sorted(instance.overrides.items()))
                lines.append(f"{self.name} ({self.region}): keeps the overrides of {instance.account}: {kept}")
        return lines



def normalized(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    except ValueError:
        return body



def changes(cfg: PipelineConfig, aws: Aws, template: RenderedTemplate, parameters: dict[str, str],
            deployed: Deployed | None, chosen: Targets) -> tuple[str, ...]:
    if deployed is None:
        return ("new",)
    found = []
    body = deployed.template_body
    if artifacts.sha256_of(body.encode()) != template.sha256 and normalized(body) != template.body.decode():
        found.append("template")
    found += [f"parameter {k}" for k in sorted(set(parameters) | set(deployed.parameters))
              if parameters.get(k) != deployed.parameters.get(k)]
    if not chosen.service_managed and (
            deployed.administration_role_arn != administration_role_arn(cfg, aws)
            or deployed.execution_role_name != naming.stackset_execution_role(cfg)):
        found.append("StackSet roles")
    if chosen.service_managed and deployed.auto_deployment is not None \
            and deployed.auto_deployment != auto_deployment(cfg):
        found.append("automatic deployment")
    return tuple(found)


def auto_deployment(cfg: PipelineConfig) -> dict[str, bool]:
    s = cfg.stacksets
    return {"Enabled": s.auto_deployment, "RetainStacksOnAccountRemoval": s.retain_stacks_on_account_removal}


def plan(cfg: PipelineConfig, aws: Aws, rendering: Rendering, code_sha256: str, chosen: Targets) -> list[StackSetPlan]:
    """Read-only: compare each region's StackSet with what this deploy would make of it."""
    by_file = {t.file: t for t in rendering.templates}
    reach = tuple(sorted(organization_accounts(aws, chosen.organizational_units).items())) \
        if chosen.service_managed else ()
    plans = []
    for entry in manifest_entries(rendering):
        template = by_file[entry["file"]]
        where = region_artifacts(cfg, aws, template, code_sha256)
        parameters = desired_parameters(entry, where)
        deployed = read_deployed(aws, entry["stack_set_name"], entry["region"])
        instances = deployed.instances if deployed else ()
        have = {i.account for i in instances}
        plans.append(StackSetPlan(
            name=entry["stack_set_name"], region=entry["region"], role=entry["role"], template=template, where=where,
            parameters=parameters, targets=chosen, deployed=deployed,
            changes=changes(cfg, aws, template, parameters, deployed, chosen),
            new_accounts=tuple(a for a in chosen.accounts if a not in have),
            new_organizational_units=tuple(ou for ou in chosen.organizational_units
                                           if ou not in {i.organizational_unit for i in instances}),
            retry_accounts=tuple(i.account for i in instances if not i.current), reach=reach,
            rollout=rollout(deployed.template_body if deployed else None, template,
                            f"{cli.command('reindex')} --env {cfg.environment}"),
            unprotected=tuple(i.account for i in instances if i.current
                              and i.overrides.get(DELETION_PROTECTION) == "false"),
        ))
    return plans
