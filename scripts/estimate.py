"""What an environment costs a month and where it breaks first: python scripts/estimate.py --records-per-second R.

The command lives in ``tap_templates.commands.estimate``; once the package is installed, ``tap estimate``
runs the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.estimate import run

if __name__ == "__main__":
    sys.exit(run())
