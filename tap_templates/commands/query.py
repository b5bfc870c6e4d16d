"""Read the records table: the documented queries, one JSON object per line on stdout.

    python scripts/query.py rejected --env ENV --since TIME [--until TIME] [--limit N] [--cursor C]
    python scripts/query.py rejected --env ENV (--file LEDGER_ID | --key KEY [--version-id V])
    python scripts/query.py data-type TYPE --env ENV --since TIME [--until TIME] [--limit N] [--cursor C]
    python scripts/query.py record TYPE ID --env ENV [--all] [--since TIME --until TIME]
    python scripts/query.py file --env ENV (--file LEDGER_ID | --key KEY [--version-id V]) [--limit N]

rejected: rejected records of a time range (their time is when their file was processed), newest first, or every
rejected record of one file. data-type: the records of one data type in a time range, newest first. record: one
record by data type and id, its newest version (--all: every version; exit 1 when there is none). file: a
file's ledger item, then its records (found by reading the file again: tap_templates/operations/file_records.py).

TIME is ISO 8601 (UTC when no zone is given) or a duration ago (30m, 2h, 7d). With --limit, a page stops after N
records and stderr says how to ask for the next one (--cursor). --region reads another replica (default: the
primary region). Exit codes: 0 done; 1 a read failed (AWS refused it, the file's object is gone or archived);
2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from tap_templates import cli
from tap_templates.errors import ConfigError
from tap_templates.operations import file_records, options, queries
from tap_templates.operations.environment import Environment, check_region
from tap_templates.operations.ledger_reads import plain
from tap_templates.operations.reconcile import parse_time

PROG = "query.py"
KINDS = ("rejected", "data-type", "record", "file")


def positive(value: str) -> int:
    if not value.isdigit() or int(value) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def parser(prog: str = PROG) -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", required=True, metavar="{" + ",".join(KINDS) + "}")
    common = options.common_options(dry_run=False)
    common.add_argument("--region", help="the replica to read (default: the primary region)")
    window = cli.ArgumentParser(add_help=False)
    window.add_argument("--since", metavar="TIME", help="start of the time range (ISO 8601 or 30m, 2h, 7d ago)")
    window.add_argument("--until", metavar="TIME", help="end of the time range (default now)")
    paging = cli.ArgumentParser(add_help=False)
    paging.add_argument("--limit", type=positive, metavar="N", help="at most N records (a page)")
    paging.add_argument("--cursor", metavar="C", help="the next page, as a --limit page's end said")
    paging.add_argument("--oldest-first", action="store_true", help="oldest first (default newest first)")
    source = cli.ArgumentParser(add_help=False)
    source.add_argument("--file", metavar="LEDGER_ID", help="a file's ledger ID (FILE#...)")
    source.add_argument("--key", help="the object key in the region's ingestion bucket (its current version)")
    source.add_argument("--version-id", metavar="V", help="with --key: that version")
    kinds.add_parser("rejected", parents=[common, window, paging, source], help="rejected records",
                     description="Rejected records of a time range, or of one file.")
    data_type = kinds.add_parser("data-type", parents=[common, window, paging], help="records of one data type",
                                 description="The records of one data type in a time range.")
    data_type.add_argument("data_type", metavar="TYPE")
    record = kinds.add_parser("record", parents=[common, window], help="one record by data type and id",
                              description="One record by data type and id: its newest version, or all.")
    record.add_argument("data_type", metavar="TYPE")
    record.add_argument("id", metavar="ID")
    record.add_argument("--all", action="store_true", help="every version (each timestamp), newest first")
    file = kinds.add_parser("file", parents=[common, source], help="a file's ledger item and its records",
                            description="A file's ledger item, then its records in file order.")
    file.add_argument("--limit", type=positive, metavar="N", help="at most N records")
    return p


def to_json(value: Any) -> Any:
    """What ``json`` cannot write of a DynamoDB item's plain values: exact numbers, sets, binary."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (bytes, bytearray)) or type(value).__name__ == "Binary":
        return base64.b64encode(bytes(getattr(value, "value", value))).decode()
    raise TypeError(f"{type(value).__name__} is not JSON")


def write(items: Iterator[dict[str, Any]]) -> int:
    count = 0
    for item in items:
        sys.stdout.write(json.dumps(plain(item), default=to_json, sort_keys=True, ensure_ascii=False) + "\n")
        count += 1
    sys.stdout.flush()
    return count


def window(args: argparse.Namespace, required: bool) -> queries.Window | None:
    if getattr(args, "since", None) is None:
        if required:
            raise ConfigError("--since is required: the time range to read (e.g. --since 2h)")
        if getattr(args, "until", None) is not None:
            raise ConfigError("--until needs --since")
        return None
    now = dt.datetime.now(dt.UTC)
    since = parse_time(args.since, "--since", now)
    until = parse_time(args.until, "--until", now) if args.until else now
    if since > until:
        raise ConfigError("--since must not be after --until")
    return queries.Window.of(since, until)


def check_source(args: argparse.Namespace, required: bool) -> None:
    """The file options, before any AWS call."""
    if args.file and args.key:
        raise ConfigError("give --file or --key, not both")
    if args.version_id and not args.key:
        raise ConfigError("--version-id goes with --key")
    if args.file and not re.fullmatch(r"FILE#[0-9a-f]{64}", args.file):
        raise ConfigError(f"--file {args.file!r} is not a ledger ID (FILE# and 64 hex digits)")
    if required and not (args.file or args.key):
        raise ConfigError("name the file: --file LEDGER_ID, or --key KEY [--version-id V]")


def source_file(args: argparse.Namespace, env: Environment, region: str) -> str | None:
    if args.key:
        return queries.file_id(env, region, args.key, args.version_id)
    return str(args.file) if args.file else None


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    if args.kind in ("rejected", "file"):
        check_source(args, required=args.kind == "file")
    span = window(args, required=args.kind == "data-type" or (args.kind == "rejected" and not (args.file or args.key)))
    env = options.environment(args, check=lambda cfg: check_region(cfg, args.region) if args.region else None)
    region = args.region or env.cfg.primary_region
    table = queries.TableQueries(env, region)
    if args.kind == "record":
        if write(iter(table.record(args.data_type, args.id, args.all, span))):
            return 0
        print(f"no record {args.data_type}#{args.id}" + (" in that time range" if span else ""), file=sys.stderr)
        return cli.FAILED
    if args.kind == "file":
        found = file_records.file_records(table, str(source_file(args, env, region)), args.limit)
        write(iter([found.ledger]))
        write(found.items)
        for note in found.notes:
            print(note, file=sys.stderr)
        print(f"{found.records} record(s) read from the file: {found.found} found, {found.other_file} overwritten by "
              f"another file since, {found.missing} not in the table (expired?)", file=sys.stderr)
        return 0
    for note in table.check_index():
        print(note, file=sys.stderr)
    newest = not args.oldest_first
    if args.kind == "rejected":
        items, cursor = table.rejected(span or queries.Window("", ""), args.limit, args.cursor,
                                       source_file(args, env, region), newest)
    else:
        assert span is not None
        items, cursor = table.data_type(args.data_type, span, args.limit, args.cursor, newest)
    count = write(items)
    if args.limit and count >= args.limit and cursor.more:
        print(f"next page: --cursor {cursor.encode()}", file=sys.stderr)
    return 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(options.guarded(lambda a: main(a, prog), prog), argv, prog=prog)
