"""Move dead-letter messages back to the ingest queue, by the failure reason the handler recorded.

    python scripts/redrive.py --env ENV [--region R] [--reason CODE ...] [--max N] [--dry-run]

--region defaults to the active region. --reason filters by the reason code of the handler's dead letters
(the SQS message attribute ``reason``); messages SQS moved after too many receives have none and are
RETRIES_EXHAUSTED. A handler dead letter's file is set from FAILED to RETRY in the ledger before its event is
sent again. Counts by reason are printed before and after; --dry-run counts only.

Exit codes: 0 done; 1 an operation failed or a matching message could not be redriven; 2 bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

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
    p.add_argument("--reason", nargs="+", type=reason, metavar="CODE", help="only messages with these reasons")
    p.add_argument("--max", type=count, metavar="N", help="move at most N messages")
    return p


def by_reason(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    env = options.environment(args, (lambda cfg: check_region(cfg, args.region)) if args.region else None)
    states = read_states(env)
    region = args.region or active_region(states)
    if region is None:
        raise ConfigError("no single active region (see python scripts/failover.py status): pass --region")
    result = redrive.redrive(env, region, set(args.reason) if args.reason else None, args.max, args.dry_run,
                             on_line=print)
    print(f"{region} before: {result.before.describe()}")
    print(f"  in the DLQ by reason: {by_reason(result.found)}")
    if args.dry_run:
        print(f"  would move: {by_reason(result.left)}")
    else:
        print(f"  moved: {by_reason(result.moved)}" + (f" ({result.ledger_reset} ledger item(s) FAILED -> RETRY)"
                                                       if result.ledger_reset else ""))
        if result.left:
            print(f"  left by --max: {by_reason(result.left)}")
    if result.not_redrivable:
        print(f"  cannot be redriven: {by_reason(result.not_redrivable)}")
    print(f"{region} after: {result.after.describe()}")
    if not args.dry_run and result.moved and not states[region].active:
        print(f"note: {region} is not the active region: the messages wait in its ingest queue until it is")
    return options.FAILED if result.not_redrivable else 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(options.guarded(lambda a: main(a, prog), prog), argv, prog=prog)
