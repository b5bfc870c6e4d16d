"""What an environment costs a month, and where it breaks first: tap estimate --records-per-second R [R ...].

Renders the environment, runs the handler on a generated mix with AWS answered locally to measure what it
writes, and prices the month from tap_templates/capacity/prices.json (see tap_templates/capacity/).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tap_templates import cli, config
from tap_templates.capacity import report
from tap_templates.capacity.estimate import Options, estimate, to_json
from tap_templates.capacity.measure import MeasurementError

PROG = "estimate.py"


def _rate(text: str) -> float:
    value = float(text)
    if not 0 < value <= 100_000_000:
        raise ValueError(text)
    return value


def parser(prog: str = PROG) -> cli.ArgumentParser:
    """The command's options (also what ``tap completion`` offers)."""
    parser = cli.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--records-per-second", type=_rate, nargs="+", required=True, metavar="R",
                        help="sustained records per second (one or more rates)")
    parser.add_argument("--bytes", type=int, default=300, metavar="B",
                        help="mean size of a valid input record in bytes (default 300)")
    parser.add_argument("--file-mb", type=float, default=10.0, help="size of the arriving files in MB (default 10)")
    parser.add_argument("--rejected-percent", type=float, default=1.0, help="share of rejected records (default 1)")
    parser.add_argument("--env", default="dev", help="environment (config/ENV.toml); default dev")
    parser.add_argument("--config", type=Path, metavar="FILE", help="config file instead of config/ENV.toml")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--details", action="store_true", help="also print every line of each month's bill")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    arguments = parser(prog)
    args = arguments.parse_args(argv)
    if not 100 <= args.bytes <= 100_000:
        arguments.error("--bytes must be between 100 and 100000")
    if not 0.01 <= args.file_mb <= 5_000_000 or not 0 <= args.rejected_percent <= 50:
        arguments.error("--file-mb must be between 0.01 and 5000000, --rejected-percent between 0 and 50")
    cfg = config.load_config(args.env, args.config)
    options = Options(rates=tuple(args.records_per_second), record_bytes=args.bytes,
                      file_bytes=int(args.file_mb * 1e6), rejected_share=args.rejected_percent / 100)
    try:
        found = estimate(cfg, options)
    except MeasurementError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return cli.FAILED
    print(json.dumps(to_json(found), indent=2, sort_keys=True) if args.json else report.text(found, args.details))
    return 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(lambda a: main(a, prog), argv, prog=prog)
