"""The deploy's pre-flight: what AWS would refuse, or let through broken, in the target accounts and regions.

It runs before any StackSet operation (and in ``--dry-run``), reads only, and returns one line per problem; the
deploy stops when there is any. Everything it checks comes from the rendered templates, so it checks exactly
what would be deployed:

- the StackSet roles (self-managed StackSets fail late and obscurely without them);
- Lambda's concurrency: reserving the function's concurrency must leave the account the unreserved minimum
  (AWS Lambda Developer Guide, "Configuring reserved concurrency for a function",
  configuration-concurrency.html: "You can reserve up to the Unreserved account concurrency value minus 100");
  new accounts can start with a quota far below the default 1,000;
- a configuration recorder, recording, with the resource types the Config rules evaluate, where rules are
  rendered (``PutConfigRule`` fails with ``NoAvailableConfigurationRecorderException`` without one, AWS Config
  API Reference, PutConfigRule; change-triggered rules on types nobody records never evaluate);
- the subnets' zone IDs exist in the region and every interface endpoint service is offered in them
  (``DescribeVpcEndpointServices``; AWS PrivateLink Guide, "Access an AWS service using an interface VPC
  endpoint");
- the VPC quotas the network needs (Amazon VPC User Guide, "Amazon VPC quotas"): VPCs per Region, gateway
  endpoints per Region, interface endpoints per VPC. ``QUOTAS`` lists them; add a quota there (with how many
  the templates need) for any other limit the deploy must fit in;
- the account quotas ``[capacity]`` says the pipeline is sized for, which ``tap estimate`` takes its limits
  from: the table-level write throughput in every region that holds a replica (``DescribeLimits``; on-demand
  tables share the table-level quota with provisioned ones, 40,000 write units per table and per index by
  default: Amazon DynamoDB Developer Guide, "Quotas in Amazon DynamoDB", ServiceQuotas.html), and concurrent
  Lambda executions.

Only the account whose credentials run the deploy can be read: other target accounts (and organizational
units) get a note saying they were not checked. A check that cannot read what it needs (access denied, an
API the region lacks) gives a note too, never a crash: the deploy then finds out the way it would have anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tap_templates import naming, regions
from tap_templates.config import PipelineConfig
from tap_templates.deploy.aws import Aws, error_code
from tap_templates.deploy.targets import Targets

if TYPE_CHECKING:  # render imports the deployer policy, which lists QUOTAS
    from tap_templates.render import Rendering

PREFIX = "pre-flight:"
# Lambda keeps this much of the account's concurrency unreserved (configuration-concurrency.html).
UNRESERVED_MINIMUM = 100
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"  # "Concurrent executions", the quota to raise
ACTIVE_ENDPOINT_STATES = ("pendingAcceptance", "pending", "available", "modifying")


@dataclass(frozen=True)
class Findings:
    """``problems`` stop the deploy; ``notes`` say what could not be checked."""

    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegionPlan:
    """What one region's rendered template asks of the account."""

    region: str
    template: dict[str, Any]

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r.get("Properties", {}) for r in self.template["Resources"].values() if r["Type"] == resource_type]

    @property
    def zone_ids(self) -> list[str]:
        return [p["AvailabilityZoneId"] for p in self.of_type("AWS::EC2::Subnet") if "AvailabilityZoneId" in p]

    def endpoint_services(self, kind: str) -> list[str]:
        return [p["ServiceName"] for p in self.of_type("AWS::EC2::VPCEndpoint") if p.get("VpcEndpointType") == kind]

    @property
    def reserved_concurrency(self) -> int:
        return sum(int(p.get("ReservedConcurrentExecutions", 0)) for p in self.of_type("AWS::Lambda::Function"))

    @property
    def recorded_types(self) -> set[str]:
        """The resource types the change-triggered Config rules evaluate (periodic rules carry no scope)."""
        return {t for p in self.of_type("AWS::Config::ConfigRule")
                for t in p.get("Scope", {}).get("ComplianceResourceTypes", [])}


