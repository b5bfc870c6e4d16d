"""Deploy the rendered templates as CloudFormation StackSets, one per region, secondaries first.

The command lives in ``tap_templates.commands.deploy``; once the package is installed, ``tap deploy``
runs the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.deploy import run

if __name__ == "__main__":
    sys.exit(run())
