"""Which region processes: status of every region, promote a region, fail back to the primary.

    python scripts/failover.py status --env ENV [--account ID | --all-accounts] [--role-name NAME]
    python scripts/failover.py promote REGION --env ENV [--yes] [--dry-run] [--account ID | --all-accounts]
    python scripts/failover.py failback --env ENV [--since TIME] [--until TIME] [--force] [--yes] [--dry-run]

promote fences the other regions (turns their event source off; an unreachable one is skipped with a
warning), turns REGION's on and records the roles as StackSet ProcessingEnabled overrides, which later deploys
keep. It is idempotent: run it again to finish a promote that could not reach a region. failback promotes the
configured primary after a reconcile (default: the last 7 days) finds nothing missing.

Exit codes: 0 done; 1 an operation failed, a failback was refused, the confirmation was declined, or status
found no single active region or an unreachable one; 2 bad input (one line on stderr), including promoting
the region already active.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from tap_templates import cli
from tap_templates.errors import ConfigError
from tap_templates.operations import accounts, failover, options, reconcile
from tap_templates.operations.environment import Environment, OperationError, Unreachable, check_region

PROG = "failover.py"
ROLE_NAME = "OrganizationAccountAccessRole"


def parser(prog: str = PROG) -> cli.ArgumentParser:
    common = options.common_options()
    top = cli.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True, metavar="{status,promote,failback}")
    status = commands.add_parser("status", parents=[common], help="every region's role, queues, health and replication")
    promote = commands.add_parser("promote", parents=[common], help="make REGION the active region")
    promote.add_argument("region", metavar="REGION")
    promote.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for sub in (status, promote):
        which = sub.add_mutually_exclusive_group()
        which.add_argument("--account", metavar="ID", help="a target account of the StackSets (default: this one)")
        which.add_argument("--all-accounts", action="store_true", help="every target account of the StackSets")
        sub.add_argument("--role-name", default=ROLE_NAME, metavar="NAME",
                         help=f"role to assume in the other accounts (default {ROLE_NAME})")
    failback = commands.add_parser("failback", parents=[common], help="make the configured primary active again")
    failback.add_argument("--since", default="7d", metavar="TIME",
                          help="reconcile objects from TIME (ISO 8601 or e.g. 6h, 2d; default 7d)")
    failback.add_argument("--until", metavar="TIME", help="reconcile objects until TIME (default now)")
    failback.add_argument("--force", action="store_true", help="fail back even if the reconcile finds discrepancies")
    failback.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return top


def print_status(rows: list[failover.StatusRow]) -> None:
    for line in cli.table(failover.StatusRow.HEADER, [r.row() for r in rows]):
        print(line)
    notes = list(dict.fromkeys(note for r in rows for note in r.notes()))
    for note in notes:
        print(f"  {note}")
    print(failover.summary(rows))


def print_roles(outcome: failover.Outcome) -> None:
    rows = [[s.region, s.configured, s.role, s.mapping_state or "unknown"] for s in outcome.states.values()]
    for line in cli.table(("region", "config", "role", "event source"), rows):
        print(line)


def change(args: argparse.Namespace, env: object, target: str, steps: list[failover.Step]) -> int:
    """Show the plan, ask, run; shared by promote and failback."""
    print(f"plan to make {target} the active region of {args.env}:")
    for number, step in enumerate(steps, start=1):
        print(f"  {number}. {step.describe(env)}")
    if args.dry_run:
        print("dry run: nothing was changed")
        return 0
    if not args.yes and not cli.confirm(f"type the region name ({target}) to go ahead: ", target):
        print("cancelled: nothing was changed")
        return cli.CANCELLED
    outcome = failover.execute(env, target, steps, print, cli.StatusLine(sys.stdout, only_when_done=True))
    print_roles(outcome)
    if outcome.warnings:
        print(f"{target} is active; {len(outcome.warnings)} step(s) could not reach their region (see WARNING "
              f"above): run {cli.command('failover')} promote {target} --env {args.env} again once it answers")
    else:
        print(f"{target} is the active region of {args.env}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    if args.command == "status":
        env = options.environment(args)
        if args.account or args.all_accounts:
            return status_of_accounts(env, accounts.chosen(env, args.account, args.all_accounts), args.role_name)
        options.require_deployed(env)  # one line when no region has it; a partly deployed one shows its table
        rows = failover.status(env)
        print_status(rows)
        fine = sum(r.state.active for r in rows) == 1 and all(r.state.reachable for r in rows)
        return 0 if fine else options.FAILED
    if args.command == "promote":
        env = options.environment(args, lambda cfg: check_region(cfg, args.region), f"promote {args.region}")
        if args.account or args.all_accounts:
            return promote_accounts(args, env, accounts.chosen(env, args.account, args.all_accounts))
        return change(args, env, args.region, failover.plan(env, args.region))
    since, until = reconcile.window(args.since, args.until)
    env = options.environment(args, confirming="failback")
    print(f"reconciling objects of {since.isoformat(timespec='seconds')} .. {until.isoformat(timespec='seconds')}")
    try:
        steps, report = failover.failback(env, since, until, force=args.force)
    except failover.FailbackRefused as exc:
        print_discrepancies(exc.report)
        raise
    print_discrepancies(report)
    return change(args, env, env.cfg.primary_region, steps)


def status_of_accounts(env: Environment, chosen: list[str], role_name: str) -> int:
    fine = True
    for account, found in accounts.status(env, chosen, role_name):
        print(f"account {account}:")
        if isinstance(found, str):
            print(f"  {found}")
            fine = False
            continue
        print_status(found)
        fine = fine and sum(r.state.active for r in found) == 1 and all(r.state.reachable for r in found)
    return 0 if fine else options.FAILED


def promote_accounts(args: argparse.Namespace, env: Environment, chosen: list[str]) -> int:
    print(f"plan: make {args.region} the active region of {args.env} in {len(chosen)} account(s): "
          f"{', '.join(chosen)}")
    if args.dry_run:
        for account in chosen:
            try:
                here = accounts.in_account(env, account, args.role_name)
                steps = failover.plan(here, args.region)
                print(f"  {account}: " + "; ".join(s.describe(here) for s in steps))
            except (ConfigError, OperationError, Unreachable, ClientError, BotoCoreError) as exc:
                print(f"  {account}: {str(exc).splitlines()[0]}")  # a dry run reports every account
        print("dry run: nothing was changed")
        return 0
    if not args.yes and not cli.confirm(f"type the region name ({args.region}) to go ahead: ", args.region):
        print("cancelled: nothing was changed")
        return 0
    outcomes = accounts.promote(env, args.region, chosen, args.role_name, print,
                                cli.StatusLine(sys.stdout, only_when_done=True))
    for line in cli.table(("account", "active", "result", "warnings"), accounts.summary(outcomes)):
        print(line)
    failed = [o.account for o in outcomes if o.failed]
    print(f"{args.region} active in {len(outcomes) - len(failed)} of {len(outcomes)} account(s)"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return options.FAILED if failed else 0


def print_discrepancies(report: reconcile.Report, limit: int = 20) -> None:
    found = report.discrepancies
    print(f"reconcile: {len(found)} discrepancy(ies), {report.sampled} keys compared across the table replicas")
    for line in found[:limit]:
        print(f"  {line}")
    if len(found) > limit:
        print(f"  ... and {len(found) - limit} more ({cli.command('reconcile')} lists them all)")

def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(options.guarded(lambda a: main(a, prog), prog), argv, prog=prog)
