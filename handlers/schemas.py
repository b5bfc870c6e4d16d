"""The JSON Schema of each data type, compiled once per container.

``schemas/<dataType>.json`` (draft-07) defines a data type; adding a file adds a type. Valid records, the
common case, take the fast path: a validator compiled by fastjsonschema, which stops at the first error.
A record that fails it is validated again by ``jsonschema``, which lists every error (field and message)
for the rejected item; that library is imported only when the first record is rejected. If it is absent,
the single fastjsonschema error is reported instead.

CSV cells are text; ``coerce_row`` converts them to the types the schema declares, so ``"21.5"`` validates
as the number a JSON file would have carried.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
MAX_ERRORS = 50

_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


class Schema:
    """One data type's schema: a fast validity check, a complete error list, and CSV cell types."""

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        import fastjsonschema

        self.name = name
        self.definition = definition
        self._validate = fastjsonschema.compile(definition, use_default=False, use_formats=True)
        self._exception = fastjsonschema.JsonSchemaValueException
        self.cell_types = _cell_types(definition)

    def is_valid(self, record: dict[str, Any]) -> bool:
        try:
            self._validate(record)
        except self._exception:
            return False
        return True

    def errors(self, record: dict[str, Any]) -> list[tuple[str, str]]:
        """Every validation error of ``record`` as ``(field path, message)``, at most ``MAX_ERRORS``."""
        collector = _collector(self.name)
        if collector is None:
            try:
                self._validate(record)
            except self._exception as exc:
                field = exc.name[5:] if exc.name.startswith("data.") else ""
                return [(field, str(exc.message))]
            return []
        found: list[tuple[str, str]] = []
        for error in sorted(collector.iter_errors(record), key=lambda e: [str(p) for p in e.absolute_path]):
            path = ".".join(str(p) for p in error.absolute_path)
            if error.validator == "required" and isinstance(error.instance, dict):
                for name in error.validator_value:
                    if name not in error.instance:
                        found.append((_join(path, name), "is required"))
            elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
                allowed = set(error.schema.get("properties", {}))
                for name in sorted(set(error.instance) - allowed):
                    found.append((_join(path, name), "is not allowed for this data type"))
            else:
                found.append((path, error.message))
            if len(found) >= MAX_ERRORS:
                break
        return found[:MAX_ERRORS]

    def coerce_row(self, row: dict[str, str]) -> dict[str, Any]:
        """A CSV row with each cell converted to its column's schema type; cells that do not convert stay
        text, so validation reports them with the schema's own message."""
        out: dict[str, Any] = {}
        for column, text in row.items():
            types = self.cell_types.get(column)
            out[column] = text if types is None else _coerce(text, types)
        return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _cell_types(definition: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    types: dict[str, tuple[str, ...]] = {}
    for name, prop in definition.get("properties", {}).items():
        declared = prop.get("type") if isinstance(prop, dict) else None
        if isinstance(declared, str):
            types[name] = (declared,)
        elif isinstance(declared, list):
            types[name] = tuple(str(t) for t in declared)
    return types


def _coerce(text: str, types: tuple[str, ...]) -> Any:
    stripped = text.strip()
    for kind in types:
        if kind == "integer" and _INTEGER.fullmatch(stripped):
            return int(stripped)
        if kind == "number" and _NUMBER.fullmatch(stripped):  # Decimal: exact, as the text says
            return int(stripped) if _INTEGER.fullmatch(stripped) else Decimal(stripped)
        if kind == "boolean" and stripped.lower() in _BOOLEANS:
            return _BOOLEANS[stripped.lower()]
        if kind in ("object", "array") and stripped[:1] in ("{", "["):
            try:
                value = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict if kind == "object" else list):
                return value
    return text


@functools.cache
def _collector(name: str) -> Any:
    try:
        from jsonschema.validators import validator_for
    except ImportError:
        return None
    definition = registry().definition(name)
    return validator_for(definition)(definition)


class Registry:
    """Every data type with a schema file; each compiled on first use."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self._directory = directory
        self._files = {p.stem: p for p in sorted(directory.glob("*.json"))}
        self.compiled: dict[str, Schema] = {}  # the hot path reads this directly
        self.known = tuple(sorted(self._files))

    def definition(self, name: str) -> dict[str, Any]:
        return orjson.loads(self._files[name].read_bytes())

    def get(self, name: str) -> Schema | None:
        """The compiled schema of data type ``name``, or ``None`` for an unknown type."""
        schema = self.compiled.get(name)
        if schema is None and name in self._files:
            schema = self.compiled[name] = Schema(name, self.definition(name))
        return schema


registry: Callable[[], Registry] = functools.cache(Registry)
