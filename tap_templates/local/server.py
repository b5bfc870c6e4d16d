"""``python -m tap_templates.local.server [-H HOST] [-p PORT]``: moto's server with ``patch_moto`` applied.

Everything else is moto's own ``moto_server`` (its options, ``/moto-api/reset``, its dashboard). A moto the
patches no longer fit stops it at once, with the one line ``EmulatorError`` gives, and exit code 2.
"""

from __future__ import annotations

import sys

from tap_templates.local.patches import EmulatorError, patch_moto


def main(argv: list[str] | None = None) -> int:
    try:
        patch_moto()
    except EmulatorError as exc:
        print(f"EmulatorError: {exc}", file=sys.stderr)
        return 2
    from moto import server

    server.main(argv if argv is not None else sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
