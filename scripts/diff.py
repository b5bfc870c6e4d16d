"""Preview what a change does to each environment's templates: python scripts/diff.py --env ENV --against REF.

The command lives in ``tap_templates.commands.diff``; once the package is installed, ``tap diff`` runs the
same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.diff import run

if __name__ == "__main__":
    sys.exit(run())
