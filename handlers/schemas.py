"""The JSON Schema of each data type, compiled once per container.

``schemas/<dataType>.json`` (draft-07) defines a data type; adding a file adds a type. Valid records, the
common case, take the fast path: a validator compiled by fastjsonschema, which stops at the first error.
A record that fails it is validated again by ``jsonschema``, which lists every error (field and message)
for the rejected item; that library is imported only when the first record is rejected. If it is absent,
the single fastjsonschema error is reported instead.

CSV cells are text; ``coerce_row`` converts them to the types the schema declares, so ``"21.5"`` validates
as the number a JSON file would have carried.

Faster still, for schemas as simple as the shipped ones (a closed set of properties, each constrained only by
``type``, ``minLength``/``maxLength``, ``const`` or ``enum`` of strings), ``Schema.fast_fields`` is a table
from property name to what it allows, from which ``codegen`` generates a function that validates and
converts a record in one run over its fields, without calling the validator at all. The
table only ever accepts what the full validator accepts; anything it cannot decide (another keyword, a
missing property, a value of another type) goes the way above, so the outcome of every record is the same
with or without it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from handlers.codegen import FastPath

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
MAX_ERRORS = 50

_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


_UNBUILT = object()


class Schema:
    """One data type's schema: a fast validity check, a complete error list, and CSV cell types."""

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        import fastjsonschema

        self.name = name
        self.definition = definition
        self._validate = fastjsonschema.compile(definition, use_default=False, use_formats=True)
        self._exception = fastjsonschema.JsonSchemaValueException
        self.cell_types = _cell_types(definition)
        found = fast_fields(definition)
        self.fast_fields: dict[str, FieldRule] | None = found[0] if found else None
        self.required: frozenset[str] = found[1] if found else frozenset()
        self._all_errors: Any = _UNBUILT

    def is_valid(self, record: dict[str, Any]) -> bool:
        try:
            self._validate(record)
        except self._exception:
            return False
        return True

    def errors(self, record: dict[str, Any]) -> list[tuple[str, str]]:
        """Every validation error of ``record`` as ``(field path, message)``, at most ``MAX_ERRORS``."""
        collector = self._collector()
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

    def _collector(self) -> Any:
        """jsonschema's validator of this schema (built at the first rejection), or ``None`` without it."""
        if self._all_errors is _UNBUILT:
            validator_for = _validator_for()
            self._all_errors = validator_for(self.definition)(self.definition) if validator_for else None
        return self._all_errors

    def coerce_row(self, row: dict[str, str]) -> dict[str, Any]:
        """A CSV row with each cell converted to its column's schema type; cells that do not convert stay
        text, so validation reports them with the schema's own message."""
        out: dict[str, Any] = {}
        for column, text in row.items():
            types = self.cell_types.get(column)
            out[column] = text if types is None else _coerce(text, types)
        return out


# A property's rule: the Python types of the parsed JSON it takes (exactly: ``bool`` is not ``int``),
# minLength, maxLength (``inf`` if none; both apply to strings only), and the allowed strings or ``None``.
FieldRule = tuple[frozenset[type], int, float, frozenset[str] | None]
_JSON_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}), "number": frozenset({int, float}), "integer": frozenset({int}),
    "boolean": frozenset({bool}), "null": frozenset({type(None)}), "object": frozenset({dict}),
    "array": frozenset({list}),
}
_ANY_TYPE = frozenset().union(*_JSON_TYPES.values())
_ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "examples", "default"}
_TOP_LEVEL = _ANNOTATIONS | {"type", "required", "properties", "additionalProperties"}
_PROPERTY = _ANNOTATIONS | {"type", "minLength", "maxLength", "const", "enum"}


def fast_fields(definition: Any) -> tuple[dict[str, FieldRule], frozenset[str]] | None:
    """The fast-path table of a schema and its required names, or ``None`` if the schema uses anything else.

    A closed object (``additionalProperties: false``) whose properties say only which JSON types they take,
    string lengths, and ``const``/``enum`` strings is decided by these rules exactly as the validator
    decides it. Being stricter is always safe (the validator then decides), so every rule errs that way:
    ``integer`` takes ints only (not ``1.0``), ``const``/``enum`` only strings.
    """
    if not isinstance(definition, dict) or not set(definition) <= _TOP_LEVEL:
        return None
    if definition.get("type", "object") != "object" or definition.get("additionalProperties", True) is not False:
        return None
    required = definition.get("required", [])
    properties = definition.get("properties", {})
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        return None
    if not isinstance(properties, dict) or not set(required) <= set(properties):
        return None
    table: dict[str, FieldRule] = {}
    for name, rule in properties.items():
        compiled = _field_rule(rule)
        if compiled is None:
            return None
        table[name] = compiled
    return table, frozenset(required)


def _field_rule(rule: Any) -> FieldRule | None:
    if rule is True:
        rule = {}
    if not isinstance(rule, dict) or not set(rule) <= _PROPERTY:
        return None
    declared = rule.get("type")
    if declared is None:
        types = _ANY_TYPE
    else:
        names = [declared] if isinstance(declared, str) else declared
        if not isinstance(names, list) or not all(isinstance(n, str) and n in _JSON_TYPES for n in names):
            return None
        types = frozenset().union(*(_JSON_TYPES[n] for n in names))
    allowed: frozenset[str] | None = None
    if "const" in rule or "enum" in rule:
        values = [rule["const"]] if "const" in rule else rule["enum"]
        if ("const" in rule and "enum" in rule) or not isinstance(values, list):
            return None
        if not all(type(v) is str for v in values):
            return None
        allowed = frozenset(values)
        types = types & {str}
    low, high = rule.get("minLength", 0), rule.get("maxLength", float("inf"))
    if type(low) is not int or low < 0 or not (type(high) is int or high == float("inf")):
        return None
    return types, low, high, allowed


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
def _validator_for() -> Any:
    try:
        from jsonschema.validators import validator_for
    except ImportError:
        return None
    return validator_for


class Registry:
    """Every data type with a schema file; each compiled on first use."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self._directory = directory
        self._files = {p.stem: p for p in sorted(directory.glob("*.json"))}
        self.compiled: dict[str, Schema] = {}  # the hot path reads this directly
        # data type -> its generated code (``codegen``; None where the schema has none), made when the type is
        # first seen
        self.fast: dict[str, FastPath | None] = {}
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