@dataclass(frozen=True)
class Quota:
    """A Service Quotas value the templates must fit in. ``needed``: how many the region's template creates;
    ``in_use``: how many the region already has, for a per-Region quota (None for a per-VPC quota, which only
    the template's own VPC counts against)."""

    service: str
    code: str
    name: str
    needed: Callable[[RegionPlan], int]
    in_use: Callable[[Aws, str], int] | None = None


def _vpcs(aws: Aws, region: str) -> int:
    pages = aws.client("ec2", region).get_paginator("describe_vpcs").paginate()
    return sum(len(page["Vpcs"]) for page in pages)


def _gateway_endpoints(aws: Aws, region: str) -> int:
    pages = aws.client("ec2", region).get_paginator("describe_vpc_endpoints").paginate()
    return sum(1 for page in pages for e in page["VpcEndpoints"]
               if e.get("VpcEndpointType") == "Gateway" and e.get("State", "available") in ACTIVE_ENDPOINT_STATES)


QUOTAS: tuple[Quota, ...] = (
    Quota("vpc", "L-F678F1CE", "VPCs per Region", lambda p: len(p.of_type("AWS::EC2::VPC")), _vpcs),
    Quota("vpc", "L-1B52E74A", "Gateway VPC endpoints per Region", lambda p: len(p.endpoint_services("Gateway")),
          _gateway_endpoints),
    Quota("vpc", "L-29B6F2EB", "Interface VPC endpoints per VPC", lambda p: len(p.endpoint_services("Interface"))),
)


def run(cfg: PipelineConfig, aws: Aws, chosen: Targets, rendering: Rendering) -> Findings:
    """Every check for the deploying account, in deploy order; notes for the targets it cannot read."""
    problems = list(stackset_roles(cfg, aws, chosen))
    notes = []
    if chosen.service_managed:
        notes.append(f"{PREFIX} organizational units {', '.join(chosen.organizational_units)}: not checked "
                     f"(their accounts are not readable from {aws.account})")
    others = [a for a in chosen.accounts if a != aws.account]
    if others:
        notes.append(f"{PREFIX} account(s) {', '.join(others)}: not checked (only {aws.account}, whose credentials "
                     "run the deploy, is readable)")
    if aws.account in chosen.accounts:
        plans = {t.region: RegionPlan(t.region, json.loads(t.body)) for t in rendering.templates}
        for region in regions.deploy_order(cfg):
            for check in (lambda_concurrency, table_write_quota, config_recorder, zones_and_endpoints, quotas):
                found, note = _attempt(check, cfg, aws, plans[region])
                problems += [f"{PREFIX} {aws.account} {region}: {line}" for line in found]
                notes += [f"{PREFIX} {aws.account} {region}: {note}"] if note else []
    return Findings(tuple(problems), tuple(notes))


def _attempt(check: Callable[[PipelineConfig, Aws, RegionPlan], Iterable[str]], cfg: PipelineConfig, aws: Aws,
             plan: RegionPlan) -> tuple[list[str], str]:
    try:
        return list(check(cfg, aws, plan)), ""
    except ClientError as exc:
        return [], f"{check.__name__.replace('_', ' ')} not checked: {error_code(exc)}: " \
                   f"{exc.response.get('Error', {}).get('Message', '')}"
    except BotoCoreError as exc:
        return [], f"{check.__name__.replace('_', ' ')} not checked: {exc}"


def stackset_roles(cfg: PipelineConfig, aws: Aws, chosen: Targets) -> list[str]:
    """The administration role in the deploying account; the execution role where it is also a target. Both
    come from one template, so a missing pair is one problem, on one line."""
    if chosen.service_managed:
        return []
    iam = aws.client("iam", cfg.primary_region)
    wanted = [naming.stackset_administration_role(cfg)]
    if aws.account in chosen.accounts:
        wanted.append(naming.stackset_execution_role(cfg))
    missing = []
    for role in wanted:
        try:
            iam.get_role(RoleName=role)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            missing.append(role)
    if not missing:
        return []
    also = f" (nor {', '.join(missing[1:])})" if missing[1:] else ""
    return [f"{PREFIX} StackSet role {missing[0]} not found in account {aws.account}{also}: deploy "
            f"build/{cfg.environment}/stackset-roles.json first (python scripts/deploy.py roles --env "
            f"{cfg.environment})"]


