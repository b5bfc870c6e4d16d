"""What each patch takes from moto, checked as it is taken.

A patch replaces or wraps a moto attribute by name, and a wrapper calls the original with the parameters it
had when the patch was written. When moto renames the attribute, moves the module or changes the signature,
the patch would fail deep inside a deploy, or worse, apply to nothing and let the gap come back unnoticed.
``Patch.require`` stops the emulator at start instead, with one line naming the installed moto, the patch
and what is missing.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any, NoReturn

from tap_templates.errors import ConfigError

# The range setup.cfg pins for the local extra (a test checks that the two agree): every patch was checked
# against these versions.
SUPPORTED_MOTO = ">=5.2.1,<5.3"


class EmulatorError(ConfigError):
    """The installed moto lacks what a patch needs; the fix is installing a supported version."""


def moto_version() -> str:
    try:
        return metadata.version("moto")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _name(owner: Any) -> str:
    if isinstance(owner, ModuleType):
        return owner.__name__
    return f"{owner.__module__}.{owner.__qualname__}"


@dataclass(frozen=True)
class Patch:
    """One fix to moto, by the name its error message gives."""

    name: str

    def fail(self, reason: str) -> NoReturn:
        raise EmulatorError(f"moto {moto_version()}: patch {self.name!r} no longer applies ({reason}); "
                            f"this project supports moto {SUPPORTED_MOTO}")

    def module(self, name: str) -> ModuleType:
        try:
            return importlib.import_module(name)
        except ImportError:
            self.fail(f"there is no module {name}")

    def require(self, owner: Any, attribute: str, parameters: Sequence[str] | None = None) -> Any:
        """``owner.attribute`` (of a module or a class). With ``parameters``: what the patch wraps or
        replaces, so its parameters must be exactly these, by name and in order (as ``inspect.signature``
        lists them: ``self`` included for a plain function of a class, ``cls`` left out of a classmethod)."""
        if not hasattr(owner, attribute):
            self.fail(f"{_name(owner)} has no {attribute}")
        value = getattr(owner, attribute)
        if parameters is not None:
            found = tuple(inspect.signature(value).parameters)
            if found != tuple(parameters):
                self.fail(f"{_name(owner)}.{attribute} takes ({', '.join(found)}) instead of "
                          f"({', '.join(parameters)})")
        return value

    def require_classmethod(self, cls: type, name: str, parameters: Sequence[str]) -> Callable[..., Any]:
        """The function behind a classmethod the patch wraps (called with ``cls`` first), checked as ``require``."""
        original = getattr(self.require(cls, name, parameters), "__func__", None)
        if original is None:
            self.fail(f"{_name(cls)}.{name} is not a classmethod")
        return original
