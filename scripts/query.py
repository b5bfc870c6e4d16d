"""Read the records table (the documented queries, JSON Lines out): python scripts/query.py KIND --env ENV ...

The command lives in ``tap_templates.commands.query``; once the package is installed, ``tap query`` runs the
same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.query import run

if __name__ == "__main__":
    sys.exit(run())
