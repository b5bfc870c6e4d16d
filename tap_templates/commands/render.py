"""Render the pipeline's CloudFormation templates: python scripts/render.py [--env ENV] [--check] [--graph]."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tap_templates import cli, config
from tap_templates.errors import ConfigError
from tap_templates.render import differences, render, write, write_graphs

PROG = "render.py"


def parser(prog: str = PROG) -> cli.ArgumentParser:
    parser = cli.ArgumentParser(prog=prog, description=__doc__)
    cli.add_environment_options(parser, "config file to use instead of config/ENV.toml")
    parser.add_argument("--out", type=Path, default=Path("build"), metavar="DIR", help="output folder (build)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when the files in --out differ from what the code renders")
    parser.add_argument("--graph", action="store_true",
                        help="also write a picture of each region: <region>.svg and <region>.mmd (Mermaid)")
    return parser


def parse_args(argv: Sequence[str] | None, prog: str = PROG) -> argparse.Namespace:
    parser_ = parser(prog)
    args = parser_.parse_args(argv)
    if args.graph and args.check:
        parser_.error("--graph writes files and --check writes none: use one of them")
    args.envs = cli.chosen_environments(parser_, args)
    return args


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parse_args(argv, prog)
    configs = [config.load_config(env, args.config) for env in args.envs]
    if args.check:
        if args.out.exists() and not args.out.is_dir():
            raise ConfigError(f"--out {args.out} exists and is not a folder")
    else:
        cli.writable_folder(args.out, "--out")
    stale: list[str] = []
    print(f"{'env':<8} {'region':<16} {'role':<10} {'resources':>9} {'bytes':>8}")
    for cfg in configs:
        env = cfg.environment
        rendering = render(cfg)
        for t in rendering.templates:
            print(f"{env:<8} {t.region:<16} {t.role:<10} {t.resources:>9} {len(t.body):>8}")
        if args.check:
            stale += [f"{args.out / env / name}" for name in differences(rendering, args.out)]
        else:
            write(rendering, args.out)
        if args.graph:
            for path in write_graphs(rendering, args.out):
                print(f"graph    {path}")
    if stale:
        print("out of date (run python scripts/render.py --all and commit build/):", file=sys.stderr)
        for name in stale:
            print(f"  {name}", file=sys.stderr)
        return 1
    print("build/ is up to date" if args.check else f"wrote {args.out}/")
    return 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(lambda a: main(a, prog), argv, prog=prog)
