"""What the three operations scripts share: their common options, the confirmation prompt and exit codes.

Exit codes, as for the deploy: 0 done (or nothing wrong found), 1 a discrepancy was found or an operation
failed (AWS refused a call, a StackSet operation failed), 2 bad input as one line (unknown environment or
region, a bad time, no credentials, nothing to do). Only ``ConfigError`` is bad input; see ``tap_templates.cli``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from tap_templates import cli
from tap_templates.config import PipelineConfig, load_config
from tap_templates.deploy import stacksets
from tap_templates.errors import ConfigError
from tap_templates.operations.environment import Environment, OperationError, Unreachable, connect

FAILED = cli.FAILED


def common_options(dry_run: bool = True) -> cli.ArgumentParser:
    """A parent parser: ``--env`` is required, so an operation never runs on an environment by default.
    Read-only commands (the queries) have no ``--dry-run``."""
    parent = cli.ArgumentParser(add_help=False)
    parent.add_argument("--env", required=True, help="environment (config/ENV.toml), e.g. dev or prod")
    parent.add_argument("--config", type=Path, metavar="FILE", help="config file instead of config/ENV.toml")
    parent.add_argument("--endpoint-url", metavar="URL", help="send every AWS call here (an emulator)")
    parent.add_argument("--profile", help="AWS profile to use")
    if dry_run:
        parent.add_argument("--dry-run", action="store_true", help="read and show what would be done; change nothing")
    return parent


def environment(args: argparse.Namespace, check: Callable[[PipelineConfig], object] | None = None,
                confirming: str | None = None) -> Environment:
    """Config, then the arguments that depend on it (``check``), then the confirmation terminal, then the
    credentials: every bad input is reported before the first AWS call."""
    cfg = load_config(args.env, args.config)
    if check is not None:
        check(cfg)
    if confirming is not None:
        cli.require_terminal(args.yes, confirming, args.dry_run)
    return connect(cfg, args.profile, args.endpoint_url)


def require_deployed(env: Environment, regions: Sequence[str] | None = None) -> None:
    """One line instead of the raw AWS errors of reading a bucket or queue that is not there (``NoSuchBucket``,
    ``NonExistentQueue``): every region named (default: at least one of the environment's) must have this
    account's stack instance. An unreachable region is not held against the environment: the tools must work
    while one is down."""
    wanted = list(regions or env.cfg.regions)
    missing: list[ConfigError] = []
    for region in wanted:
        try:
            env.instance(region)
        except Unreachable:
            continue
        except ConfigError as exc:
            missing.append(exc)
            continue
        if regions is None:
            return
    if regions is not None and missing:
        raise missing[0]
    if len(missing) == len(wanted):
        cfg = env.cfg
        raise ConfigError(f"{cfg.project}-{cfg.environment} is not deployed in account {env.account} (no stack "
                          f"instance in {', '.join(wanted)}): deploy the environment first "
                          f"({cli.command('deploy')} --env {cfg.environment})")


def guarded(main: Callable[[Sequence[str] | None], int], prog: str) -> Callable[[Sequence[str] | None], int]:
    """Failures of the operation itself are exit 1 with one line each; ``cli.run`` handles exit 2."""
    def run(argv: Sequence[str] | None) -> int:
        try:
            return main(argv)
        except OperationError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
        except stacksets.OperationFailed as exc:
            print(*(f"{prog}: error: {line}" for line in exc.lines[:1]), *exc.lines[1:], sep="\n", file=sys.stderr)
        except Unreachable as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
        except (ClientError, BotoCoreError) as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
        return FAILED
    return run
