"""Deploy the rendered templates as CloudFormation StackSets, one per region, secondaries first.

    python scripts/deploy.py --env ENV [--accounts ID ...] [--endpoint-url URL] [--dry-run] [--code-zip PATH] [--yes]
    python scripts/deploy.py roles --env ENV [--administrator-account ID]
    python scripts/deploy.py destroy --env ENV [--yes]
    python scripts/deploy.py smoke --env ENV [--timeout SECONDS]
    python scripts/deploy.py drift --env ENV

Exit codes: 0 done (or nothing to do), 1 an AWS operation failed, the deploy would replace or remove a data
resource not named by --allow-replacement, the smoke check failed, or drift was found; 2 bad input (one line
on stderr).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from tap_templates import cli, config
from tap_templates.deploy import artifacts, destroy, drift, manifest, plan, preflight, smoke, stacksets, targets
from tap_templates.deploy.aws import Aws, connect
from tap_templates.errors import ConfigError
from tap_templates.preview import gate, report, sources
from tap_templates.render import render

COMMANDS = ("deploy", "roles", "destroy", "smoke", "drift")
BUILD_DIR = Path("build")  # where render.py writes by default, relative to where the command runs


def account_id(value: str) -> str:
    try:
        return targets.check_account_id(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


PROG = "deploy.py"


def parser_for(command: str, prog: str = PROG) -> cli.ArgumentParser:
    parser = cli.ArgumentParser(prog=prog if command == "deploy" else f"{prog} {command}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev", help="environment (config/ENV.toml); default dev")
    parser.add_argument("--config", type=Path, metavar="FILE", help="config file instead of config/ENV.toml")
    parser.add_argument("--endpoint-url", metavar="URL", help="send every AWS call here (an emulator)")
    parser.add_argument("--profile", help="AWS profile to use")
    if command in ("deploy", "destroy"):
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    if command == "deploy":
        parser.add_argument("--accounts", nargs="+", type=account_id, default=[], metavar="ID",
                            help="target accounts (self-managed); default [stacksets] accounts, else this account")
        parser.add_argument("--organizational-units", nargs="+", default=[], metavar="OU",
                            help="target OUs (service-managed); default [stacksets] organizational_units")
        parser.add_argument("--code-zip", type=Path, metavar="PATH", help="prebuilt handler zip to deploy")
        parser.add_argument("--dry-run", action="store_true",
                            help="print what would change (the change preview); change nothing")
        parser.add_argument("--smoke", action="store_true",
                            help="run the smoke check after the deploy (deploy.py smoke); exit 1 if it fails")
        parser.add_argument("--allow-replacement", action="append", default=[], metavar="NAME",
                            help="let this deploy replace or remove the data resource NAME (a logical ID, e.g. "
                                 "IngestQueue); repeat for each one the preview lists")
    if command in ("smoke", "deploy"):
        parser.add_argument("--timeout", type=float, default=smoke.DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS",
                            help=f"how long to wait for the canary file (default {smoke.DEFAULT_TIMEOUT_SECONDS:.0f})")
    if command == "roles":
        parser.add_argument("--administrator-account", type=account_id, metavar="ID",
                            help="account that runs deploy.py, when it is not this one")
    return parser


def print_summary(rows: Sequence[stacksets.SummaryRow], out: TextIO) -> None:
    if not rows:
        print("no StackSet instances", file=out)
        return
    header = ("StackSet", "Region", "Account", "Status", "Detail", "Outputs")
    for line in cli.table(header, [(r.stack_set, r.region, r.account, r.status, r.detailed_status,
                                    str(len(r.outputs))) for r in rows]):
        print(line, file=out)
    for line in stacksets.per_account(rows):
        print(line, file=out)
    for r in rows:
        if r.reason:
            print(f"{r.stack_set} {r.account}: {r.reason}", file=out)
        if r.outputs:
            print(f"outputs of {r.stack_set} in {r.account}:", file=out)
            width = max(map(len, r.outputs))
            for key, value in sorted(r.outputs.items()):
                print(f"  {key.ljust(width)}  {value}", file=out)


def run_deploy(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws) -> int:
    rendering = render(cfg)
    for note in manifest.check_manifest(cfg, rendering, None if args.config or not BUILD_DIR.is_dir() else BUILD_DIR):
        print(note)
    chosen = targets.targets(cfg, aws.account, args.accounts, args.organizational_units)
    checked = preflight.run(cfg, aws, chosen, rendering)
    for line in checked.notes:
        print(line)
    for line in checked.problems:
        print(line, file=sys.stderr)
    if checked.problems:
        return 2
    plan.check_roles(cfg, aws, chosen)
    with tempfile.TemporaryDirectory() as work:
        zip_path, code_sha = artifacts.load_code_zip(args.code_zip, Path(work))
        code = zip_path.read_bytes()
    print(f"account {aws.account}; targets: {', '.join(chosen.accounts or chosen.organizational_units)}; "
          f"code {code_sha[:12]}")
    plans = plan.plan(cfg, aws, rendering, code_sha, chosen)
    for p in plans:
        for line in p.describe():
            print(line)
    changes = sources.planned(cfg, plans)
    print(*report.text(changes, "change preview (deployed -> this deploy):"), sep="\n")
    for line in drift.warnings(cfg, aws):
        print(line)
    blocked = gate.refused(changes, args.allow_replacement)
    for d in blocked:
        print(f"blocked: {d.describe()}")
    if args.dry_run:
        print("dry run: nothing was changed" + ("; the deploy would be refused (see blocked above)" if blocked else ""))
        return cli.FAILED if blocked else 0
    if blocked:
        raise gate.Refused(gate.refusal(blocked))
    who = artifacts.readers(aws, chosen)
    for p in plans:
        print(f"artifacts {p.region}: " + "; ".join(artifacts.upload_artifacts(aws, p.where, p.template, code, who)))
    if all(p.up_to_date for p in plans):
        print("nothing to deploy: every StackSet and instance is up to date")
    else:
        if not args.yes and sys.stdin.isatty() and not cli.confirm("apply these changes? [y/N] ", "y"):
            print("cancelled")
            return 0
        progress = cli.StatusLine(sys.stdout)
        for p in plans:
            stacksets.apply(cfg, aws, p, progress)
    print_summary(stacksets.summary(cfg, aws), sys.stdout)
    return run_smoke(args, cfg, aws) if args.smoke else 0


def run_roles(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws) -> int:
    rendering = render(cfg)
    status = stacksets.deploy_roles(cfg, aws, rendering.roles, args.administrator_account or "")
    print(f"{cfg.project}-{cfg.environment} StackSet roles in {aws.account}: {status}")
    return 0


def run_destroy(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws) -> int:
    names = ", ".join(destroy.stack_set_names(cfg))
    if not args.yes and not cli.confirm(f"destroy {names} in every account? type the environment name "
                                    f"({cfg.environment}) to confirm: ", cfg.environment):
        print("cancelled")
        return 0
    removed, kept = destroy.destroy(cfg, aws, cli.StatusLine(sys.stdout))
    for line in removed:
        print(line)
    if kept:
        print("retained (DeletionPolicy Retain: data outlives the stacks; delete by hand once it is not needed):")
        for r in kept:
            print(f"  {r.region}  {r.account}  {r.resource_type}  {r.name}")
    print("also kept: the artifacts bucket of each region (code and templates)")
    return 0


def run_drift(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws) -> int:
    found = drift.detect(cfg, aws, cli.StatusLine(sys.stdout))
    for line in drift.describe(found):
        print(line)
    drifted = [d.stack_set for d in found if d.drifted]
    print(f"drifted: {', '.join(drifted)}" if drifted else "no drift")
    return cli.FAILED if drifted else 0


def run_smoke(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws) -> int:
    result = smoke.check(cfg, aws, timeout_seconds=args.timeout, on_progress=smoke.Printer(sys.stdout))
    for line in result.describe():
        print(line)
    if not result.ok:
        raise smoke.Failed(result.failed_step, f"smoke check failed at {result.failed_step}: {result.reason}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "deploy"
    args = parser_for(command, prog).parse_args(argv)
    cfg = config.load_config(args.env, args.config)
    aws = connect(cfg.primary_region, args.profile, args.endpoint_url)
    try:
        return {"deploy": run_deploy, "roles": run_roles, "destroy": run_destroy, "smoke": run_smoke,
                "drift": run_drift}[command](args, cfg, aws)
    except (gate.Refused, smoke.Failed) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except stacksets.OperationFailed as exc:
        print(*exc.lines, sep="\n", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(lambda a: main(a, prog), argv, prog=prog)
