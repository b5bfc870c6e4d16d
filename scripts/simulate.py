"""Run the whole pipeline locally on the AWS emulator (moto): deploy, upload files, process, report.

The command lives in ``tap_templates.commands.simulate``; once the package is installed, ``tap simulate``
runs the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.simulate import run

if __name__ == "__main__":
    sys.exit(run())
