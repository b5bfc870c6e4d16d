"""Render the pipeline's CloudFormation templates: python scripts/render.py [--env ENV] [--check].

The command lives in ``tap_templates.commands.render``; once the package is installed, ``tap render``
runs the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_templates.commands.render import run

if __name__ == "__main__":
    sys.exit(run())
