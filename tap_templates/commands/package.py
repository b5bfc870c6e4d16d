"""Build the processor's Lambda zip: python scripts/package.py [--out DIR] [--cache DIR] [--lock]."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tap_templates import cli
from tap_templates.deploy.packaging import DEFAULT_OUT, LOCK_FILE, ROOT, WHEEL_CACHE, build_zip, lock
from tap_templates.errors import ConfigError

PROG = "package.py"


def parse_args(argv: Sequence[str] | None, prog: str = PROG) -> argparse.Namespace:
    parser = cli.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="output folder (dist)")
    parser.add_argument("--cache", type=Path, default=WHEEL_CACHE, metavar="DIR",
                        help="wheel cache folder (.tmp/wheels)")
    parser.add_argument("--lock", action="store_true",
                        help=f"re-resolve the handler extra of setup.cfg and rewrite {LOCK_FILE.name} first")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parse_args(argv, prog)
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} exists and is not a folder")
    if args.lock:
        pins = lock(cache=args.cache)
        print(f"locked {len(pins)} packages in {LOCK_FILE.relative_to(ROOT)}")
    path, sha256 = build_zip(args.out, args.cache)
    print(f"path    {path}")
    print(f"size    {path.stat().st_size}")
    print(f"sha256  {sha256}")
    return 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(lambda a: main(a, prog), argv, prog=prog)
