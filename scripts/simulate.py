"""Run the whole pipeline locally on the AWS emulator (moto): deploy, upload files, process, report.

    python scripts/simulate.py [--env ENV] [--endpoint-url URL] [--log FILE] [FILES or DIRS ...]

Deploys the environment's templates to the emulator (in this process, or a running
``python -m tap_templates.local.emulator -p PORT`` with --endpoint-url) with the deploy code used for AWS, uploads
the files (default: samples/) to the primary ingestion bucket, processes the queue as the Lambda event source
mapping would, replicates to the secondaries, and prints a table per file and per region.

Exit codes: 0 every input record is accounted for (stored as processed or rejected, or its whole file in the
DLQ), 1 some are not, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from tap_templates import cli, config
from tap_templates.local import simulation

ROOT = Path(__file__).resolve().parent.parent


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="simulate.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path, metavar="FILES or DIRS",
                   help="files to upload, or directories of them (default: samples/)")
    p.add_argument("--env", default="dev", help="environment (config/ENV.toml); default dev")
    p.add_argument("--config", type=Path, metavar="FILE", help="config file instead of config/ENV.toml")
    p.add_argument("--endpoint-url", metavar="URL", help="a running emulator server instead of the in-process one")
    p.add_argument("--log", type=Path, metavar="FILE", help="write the function's log lines here "
                   "(default: a file in the temporary directory, named at the end)")
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


def table(rows: Sequence[Sequence[str]], out: TextIO, right: Sequence[int] = ()) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip(), file=out)


def print_files(result: simulation.RunResult, out: TextIO) -> None:
    rows = [("file", "records", "processed", "rejected", "status", "DLQ reason", "note")]
    for a in result.files:
        f = a.file
        note = a.note if a.unaccounted is None or not a.note else f"UNACCOUNTED {a.unaccounted}: {a.note}"
        if not a.input.notified:
            note = "; ".join(filter(None, [note, "event sent by the simulation (the bucket's filter skips this "
                                                 "suffix)"]))
        rows.append((a.input.key, "-" if a.input.expected is None else str(a.input.expected),
                     str(f.processed) if f else "-", str(f.rejected) if f else "-",
                     f.status if f else "NOT DELIVERED", (f.dlq_reason or "") if f else "", note))
    table(rows, out, right=(1, 2, 3))


def print_regions(result: simulation.RunResult, out: TextIO) -> None:
    rows = [("region", "role", "event source", "queue", "DLQ", "processed", "rejected", "files in ledger")]
    rows += [(r.region, r.role, r.mapping_state, str(r.queue), str(r.dead_letters), str(r.processed),
              str(r.rejected), str(r.ledger_files)) for r in result.regions]
    table(rows, out, right=(3, 4, 5, 6, 7))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = config.load_config(args.env, args.config)
    inputs = simulation.collect_inputs(args.paths or [ROOT / "samples"])
    log = args.log or Path(tempfile.mkdtemp(prefix="tap-simulate-")) / "function.log"
    warnings.filterwarnings("ignore", message="Tried to parse AWS")  # moto: types it skips (see emulator.py)
    logging.getLogger("moto").setLevel(logging.ERROR)
    started = time.monotonic()
    where = args.endpoint_url or "the in-process emulator"
    print(f"deploying {cfg.project}-{cfg.environment} to {where}: {', '.join(cfg.regions)}")
    with simulation.start(cfg, args.endpoint_url) as pipeline:
        print(f"deployed in {time.monotonic() - started:.1f} s; uploading {len(inputs)} file(s) to "
              f"{pipeline.bucket(cfg.primary_region)}")
        with stdout_to(log):
            result = simulation.run(pipeline, inputs)
    d = result.drain
    print(f"{cfg.primary_region}: {d.invocations} invocation(s), {d.messages_received} message(s) received, "
          f"{d.messages_retried} retried, {d.messages_left} left in the queue; {result.replicated} object(s) "
          f"replicated to {', '.join(cfg.secondary_regions)}\n")
    print_files(result, sys.stdout)
    print()
    print_regions(result, sys.stdout)
    print("(queue: notifications waiting; a passive secondary keeps its replicas' until a failover enables it)")
    done = [a for a in result.files if a.file and a.file.status == "COMPLETED"]
    failed = [a for a in result.files if a.file and a.file.status in ("FAILED", "DEAD_LETTERED")]
    print(f"\ntotal: {len(result.files)} file(s); {len(done)} completed with "
          f"{sum(a.input.expected or 0 for a in done)} record(s): {sum(a.file.processed for a in done)} processed, "
          f"{sum(a.file.rejected for a in done)} rejected; {len(failed)} failed whole (DLQ), after writing "
          f"{sum(a.file.records for a in failed)} item(s); unaccounted records: {result.unaccounted}")
    print(f"function log: {log}")
    return 0 if result.unaccounted == 0 else 1


if __name__ == "__main__":
    sys.exit(cli.run(main, prog="simulate.py"))
