"""Deploy the rendered templates as CloudFormation StackSets, one per region, secondaries first.

    python scripts/deploy.py --env ENV [--accounts ID ...] [--endpoint-url URL] [--dry-run] [--code-zip PATH] [--yes]
    python scripts/deploy.py roles --env ENV [--administrator-account ID]
    python scripts/deploy.py destroy --env ENV [--yes]
    python scripts/deploy.py purge --env ENV [--artifacts] [--yes]
    python scripts/deploy.py smoke --env ENV [--timeout SECONDS]
    python scripts/deploy.py drift --env ENV

A deploy renders, checks (the pre-flight), plans (read-only) and shows the plan and the change preview, then
asks, and only then uploads the code and templates and applies the plan. Without a terminal, a deploy that
would change anything needs --yes. destroy keeps the data (buckets, table, secret, keys); purge deletes what it
kept, for good.

Exit codes: 0 done (or nothing to do); 1 an AWS operation failed, the confirmation was declined, the deploy
would replace or remove a data resource not named by --allow-replacement, the smoke check failed, or drift was
found; 2 bad input or a pre-flight problem (one line each on stderr).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from tap_templates import cli, config
from tap_templates.deploy import artifacts, destroy, drift, kept, manifest, plan, preflight, smoke, stacksets, targets
from tap_templates.deploy.aws import Aws, connect
from tap_templates.errors import ConfigError
from tap_templates.preview import gate, report, sources
from tap_templates.render import Rendering, render

COMMANDS = ("deploy", "roles", "destroy", "purge", "smoke", "drift")
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
    parser.add_argument("--env", required=True,
                        help="environment (config/ENV.toml here, else the shipped one), e.g. dev or prod")
    parser.add_argument("--config", type=Path, metavar="FILE", help="config file instead of config/ENV.toml")
    parser.add_argument("--endpoint-url", metavar="URL", help="send every AWS call here (an emulator)")
    parser.add_argument("--profile", help="AWS profile to use")
    if command in ("deploy", "destroy", "purge"):
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    if command == "purge":
        parser.add_argument("--artifacts", action="store_true",
                            help="also delete the artifacts buckets (code and templates; a deploy recreates them)")
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


def same_target(args: argparse.Namespace) -> str:
    """The options that point another command at the same environment and account, for messages."""
    return "".join(f" {flag} {value}" for flag, value in (
        ("--env", args.env), ("--config", args.config), ("--profile", args.profile),
        ("--endpoint-url", args.endpoint_url)) if value)


def confirm_changes(args: argparse.Namespace, plans: Sequence[plan.StackSetPlan]) -> bool:
    """Ask on the terminal; without one, a change needs --yes (as promote and destroy do)."""
    if args.yes:
        return True
    changing = sum(not p.up_to_date for p in plans)
    if not sys.stdin.isatty():
        raise ConfigError(f"{changing} StackSet(s) to change and no terminal to ask for confirmation on; "
                          f"pass --yes (or --dry-run to only look)")
    return cli.confirm("upload the code and templates and apply these changes? [y/N] ", "y")


def check(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws,
          rendering: Rendering) -> targets.Targets | None:
    """What AWS would refuse, before anything else: the manifest, the targets, the pre-flight (the roles among
    it). None when the pre-flight found problems (printed, one line each)."""
    for note in manifest.check_manifest(cfg, rendering, None if args.config or not BUILD_DIR.is_dir() else BUILD_DIR):
        print(note)
    chosen = targets.targets(cfg, aws.account, args.accounts, args.organizational_units)
    checked = preflight.run(cfg, aws, chosen, rendering)
    for line in checked.notes:
        print(line)
    for line in checked.problems:
        print(line, file=sys.stderr)
    return None if checked.problems else chosen


def show(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws,
         plans: Sequence[plan.StackSetPlan]) -> list[Any]:
    """The plan, the change preview and drift warnings; returns the changes the gate refuses."""
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
    return blocked


def apply(cfg: config.PipelineConfig, aws: Aws, chosen: targets.Targets, plans: Sequence[plan.StackSetPlan],
          code: bytes) -> None:
    """Upload what the changed StackSets need, then run their operations in the manifest's order."""
    who = artifacts.readers(aws, chosen)
    for p in plans:
        if not p.up_to_date:
            done = artifacts.upload_artifacts(aws, p.where, p.template, code, who)
            done += artifacts.upload_templates(aws, p.where, p.rollout.steps)
            print(f"artifacts {p.region}: " + "; ".join(done))
    progress = cli.StatusLine(sys.stdout)
    for p in plans:
        stacksets.apply(cfg, aws, p, progress)