def _function(cfg: PipelineConfig, aws: Aws, region: str) -> dict[str, Any] | None:
    """The deployed processor (an update), or None (a first create)."""
    try:
        return aws.client("lambda", region).get_function(FunctionName=naming.function(cfg))
    except ClientError as exc:
        if error_code(exc) in ("ResourceNotFoundException", "404"):
            return None
        raise


def lambda_concurrency(cfg: PipelineConfig, aws: Aws, plan: RegionPlan) -> list[str]:
    """The account's concurrent executions against ``[capacity]``, and the function's reservation against what
    the account leaves unreserved."""
    limit = aws.client("lambda", plan.region).get_account_settings()["AccountLimit"]
    found = []
    executions, assumed = int(limit["ConcurrentExecutions"]), cfg.capacity.lambda_concurrency_quota
    wanted = plan.reserved_concurrency
    if wanted:
        held = 0
        if _function(cfg, aws, plan.region) is not None:  # its current reservation comes back before the new one
            current = aws.client("lambda", plan.region).get_function_concurrency(FunctionName=naming.function(cfg))
            held = int(current.get("ReservedConcurrentExecutions") or 0)
        left = limit["UnreservedConcurrentExecutions"] + held - wanted
        if left < UNRESERVED_MINIMUM:
            most = limit["UnreservedConcurrentExecutions"] + held - UNRESERVED_MINIMUM
            fix = (f"lower [processor] reserved_concurrency to {most} or less" if most >= 2
                   else "[processor] reserved_concurrency cannot fit at all")
            found.append(f"reserved concurrency {wanted} would leave {left} of the account's {executions} "
                         f"concurrent executions unreserved, and Lambda keeps at least {UNRESERVED_MINIMUM}: {fix}, "
                         f"or request a higher 'Concurrent executions' quota ({LAMBDA_CONCURRENCY_QUOTA})")
    if executions < assumed:
        found.append(f"Lambda allows {executions:,} concurrent executions here, below the {assumed:,} of [capacity] "
                     f"lambda_concurrency_quota that the pipeline is sized for (tap estimate): request a higher "
                     f"'Concurrent executions' quota ({LAMBDA_CONCURRENCY_QUOTA}), or set "
                     f"capacity.lambda_concurrency_quota = {executions}")
    return found


def _records(recorder: dict[str, Any], resource_type: str) -> bool:
    group = recorder.get("recordingGroup") or {"allSupported": True}
    strategy = (group.get("recordingStrategy") or {}).get("useOnly")
    if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
        return resource_type not in (group.get("exclusionByResourceTypes") or {}).get("resourceTypes", [])
    if group.get("allSupported") or strategy == "ALL_SUPPORTED_RESOURCE_TYPES":
        return True
    return resource_type in group.get("resourceTypes", [])


def config_recorder(cfg: PipelineConfig, aws: Aws, plan: RegionPlan) -> list[str]:
    if not plan.of_type("AWS::Config::ConfigRule"):
        return []
    client = aws.client("config", plan.region)
    recorders = client.describe_configuration_recorders()["ConfigurationRecorders"]
    if not recorders:
        return ["no AWS Config configuration recorder: the Config rules would fail to create "
                "(NoAvailableConfigurationRecorderException); set up AWS Config recording in this account and "
                "region, or set [audit] config_rules = false"]
    statuses = client.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    found = []
    if not any(s.get("recording") for s in statuses):
        names = ", ".join(r["name"] for r in recorders)
        found.append(f"configuration recorder {names} is not recording: the Config rules would never evaluate; "
                     f"start it (aws configservice start-configuration-recorder --configuration-recorder-name "
                     f"{recorders[0]['name']} --region {plan.region})")
    missing = sorted(t for t in plan.recorded_types if not any(_records(r, t) for r in recorders))
    if missing:
        found.append(f"the configuration recorder does not record {', '.join(missing)}: the Config rules on "
                     "those types would never evaluate; add them to its recording group")
    return found


