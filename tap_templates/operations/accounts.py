"""Failover across the accounts a StackSet deploys to: one target account or all of them, with a summary.

The StackSets live in the deploying account (the credentials the tools run with); each target account's
pipeline is read and switched with a role assumed there (``--role-name``: for service-managed StackSets
typically ``OrganizationAccountAccessRole`` or Control Tower's ``AWSControlTowerExecution``; any role with the
operations statements of ``build/<env>/deployer-policy.json`` will do), and the promoted roles are recorded as
that account's instance overrides in the deploying account. One account that fails or does not answer does
not stop the others; the summary says what happened in each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tap_templates import naming
from tap_templates.deploy import plan as deploy_plan
from tap_templates.deploy import stacksets
from tap_templates.errors import ConfigError
from tap_templates.operations import failover
from tap_templates.operations.environment import (
    Environment,
    OperationError,
    OperationsAws,
    Unreachable,
    active_region,
    reaching,
    read_states,
)

SESSION_NAME = "tap-failover"


@dataclass(frozen=True)
class AccountOutcome:
    account: str
    active: str | None
    result: str
    warnings: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.result.startswith("FAILED")


def target_accounts(env: Environment) -> list[str]:
    """Every account with an instance of the environment's StackSets (read in the deploying account)."""
    found = set()
    for region in env.cfg.regions:
        with reaching(region):
            deployed = deploy_plan.read_deployed(env.administrator, env.stack_set(region), region)
        found |= {i.account for i in deployed.instances} if deployed else set()
    return sorted(found)


def chosen(env: Environment, account: str | None, all_accounts: bool) -> list[str]:
    """The accounts a command acts on: ``account``, every target account, or (neither) the caller's own."""
    if not account and not all_accounts:
        return [env.account]
    targets = target_accounts(env)
    if all_accounts:
        if not targets:
            raise ConfigError(f"the StackSets of {env.cfg.environment} have no instances: nothing to act on")
        return targets
    if account not in targets:
        raise ConfigError(f"account {account} has no instance of {naming.prefix(env.cfg)}'s StackSets; "
                          f"target accounts: {', '.join(targets) or 'none'}")
    return [account]


def in_account(env: Environment, account: str, role_name: str) -> Environment:
    """The environment as seen from ``account``, through ``role_name`` assumed there (the caller's own account
    needs no role)."""
    if account == env.account:
        return env
    arn = f"arn:{env.aws.partition}:iam::{account}:role/{role_name}"
    sts = env.client("sts", env.cfg.primary_region)
    try:
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)["Credentials"]
    except ClientError as exc:
        raise OperationError(f"cannot assume {arn}: {exc.response['Error'].get('Message', exc)}") from exc
    session = boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"],
                            aws_session_token=credentials["SessionToken"])
    aws = OperationsAws(session=session, account=account, partition=env.aws.partition,
                        endpoint_url=env.aws.endpoint_url)
    return Environment(env.cfg, aws, stack_sets=env.administrator)


def status(env: Environment, accounts: Sequence[str], role_name: str
           ) -> list[tuple[str, list[failover.StatusRow] | str]]:
    """Each account's status rows, or why they could not be read."""
    found: list[tuple[str, list[failover.StatusRow] | str]] = []
    for account in accounts:
        try:
            found.append((account, failover.status(in_account(env, account, role_name))))
        except (OperationError, ConfigError, Unreachable, ClientError, BotoCoreError) as exc:
            found.append((account, f"FAILED: {exc}"))
    return found


def promote(env: Environment, target: str, accounts: Sequence[str], role_name: str,
            on_line: Callable[[str], None], on_progress: Callable[[stacksets.OperationProgress], None],
            poll_seconds: float = 5.0) -> list[AccountOutcome]:
    """Promote ``target`` in every account, one after the other; a failure is that account's outcome."""
    outcomes = []
    for account in accounts:
        try:
            here = in_account(env, account, role_name)
            try:
                steps = failover.plan(here, target)
            except ConfigError as exc:
                if "already the active region" not in str(exc):
                    raise
                outcomes.append(AccountOutcome(account, target, "already active"))
                continue
            done = failover.execute(here, target, steps, lambda line, a=account: on_line(f"{a}: {line}"),
                                    on_progress, poll_seconds)
            outcomes.append(AccountOutcome(account, active_region(done.states), "promoted", tuple(done.warnings)))
        except (OperationError, ConfigError, Unreachable, ClientError, BotoCoreError) as exc:
            outcomes.append(AccountOutcome(account, None, f"FAILED: {str(exc).splitlines()[0]}"))
    return outcomes


def active_regions(env: Environment, accounts: Sequence[str], role_name: str) -> dict[str, str | None]:
    """Which region is active in each account (None: none or several, or unreadable)."""
    found = {}
    for account in accounts:
        try:
            found[account] = active_region(read_states(in_account(env, account, role_name)))
        except (OperationError, ConfigError, Unreachable, ClientError, BotoCoreError):
            found[account] = None
    return found


def summary(outcomes: Sequence[AccountOutcome]) -> list[list[str]]:
    return [[o.account, o.active or "-", o.result, str(len(o.warnings))] for o in outcomes]
