"""Move dead-letter messages back to the ingest queue, by the failure reason the handler recorded.

The command lives in ``tap_templates.commands.redrive``; once the package is installed, ``tap redrive``
runs the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.redrive import run

if __name__ == "__main__":
    sys.exit(run())