def run_deploy(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws) -> int:
    """Render, check, plan, show, confirm, upload, apply: nothing is created before the answer."""
    rendering = render(cfg)
    chosen = check(args, cfg, aws, rendering)
    if chosen is None:
        return cli.USAGE_ERROR
    with tempfile.TemporaryDirectory() as work:
        zip_path, code_sha = artifacts.load_code_zip(args.code_zip, Path(work))
        code = zip_path.read_bytes()
    plans = plan.plan(cfg, aws, rendering, code_sha, chosen)
    in_the_way = kept.blocking(rendering, aws, plans)
    if in_the_way:
        raise kept.refusal(cfg, in_the_way, f"{cli.command('deploy')} purge{same_target(args)}")
    print(f"account {aws.account}; targets: {', '.join(chosen.accounts or chosen.organizational_units)}; "
          f"code {code_sha[:12]}")
    blocked = show(args, cfg, aws, plans)
    if args.dry_run:
        print("dry run: nothing was changed" + ("; the deploy would be refused (see blocked above)" if blocked else ""))
        return cli.FAILED if blocked else 0
    if blocked:
        raise gate.Refused(gate.refusal(blocked))
    if all(p.up_to_date for p in plans):
        print("nothing to deploy: every StackSet and instance is up to date")
    else:
        if not confirm_changes(args, plans):
            print("cancelled: nothing was uploaded or changed")
            return cli.CANCELLED
        apply(cfg, aws, chosen, plans, code)
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
        print("cancelled: nothing was changed")
        return cli.CANCELLED
    removed, retained = destroy.destroy(cfg, aws, cli.StatusLine(sys.stdout))
    for line in removed:
        print(line)
    if retained:
        print("retained (DeletionPolicy Retain: the data outlives the stacks):")
        for r in retained:
            print(f"  {r.region}  {r.account}  {r.resource_type}  {r.name}")
    print("also kept: the artifacts bucket of each region (code and templates; a later deploy reuses it)")
    if retained:
        print(f"the kept buckets, table and secret hold their names: before deploying {cfg.environment} again, "
              f"delete them and their data with `{cli.command('deploy')} purge{same_target(args)}`, or see the "
              f"README, 'Coming back after destroy', to keep the data")
    return 0


def run_purge(args: argparse.Namespace, cfg: config.PipelineConfig, aws: Aws) -> int:
    """Delete what destroy kept, with its data: only once nothing of the environment is deployed."""
    deployed = kept.still_deployed(cfg, aws)
    if deployed:
        raise ConfigError(f"{', '.join(deployed)} still deployed: purge deletes only what destroy kept; run "
                          f"`{cli.command('deploy')} destroy{same_target(args)}` first")
    found = kept.find(render(cfg), aws) + (kept.artifacts_buckets(cfg, aws) if args.artifacts else [])
    if not found:
        print(f"nothing kept of {cfg.project}-{cfg.environment} in account {aws.account}: nothing to purge")
        return 0
    foreign = [k for k in found if k.foreign]
    if foreign:
        raise ConfigError(f"{foreign[0].describe()}: purge cannot delete it with these credentials")
    print(f"purge deletes, in account {aws.account}, for good:")
    for k in found:
        print(f"  {k.describe()}")
    if not args.artifacts:
        print("(the artifacts buckets stay: a deploy reuses them; --artifacts deletes them too)")
    if not args.yes and not cli.confirm(f"type 'purge {cfg.environment}' to delete this data: ",
                                        f"purge {cfg.environment}"):
        print("cancelled: nothing was deleted")
        return cli.CANCELLED
    kept.purge(aws, found, print)
    print(f"purged: the names are free; `{cli.command('deploy')}{same_target(args)}` creates the environment again")
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
    if command in ("destroy", "purge"):
        cli.require_terminal(args.yes, f"{command} {cfg.project}-{cfg.environment}")
    aws = connect(cfg.primary_region, args.profile, args.endpoint_url)
    try:
        return {"deploy": run_deploy, "roles": run_roles, "destroy": run_destroy, "purge": run_purge,
                "smoke": run_smoke, "drift": run_drift}[command](args, cfg, aws)
    except (gate.Refused, smoke.Failed) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except stacksets.OperationFailed as exc:
        print(*exc.lines, sep="\n", file=sys.stderr)
        if any("AlreadyExists" in line for line in exc.lines):
            print(f"a name is taken: if an earlier destroy kept it, `{cli.command('deploy')} purge --env "
                  f"{cfg.environment}` with that account's credentials frees it", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(lambda a: main(a, prog), argv, prog=prog)
