"""``tap``: every command of tap-pipeline under one name, working from any directory once installed.

    tap render|diff|deploy|simulate|failover|reconcile|redrive|package|estimate|query|reindex ARGS ...
    tap completion bash|zsh     # eval "$(tap completion bash)" in ~/.bashrc
    tap --version

Each command is imported only when it runs, so ``tap --version`` and a mistyped command answer at once.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib import metadata

from tap_templates import cli

# Command name -> (module, one line of help). The modules are the ones ``python scripts/<name>.py`` runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("tap_templates.commands.render", "render the CloudFormation templates into build/"),
    "diff": ("tap_templates.commands.diff", "preview template changes against a git ref, a folder or what is deployed"),
    "deploy": ("tap_templates.commands.deploy", "deploy, update or destroy an environment's StackSets"),
    "failover": ("tap_templates.commands.failover", "status of every region, promote, fail back"),
    "reconcile": ("tap_templates.commands.reconcile", "objects against the file ledger, replicas against each other"),
    "redrive": ("tap_templates.commands.redrive", "dead letters back to the ingest queue, by reason"),
    "simulate": ("tap_templates.commands.simulate", "the whole pipeline on the local emulator, with a report"),
    "package": ("tap_templates.commands.package", "build the handler's Lambda zip"),
    "estimate": ("tap_templates.commands.estimate", "monthly cost and the first limit at a record rate"),
    "query": ("tap_templates.commands.query", "read the records table: rejected, by data type, a record, a file"),
    "reindex": ("tap_templates.commands.reindex", "give older records their time index shard"),
    "completion": ("tap_templates.commands.completion", "shell completion: eval \"$(tap completion bash)\""),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    return "usage: tap COMMAND [ARGS ...] | tap --version\n\ncommands:\n" + "\n".join(lines) + \
        "\n\n'tap COMMAND --help' describes a command's arguments.\n"


def version() -> str:
    try:
        return metadata.version("tap-pipeline")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage(), end="", file=sys.stdout if args else sys.stderr)
        return 0 if args else cli.USAGE_ERROR
    if args[0] == "--version":
        print(f"tap {version()}")
        return 0
    if args[0] not in COMMANDS:
        print(f"tap: error: unknown command {args[0]!r}; choose from {', '.join(COMMANDS)} (see tap --help)",
              file=sys.stderr)
        return cli.USAGE_ERROR
    cli.use_tap_names()
    module = importlib.import_module(COMMANDS[args[0]][0])
    return int(module.run(args[1:], prog=f"tap {args[0]}"))


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
