"""What every command shares: one-line errors and exit codes, plain-text tables, the confirmation prompt and
the progress of long AWS operations.

Exit codes are the same for every command: 0 done (or nothing wrong found), 1 an operation failed, a
discrepancy was found or the user answered no to a confirmation, 2 bad input as one line (``ConfigError`` and
argparse's own errors). Anything else is a bug and keeps its traceback.

Output is plain text that reads the same in a terminal and in a CI log: no colours, no box drawing; a live
status line only where the output is a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, Protocol, TextIO

from tap_templates import config
from tap_templates.errors import ConfigError

FAILED = 1
CANCELLED = 1  # the user said no: nothing was changed, and a script running the command must not go on
USAGE_ERROR = 2
INTERRUPTED = 130

# How messages name another command: ``tap deploy`` once the installed ``tap`` runs, else the script.
_STYLE = {"tap": False}


def use_tap_names() -> None:
    """Called by ``tap``: every message that names a command names the installed one."""
    _STYLE["tap"] = True


def command(name: str) -> str:
    """``tap deploy`` or ``python scripts/deploy.py``, whichever the user is running."""
    return f"tap {name}" if _STYLE["tap"] else f"python scripts/{name}.py"


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None,
        prog: str | None = None) -> int:
    try:
        return main(argv)
    except ConfigError as exc:
        print(f"{prog or sys.argv[0]}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


# --- paths the user names -----------------------------------------------------------------------------------


def add_environment_options(parser: argparse.ArgumentParser, config_help: str) -> None:
    """``--env`` (repeatable), ``--all`` and ``--config`` of the commands that take several environments (render,
    diff), declared once with ``chosen_environments`` that reads them."""
    parser.add_argument("--env", action="append", dest="envs", metavar="ENV",
                        help="environment (config/ENV.toml here, else the shipped one); repeatable; default dev")
    parser.add_argument("--all", action="store_true",
                        help="every environment (config/*.toml here and the shipped ones)")
    parser.add_argument("--config", type=Path, metavar="FILE", help=config_help)


def chosen_environments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The environments of ``add_environment_options``: one rule for every command that takes them, so ``--all``
    means the same environments everywhere (the working directory's and the shipped ones)."""
    if args.all and args.envs:
        parser.error("--all and --env exclude each other")
    if args.config and (args.all or len(args.envs or []) > 1):
        parser.error("--config applies to a single --env")
    return config.environments() if args.all else args.envs or ["dev"]


def writable_folder(path: Path, option: str) -> Path:
    """Create the folder now (with its parents), so a path under a file or on a read-only file system is one
    line before any work, not a traceback after it."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".tap-write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create or write the folder ({exc.strerror or exc})") from None
    return path


def writable_file(path: Path, option: str) -> Path:
    """Check that the file can be written, before the work that produces it; a file this check had to create
    is removed again."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder: name a file")
    if not path.parent.is_dir():
        raise ConfigError(f"{option} {path}: the folder {path.parent} does not exist")
    existed = path.exists()
    try:
        with path.open("a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write it ({exc.strerror or exc})") from None
    return path


# --- tables -----------------------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, trailing blanks removed."""
    everything = [list(header), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in everything]


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``2.0 d``: the unit a person would say."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# --- confirmation -------------------------------------------------------------------------------------------------


def require_terminal(yes: bool, what: str, dry_run: bool = False) -> None:
    """Before any AWS call: a change that needs confirming cannot run unattended without ``--yes``."""
    if not (yes or dry_run or sys.stdin.isatty()):
        raise ConfigError(f"{what}: no terminal to ask for confirmation on; pass --yes")


def confirm(question: str, expected: str) -> bool:
    """Ask on the terminal; True only when the answer is ``expected`` (a typed name for destructive changes)."""
    if not sys.stdin.isatty():
        raise ConfigError(f"{question.rstrip(': ')}: no terminal to ask on; pass --yes")
    return input(question).strip() == expected


# --- progress -----------------------------------------------------------------------------------------------------


class Progress(Protocol):
    """What a long operation reports as it goes (a StackSet operation's ``OperationProgress``)."""

    @property
    def stack_set(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def done(self) -> bool: ...


class StatusLine:
    """One live line per operation on a terminal; one line per status change elsewhere (CI logs)."""

    def __init__(self, out: TextIO, only_when_done: bool = False) -> None:
        self.out, self.live, self.last, self.only_when_done = out, out.isatty(), "", only_when_done

    def __call__(self, progress: Progress) -> None:
        text = f"  {progress.stack_set}: {progress.action} {progress.status} ({progress.elapsed:.0f} s)"
        if self.only_when_done and not progress.done:
            return
        if self.live:
            self.out.write("\r\033[K" + text + ("\n" if progress.done else ""))
            self.out.flush()
        elif progress.status != self.last or progress.done:
            print(text, file=self.out)
        self.last = "" if progress.done else progress.status
