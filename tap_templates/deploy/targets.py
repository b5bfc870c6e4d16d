"""Where stack instances go and how StackSet operations roll out: accounts (self-managed) or organizational
units (service-managed, https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html),
and the operation preferences from ``[stacksets]``.

Region order: each region has its own StackSet (administered from that region), so a StackSet operation spans
one region and the order across regions is the manifest's (secondaries first). Within an operation,
``max_concurrent_count`` accounts are deployed at a time and ``failure_tolerance_count`` failures are tolerated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tap_templates import naming
from tap_templates.config import PipelineConfig
from tap_templates.deploy.aws import Aws, error_code
from tap_templates.errors import ConfigError

ACCOUNT_ID = re.compile(r"^\d{12}$")
OU_ID = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")


@dataclass(frozen=True)
class Targets:
    """Where stack instances go: accounts (self-managed) or organizational units (service-managed)."""

    permission_model: str
    accounts: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()

    @property
    def service_managed(self) -> bool:
        return self.permission_model == "SERVICE_MANAGED"

    def instance_targets(self, accounts: Sequence[str] | None = None) -> dict[str, Any]:
        """The Accounts= or DeploymentTargets= arguments of the stack instance calls."""
        if self.service_managed:
            return {"DeploymentTargets": {"OrganizationalUnitIds": list(self.organizational_units)}}
        return {"Accounts": list(self.accounts if accounts is None else accounts)}


def accounts_in(organizational_units: Sequence[str], accounts: Sequence[str]) -> dict[str, Any]:
    """DeploymentTargets for some accounts of service-managed instances: the OUs, intersected with the accounts
    (UpdateStackInstances takes OUs, not accounts, for service-managed StackSets)."""
    return {"DeploymentTargets": {"OrganizationalUnitIds": sorted(set(organizational_units)),
                                  "Accounts": sorted(set(accounts)), "AccountFilterType": "INTERSECTION"}}


def organization_accounts(aws: Aws, organizational_units: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The active accounts each OU holds, its child OUs' included, as StackSets deploys to them: what an
    operation on service-managed instances touches. Organizations' API lives in us-east-1."""
    org = aws.client("organizations", "us-east-1")
    found = {}
    for ou in organizational_units:
        accounts, pending = [], [ou]
        while pending:
            parent = pending.pop()
            try:
                for page in org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
                    accounts += [a["Id"] for a in page["Accounts"] if a.get("Status", "ACTIVE") == "ACTIVE"]
            except ClientError as exc:
                if error_code(exc) != "ParentNotFoundException":
                    raise
                raise ConfigError(f"organizational unit {parent} is not in the organization of account "
                                  f"{aws.account}") from None
            for page in org.get_paginator("list_children").paginate(ParentId=parent, ChildType="ORGANIZATIONAL_UNIT"):
                pending += [child["Id"] for child in page["Children"]]
        found[ou] = tuple(sorted(set(accounts)))
    return found


def check_account_id(value: str) -> str:
    if not ACCOUNT_ID.match(value):
        raise ConfigError(f"account ID {value!r} is not 12 digits")
    return value


def targets(cfg: PipelineConfig, caller_account: str, accounts: Sequence[str] = (),
            organizational_units: Sequence[str] = ()) -> Targets:
    """Command line first, then ``[stacksets]``; a self-managed deploy defaults to the caller's account."""
    model = cfg.stacksets.permission_model
    if model == "SERVICE_MANAGED":
        if accounts:
            raise ConfigError("--accounts applies to SELF_MANAGED StackSets; this environment is SERVICE_MANAGED "
                              "and targets organizational units (--organizational-units)")
        ous = tuple(dict.fromkeys(organizational_units or cfg.stacksets.organizational_units))
        if not ous:
            raise ConfigError("stacksets.permission_model is SERVICE_MANAGED but no organizational unit is given: "
                              "set stacksets.organizational_units or pass --organizational-units")
        for ou in ous:
            if not OU_ID.match(ou):
                raise ConfigError(f"organizational unit {ou!r} is not an OU or root ID (ou-xxxx-xxxxxxxx or r-xxxx)")
        return Targets(model, organizational_units=ous)
    if organizational_units:
        raise ConfigError("--organizational-units needs stacksets.permission_model = \"SERVICE_MANAGED\"")
    chosen = tuple(dict.fromkeys(accounts or cfg.stacksets.accounts or (caller_account,)))
    for account in chosen:
        check_account_id(account)
    return Targets(model, accounts=chosen)


def operation_preferences(cfg: PipelineConfig, region: str) -> dict[str, Any]:
    s = cfg.stacksets
    if s.max_concurrent_count > s.failure_tolerance_count + 1:
        raise ConfigError(f"stacksets.max_concurrent_count ({s.max_concurrent_count}) may be at most "
                          f"failure_tolerance_count + 1 ({s.failure_tolerance_count + 1}), as StackSets requires")
    return {"RegionConcurrencyType": s.region_concurrency, "RegionOrder": [region],
            "FailureToleranceCount": s.failure_tolerance_count, "MaxConcurrentCount": s.max_concurrent_count}


def administration_role_arn(cfg: PipelineConfig, aws: Aws) -> str:
    return f"arn:{aws.partition}:iam::{aws.account}:role/{naming.stackset_administration_role(cfg)}"
