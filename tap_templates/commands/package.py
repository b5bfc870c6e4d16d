"""Build the processor's Lambda zip: python scripts/package.py [--out DIR] [--cache DIR] [--lock]."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tap_templates import cli, shipped
from tap_templates.deploy.packaging import DEFAULT_OUT, LOCK_FILE, ROOT, WHEEL_CACHE, build_zip, lock
from tap_templates.errors import ConfigError

PROG = "package.py"


def parser(prog: str = PROG) -> cli.ArgumentParser:
    parser = cli.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help=f"output folder ({DEFAULT_OUT})")
    parser.add_argument("--cache", type=Path, default=WHEEL_CACHE, metavar="DIR",
                        help=f"wheel cache folder ({WHEEL_CACHE})")
    parser.add_argument("--lock", action="store_true",
                        help=f"re-resolve the handler extra of setup.cfg and rewrite {LOCK_FILE.name} first "
                             "(in a checkout)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    if args.lock and not shipped.is_checkout():
        raise ConfigError(f"--lock rewrites handlers/{LOCK_FILE.name} of the repository: run it in a checkout, "
                          "not with an installed tap-pipeline")
    cli.writable_folder(args.out, "--out")
    cli.writable_folder(args.cache, "--cache")
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
