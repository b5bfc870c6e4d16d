"""Give older record items their time index shard: python scripts/reindex.py --env ENV [--dry-run].

The command lives in ``tap_templates.commands.reindex``; once the package is installed, ``tap reindex`` runs
the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.reindex import run

if __name__ == "__main__":
    sys.exit(run())
