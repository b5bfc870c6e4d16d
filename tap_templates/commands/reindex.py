"""Give the records written before the time index (or while data types were not indexed) their ``timeShard``.

    python scripts/reindex.py --env ENV [--region R] [--segments N] [--rate N] [--state FILE] [--dry-run]

Scans the table in N parallel segments (default 4) and sets ``timeShard`` on every record item that lacks one, at
most --rate writes per second (default 500; each costs a write unit or more in the table, in the index, and in
every replica). Writes are conditional (an item already indexed is left alone), so a second run, or one alongside
the pipeline, is safe. --state FILE saves each segment's position after every page: the same command with the same
file resumes where a stopped run left off. --dry-run counts what it would write. --region: where to write (default
the primary region; the global table replicates).

Exit codes: 0 done; 1 a write or read failed; 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tap_templates import cli
from tap_templates.operations import options, reindex
from tap_templates.operations.environment import check_region

PROG = "reindex.py"


def positive(value: str) -> int:
    if not value.isdigit() or int(value) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def parser(prog: str = PROG) -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                           parents=[options.common_options()])
    p.add_argument("--region", help="the region to write in (default: the primary region)")
    p.add_argument("--segments", type=positive, default=4, metavar="N", help="parallel scan segments (default 4)")
    p.add_argument("--rate", type=positive, default=500, metavar="N", help="writes per second at most (default 500)")
    p.add_argument("--state", type=Path, metavar="FILE", help="save progress here, and resume from it")
    return p


def progress_line(dry_run: bool) -> Callable[[reindex.Progress], None]:
    """A live count on a terminal; nothing per page elsewhere (a CI log gets the summary)."""
    live = sys.stdout.isatty()

    def show(p: reindex.Progress) -> None:
        if live:
            sys.stdout.write(f"\r\033[K  scanned {p.scanned:,} items, {p.written:,} "
                             f"{'to index' if dry_run else 'indexed'}")
            sys.stdout.flush()
    return show


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    if args.state is not None:
        cli.writable_file(args.state, "--state")
    env = options.environment(args, check=lambda cfg: check_region(cfg, args.region) if args.region else None)
    region = args.region or env.cfg.primary_region
    found = reindex.reindex(env, region, args.segments, float(args.rate), args.state, args.dry_run,
                            on_page=progress_line(args.dry_run))
    if sys.stdout.isatty():
        print()
    prefixes = ", ".join(f"{k} {v:,}" for k, v in sorted(found.by_prefix.items())) or "none"
    verb = "would index" if args.dry_run else "indexed"
    print(f"{env.table} in {region}: scanned {found.scanned:,} items; {verb} {found.written:,} record item(s) "
          f"({prefixes}); {found.skipped:,} left as they are")
    if args.dry_run:
        print("dry run: nothing was written")
    return 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(options.guarded(lambda a: main(a, prog), prog), argv, prog=prog)
