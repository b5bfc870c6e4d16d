"""Build the processor's Lambda zip: python scripts/package.py [--out DIR] [--cache DIR] [--lock].

The command lives in ``tap_templates.commands.package``; once the package is installed, ``tap package``
runs the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.package import run

if __name__ == "__main__":
    sys.exit(run())
