"""Compare each region's ingestion bucket with the file ledger, and the table replicas with each other.

The command lives in ``tap_templates.commands.reconcile``; once the package is installed, ``tap reconcile``
runs the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.reconcile import run

if __name__ == "__main__":
    sys.exit(run())