def zones_and_endpoints(cfg: PipelineConfig, aws: Aws, plan: RegionPlan) -> list[str]:
    zone_ids, services = plan.zone_ids, plan.endpoint_services("Interface")
    if not zone_ids:
        return []
    ec2 = aws.client("ec2", plan.region)
    zones = {z["ZoneId"]: z for z in ec2.describe_availability_zones(AllAvailabilityZones=True)["AvailabilityZones"]}
    found = [f"zone ID {z} ([network] zone_ids) is not an Availability Zone of {plan.region} in this account"
             for z in zone_ids if z not in zones]
    found += [f"zone {z} ({zones[z]['ZoneName']}) is {zones[z].get('State', 'unknown')}, not available"
              for z in zone_ids if z in zones and zones[z].get("State", "available") != "available"]
    if found or not services:
        return found
    try:
        details = ec2.describe_vpc_endpoint_services(ServiceNames=services)["ServiceDetails"]
    except ClientError as exc:
        if error_code(exc) != "InvalidServiceName":
            raise
        return [f"an interface endpoint service is not offered in {plan.region}: "
                f"{exc.response.get('Error', {}).get('Message', '')}"]
    return endpoint_problems(services, details, {z: zones[z]["ZoneName"] for z in zones}, zone_ids)


def endpoint_problems(services: list[str], details: list[dict[str, Any]], zone_names: dict[str, str],
                      chosen: list[str]) -> list[str]:
    """``details`` as ``DescribeVpcEndpointServices`` returns them, whose zones are the account's zone names;
    ``zone_names`` maps the region's zone IDs to those names."""
    offered: dict[str, set[str]] = {}
    for detail in details:
        if any(t.get("ServiceType") == "Interface" for t in detail.get("ServiceType", [])):
            offered.setdefault(detail["ServiceName"], set()).update(detail.get("AvailabilityZones", []))
    everywhere = sorted(z for z, name in zone_names.items() if all(name in offered.get(s, ()) for s in services))
    found = []
    for service in services:
        if service not in offered:
            found.append(f"{service} is not offered as an interface endpoint in this region")
            continue
        lacking = [z for z in chosen if zone_names[z] not in offered[service]]
        if lacking:
            found.append(f"{service} is not offered in {', '.join(f'{z} ({zone_names[z]})' for z in lacking)}: "
                         f"set [network] zone_ids to zones that offer every endpoint "
                         f"({', '.join(everywhere) or 'none does'})")
    return found


def _quota_value(aws: Aws, region: str, quota: Quota) -> float:
    client = aws.client("service-quotas", region)
    try:
        return client.get_service_quota(ServiceCode=quota.service, QuotaCode=quota.code)["Quota"]["Value"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchResourceException":
            raise
    return client.get_aws_default_service_quota(ServiceCode=quota.service, QuotaCode=quota.code)["Quota"]["Value"]


def quotas(cfg: PipelineConfig, aws: Aws, plan: RegionPlan) -> list[str]:
    """A first create adds the network to what the region has; an update of a deployed pipeline adds nothing to
    the per-Region counts."""
    deployed = _function(cfg, aws, plan.region) is not None
    found = []
    for quota in QUOTAS:
        needed = quota.needed(plan)
        if not needed or (deployed and quota.in_use is not None):
            continue
        in_use = quota.in_use(aws, plan.region) if quota.in_use is not None else 0
        value = _quota_value(aws, plan.region, quota)
        if in_use + needed > value:
            found.append(f"quota '{quota.name}' ({quota.service} {quota.code}) is {value:g}: {in_use} in use and "
                         f"the pipeline adds {needed}; request an increase in Service Quotas or free some")
    return found


def table_write_quota(cfg: PipelineConfig, aws: Aws, plan: RegionPlan) -> list[str]:
    """Every region holds a replica of the table (replicated writes count against the replica's quota), so each is
    checked against ``[capacity]``."""
    table = int(aws.client("dynamodb", plan.region).describe_limits()["TableMaxWriteCapacityUnits"])
    assumed = cfg.capacity.table_write_quota
    if table >= assumed:
        return []
    return [f"DynamoDB allows {table:,} write units per second per table here, below the {assumed:,} of [capacity] "
            f"table_write_quota that the pipeline is sized for (tap estimate): request a higher table-level write "
            f"throughput quota in Service Quotas, or set capacity.table_write_quota = {table}"]
