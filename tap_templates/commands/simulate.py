"""Run the whole pipeline locally on the AWS emulator (moto): deploy, upload files, process, report.

    python scripts/simulate.py [--env ENV] [--endpoint-url URL] [--log FILE] [--output FILE] [FILES or DIRS ...]

Deploys the environment's templates to the emulator (in this process, or a running
``python -m tap_templates.local.server -p PORT`` with --endpoint-url) with the deploy code used for AWS, uploads
the files (default: samples/) to the primary ingestion bucket, processes the queue as the Lambda event source
mapping would, replicates to the secondaries, and prints a table per file (re-uploads of identical bytes
marked), the rejected records by reason and the first few of each file, and a table per region. --output
writes the same (with every rejected record) to a .jsonl or .html file.

Exit codes: 0 every input record is accounted for (stored as processed or rejected, or its whole file in the
DLQ), 1 some are not, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from tap_templates import cli, config, shipped
from tap_templates.deploy import stacksets
from tap_templates.errors import ConfigError
from tap_templates.local import output, pipeline, report, simulate
from tap_templates.local.inputs import collect_inputs

PROG = "simulate.py"
# The emulator and what the handler imports (the ``local`` extra): checked before anything is deployed.
LOCAL_NEEDS = ("moto", "aws_lambda_powertools", "fastjsonschema", "orjson", "ijson")
SAMPLES = shipped.folder("samples")


def parser(prog: str = PROG) -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog=prog, description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path, metavar="FILES or DIRS",
                   help=f"files to upload, or directories of them (default: the shipped samples, {SAMPLES})")
    p.add_argument("--env", default="dev", help="environment (config/ENV.toml); default dev")
    p.add_argument("--config", type=Path, metavar="FILE", help="config file instead of config/ENV.toml")
    p.add_argument("--endpoint-url", metavar="URL", help="a running emulator server instead of the in-process one")
    p.add_argument("--log", type=Path, metavar="FILE", help="write the function's log lines here "
                   "(default: a file in the temporary directory, named at the end)")
    p.add_argument("--output", type=Path, metavar="FILE",
                   help="also write the run's tables and every rejected record to FILE: .jsonl or .html")
    return p


@contextlib.contextmanager
def stdout_to(path: Path) -> Iterator[None]:
    """The function's log lines and metrics go to stdout (as in Lambda): send them to a file at the file
    descriptor level, so that Powertools' handler, bound to stdout at import, follows."""
    sys.stdout.flush()
    saved = os.dup(1)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    missing = [name for name in LOCAL_NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"the local simulation needs {', '.join(missing)}: pip install 'tap-pipeline[local]'")
    cfg = config.load_config(args.env, args.config)
    inputs = collect_inputs(args.paths or [SAMPLES])
    if args.log:  # checked now, not after the deploy
        cli.writable_file(args.log, "--log")
    if args.output:
        cli.writable_file(args.output, "--output")
        output.output_format(args.output)
    log = args.log or Path(tempfile.mkdtemp(prefix="tap-simulate-")) / "function.log"
    warnings.filterwarnings("ignore", message="Tried to parse AWS")  # moto: types it skips (see local/skipped.py)
    logging.getLogger("moto").setLevel(logging.ERROR)
    started = time.monotonic()
    where = args.endpoint_url or "the in-process emulator"
    print(f"deploying {cfg.project}-{cfg.environment} to {where}: {', '.join(cfg.regions)}")
    try:
        with pipeline.start(cfg, args.endpoint_url) as local:
            print(f"deployed in {time.monotonic() - started:.1f} s; uploading {len(inputs)} file(s) to "
                  f"{local.bucket(cfg.primary_region)}")
            with stdout_to(log):
                result = simulate.run(local, inputs)
    except stacksets.OperationFailed as exc:
        print(f"{prog}: error: the deploy to the emulator failed: {exc.lines[0]}", *exc.lines[1:], sep="\n",
              file=sys.stderr)
        return cli.FAILED
    report.print_run(cfg, result, sys.stdout)
    print(f"function log: {log}")
    if args.output:
        output.write(args.output, cfg, result)
        print(f"tables written to {args.output}")
    return 0 if result.unaccounted == 0 else 1


def run(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    return cli.run(lambda a: main(a, prog), argv, prog=prog)
