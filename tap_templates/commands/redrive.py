"""Move dead-letter messages back to the ingest queue, by the failure reason the handler recorded.

    python scripts/redrive.py --env ENV [--region R] [--reason CODE ...] [--max N] [--yes] [--dry-run]

--region defaults to the active region. By default only the reasons a fix outside the object can cure are
moved (an access grant, a restore from an archive tier, a raised limit, a transient run of retries: the
default of --reason below); the permanent ones describe the object's bytes, which fail the same way again
unless the handler or its settings changed: they are moved only when named with --reason, with --yes, or
when you answer yes at the prompt. Messages SQS moved after too many receives have no reason attribute and
are RETRIES_EXHAUSTED. A handler dead letter's file is set from FAILED to RETRY in the ledger before its event
is sent again. Counts by reason are printed before and after; --dry-run counts only.

Exit codes: 0 done; 1 an operation failed, a matching message could not be redriven, or the prompt was
declined; 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from handlers.contracts import TRANSIENT_REASONS
from tap_templates import cli
from tap_templates.errors import ConfigError
from tap_templates.operations import options, redrive
from tap_templates.operations.environment import active_region, check_region, read_states

PROG = "redrive.py"


def count(value: str) -> int:
    if not value.isdigit() or int(value) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def reason(value: str) -> str:
    if value not in redrive.REASONS:
        raise argparse.ArgumentTypeError(f"{value!r} is not a reason code; known: {', '.join(sorted(redrive.REASONS))}")
    return value


def parser(prog: str = PROG) -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                           parents=[options.common_options()])
    p.add_argument("--region", help="the region whose DLQ to redrive (default: the active region)")
    p.add_argument("--reason", nargs="+", type=reason, metavar="CODE",
                   help="only messages with these reasons, permanent ones included (default: "
                        f"{', '.join(sorted(TRANSIENT_REASONS))})")
    p.add_argument("--max", type=count, metavar="N", help="move at most N messages")
    p.add_argument("--yes", action="store_true", help="also move the permanent failures, without asking")
    return p


def by_reason(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def print_result(result: redrive.Result, dry_run: bool) -> None:
    print(f"{result.region} before: {result.before.describe()}")
    print(f"  in the DLQ by reason: {by_reason(result.found)}")
    if dry_run:
        print(f"  would move: {by_reason(result.left)}")
    else:
        print(f"  moved: {by_reason(result.moved)}" + (f" ({result.ledger_reset} ledger item(s) FAILED -> RETRY)"
                                                       if result.ledger_reset else ""))
        if result.left:
            print(f"  left by --max: {by_reason(result.left)}")
    if result.not_redrivable:
        print(f"  cannot be redriven: {by_reason(result.not_redrivable)}")
    print(f"{result.region} after: {result.after.describe()}")


def ask_for_permanent(args: argparse.Namespace, permanent: dict[str, int]) -> bool:
    """Permanent failures move only on a yes typed at the terminal (or --yes / --reason, decided earlier)."""
    if args.dry_run or not sys.stdin.isatty():
        return False
    return cli.confirm(f"also move the permanent failures ({by_reason(permanent)})? the same object fails the same "
                       f"way again unless the handler or its settings changed; type 'yes' to move them: ", "yes")


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    env = options.environment(args, (lambda cfg: check_region(cfg, args.region)) if args.region else None)
    options.require_deployed(env, [args.region] if args.region else None)
    states = read_states(env)
    region = args.region or active_region(states)
    if region is None:
        raise ConfigError(f"no single active region (see {cli.command('failover')} status): pass --region")
    explicit = set(args.reason or ())
    reasons = explicit or (set(redrive.REASONS) if args.yes else set(TRANSIENT_REASONS))
    result = redrive.redrive(env, region, reasons, args.max, args.dry_run, on_line=print)
    print_result(result, args.dry_run)
    moved = sum(result.moved.values())
    permanent = {r: n for r, n in result.found.items() if r not in reasons and r in redrive.PERMANENT_REASONS}
    declined = False
    if permanent and (args.max is None or moved < args.max):
        if ask_for_permanent(args, permanent):
            more = redrive.redrive(env, region, set(permanent), args.max and args.max - moved, on_line=print)
            print_result(more, False)
            moved += sum(more.moved.values())
            result.not_redrivable += more.not_redrivable
        else:
            declined = sys.stdin.isatty() and not args.dry_run
            print(f"  left in the DLQ, permanent (not moved by default): {by_reason(permanent)}; move them with "
                  f"--reason {' '.join(sorted(permanent))} (or --yes) once the handler or its settings changed")
    if not args.dry_run and moved and not states[region].active:
        print(f"note: {region} is not the active region: the messages wait in its ingest queue until it is")
    return options.FAILED if result.not_redrivable or declined else 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(options.guarded(lambda a: main(a, prog), prog), argv, prog=prog)
