"""Where the files that ship with tap-pipeline are: the environments' configs, the sample inputs, the handler's
lock file and the wheel cache.

In a checkout (or an editable install) they are the repository's own folders, so an edit shows at once. A
regular install (``pip install .``) carries copies of ``config/`` and ``samples/`` inside the package, under
``tap_templates/shipped/`` (``setup.py`` puts them there), so every command works from any directory without
the repository.

A user's own environments are found before the shipped ones: ``--config FILE``, then ``config/<env>.toml`` in
the working directory, then the shipped ``<env>.toml`` (``tap_templates.config.config_path``).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT = PACKAGE_DIR.parent
INSTALLED = PACKAGE_DIR / "shipped"


def is_checkout() -> bool:
    """Running from the repository (``setup.cfg`` next to the package), not from an installed copy."""
    return (CHECKOUT / "setup.cfg").is_file() and (CHECKOUT / "config").is_dir()


def folder(name: str) -> Path:
    """A shipped folder (``config`` or ``samples``): the checkout's own, else the installed copy."""
    return CHECKOUT / name if is_checkout() else INSTALLED / name


def cache_dir() -> Path:
    """Downloads worth keeping between runs (the handler's wheels): ``.tmp/`` of a checkout, else the user's
    cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``), never the installed package's folder."""
    if is_checkout():
        return CHECKOUT / ".tmp"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tap-pipeline"
