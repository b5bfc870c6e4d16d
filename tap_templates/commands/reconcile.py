"""Compare each region's ingestion bucket with the file ledger, and the table replicas with each other.

    python scripts/reconcile.py --env ENV --since TIME [--until TIME] [--prefix P] [--sample N] [--backfill]

TIME is ISO 8601 (2025-01-31T14:00Z; UTC when no zone is given) or a duration ago (90s, 30m, 2h, 7d, 1w).
Every object version modified in the window is looked up in the ledger: completed, failed, in progress,
retry, or missing. --backfill sends the S3 event of each missing or stalled file to the active region's
ingest queue (--dry-run lists them instead).

Exit codes: 0 no discrepancy (or all backfilled); 1 a file missing or unfinished, replicas that differ, a
region that could not be read, or a failed backfill; 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tap_templates import cli
from tap_templates.operations import options, reconcile

PROG = "reconcile.py"
LISTED = 50


def positive(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number")
    return int(value)


def parser(prog: str = PROG) -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                           parents=[options.common_options()])
    p.add_argument("--since", required=True, metavar="TIME", help="first modification time to look at")
    p.add_argument("--until", metavar="TIME", help="end of the window (default now)")
    p.add_argument("--prefix", default="", help="only keys starting with this")
    p.add_argument("--sample", type=positive, default=20, metavar="N",
                   help="ledger items and records compared across table replicas (default 20 of each)")
    p.add_argument("--backfill", action="store_true", help="re-enqueue missing and stalled files")
    return p


def print_report(report: reconcile.Report) -> None:
    print(f"window {report.since.isoformat(timespec='seconds')} .. {report.until.isoformat(timespec='seconds')}; "
          f"ledger read in {report.ledger_region or 'no region'}; active region {report.active or 'unknown'}")
    header = ("region", "bucket", *(s.lower().replace("_", " ") for s in reconcile.STATUSES), "ignored")
    rows = [[r.region, r.bucket, *(str(r.counts[s]) for s in reconcile.STATUSES), str(r.ignored)]
            if not r.error else [r.region, r.bucket, *("?" for _ in reconcile.STATUSES), "?"]
            for r in report.regions]
    for line in cli.table(header, rows):
        print(line)
    listed = report.findings[:LISTED]
    for finding in listed:
        print(f"  {finding.describe()}")
    if len(report.findings) > LISTED:
        print(f"  ... and {len(report.findings) - LISTED} more")
    print(f"table replicas: {report.sampled} keys compared, {len(report.replica_differences)} difference(s)")
    for line in report.replica_differences:
        print(f"  {line}")


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    since, until = reconcile.window(args.since, args.until)
    env = options.environment(args)
    options.require_deployed(env)
    report = reconcile.run(env, since, until, sample=args.sample, prefix=args.prefix)
    print_report(report)
    found = report.discrepancies
    if args.backfill:
        plans = reconcile.backfill_plan(report)
        if args.dry_run:
            for p in plans:
                print(f"would backfill: {p.describe()}")
            print(f"dry run: {len(plans)} event(s) not sent")
        else:
            sent = reconcile.backfill(env, plans,
                                      lambda p: print(f"backfilled: {p.describe()} (was {p.finding.status})"))
            queues = ", ".join(sorted({p.region for p in plans})) or "no queue"
            print(f"backfill: {sent} file(s) sent to the ingest queue of {queues}; run reconcile again once they "
                  f"are processed")
            found = report.remaining({p.finding.ledger_id for p in plans})
    if found:
        print(f"reconcile: {len(found)} discrepancy(ies)")
        return options.FAILED
    print("reconcile: no discrepancy")
    return 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(options.guarded(lambda a: main(a, prog), prog), argv, prog=prog)
