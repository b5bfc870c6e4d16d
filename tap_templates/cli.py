"""What every script shares: argument errors and user errors as one line and exit code 2, no tracebacks.

Only ``ConfigError`` (and argparse's own errors) are turned into one line: anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from tap_templates.errors import ConfigError

USAGE_ERROR = 2


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
        return 130
