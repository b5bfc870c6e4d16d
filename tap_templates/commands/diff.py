"""Preview what a change does to each environment's templates: resources added, removed, changed (with their
properties), which changes replace a resource, and the IAM and network changes that widen access.

    python scripts/diff.py --env dev --against origin/main                 # this code against a git ref
    python scripts/diff.py --all --against build-before/ --format markdown  # against a folder of renders
    python scripts/diff.py --env prod --deployed [--profile P]              # against the deployed StackSets

Exit codes: 0 the preview was printed, 1 AWS refused a call, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from tap_templates import cli, config
from tap_templates.deploy.aws import connect
from tap_templates.errors import ConfigError
from tap_templates.preview import report, sources
from tap_templates.render import render

PROG = "diff.py"
ROOT = Path(__file__).resolve().parents[2]  # the checkout whose code renders "this code"


def parser(prog: str = PROG) -> cli.ArgumentParser:
    """The command's options (also what ``tap completion`` offers)."""
    parser = cli.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_environment_options(parser, "config file for this code's side (one --env)")
    base = parser.add_mutually_exclusive_group(required=True)
    base.add_argument("--against", metavar="REF|DIR",
                      help="the base: a git ref (rendered with its own code) or a folder of renders like build/")
    base.add_argument("--deployed", action="store_true", help="the base: each region's StackSet as deployed")
    parser.add_argument("--head", type=Path, metavar="DIR",
                        help="compare this folder of renders instead of what this code renders")
    parser.add_argument("--format", choices=report.FORMATS, default="text", help="text (default), markdown, json")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the preview here instead of stdout")
    parser.add_argument("--endpoint-url", metavar="URL", help="with --deployed: send AWS calls here (an emulator)")
    parser.add_argument("--profile", help="with --deployed: AWS profile to use")
    return parser


def parse_args(argv: Sequence[str] | None, prog: str = PROG) -> argparse.Namespace:
    arguments = parser(prog)
    args = arguments.parse_args(argv)
    if args.head and args.config:
        arguments.error("--head and --config exclude each other")
    args.envs = cli.chosen_environments(arguments, args)
    return args


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parse_args(argv, prog)
    configs = [config.load_config(env, args.config) for env in args.envs]
    head = sources.directory(args.head, args.envs) if args.head else \
        sources.rendered([render(cfg) for cfg in configs], configs)
    if args.deployed:
        try:
            sides = [sources.deployed(cfg, connect(cfg.primary_region, args.profile, args.endpoint_url))
                     for cfg in configs]
        except (ClientError, BotoCoreError) as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return cli.FAILED
        base = sources.Side(", ".join(s.label for s in sides), {k: v for s in sides for k, v in s.templates.items()},
                            {k: v for s in sides for k, v in s.stack_sets.items()},
                            {k: v for s in sides for k, v in (s.parameters or {}).items()})
    elif Path(args.against).is_dir():
        base = sources.directory(Path(args.against), args.envs)
    else:
        base = sources.git_ref(args.against, args.envs, ROOT)
    changes = sources.compare_sides(base, head, args.envs, same_parameters=args.deployed)
    title = f"Change preview: {base.label} -> {head.label}"
    text = report.render(changes, args.format, title)
    if args.output:
        if args.output.is_dir():
            raise ConfigError(f"--output {args.output} is a folder; name a file")
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(lambda a: main(a, prog), argv, prog=prog)
