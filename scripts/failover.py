"""Which region processes: status of every region, promote a region, fail back to the primary.

The command lives in ``tap_templates.commands.failover``; once the package is installed, ``tap failover``
runs the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.failover import run

if __name__ == "__main__":
    sys.exit(run())
