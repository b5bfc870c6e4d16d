"""Validation and normalisation of one record: pure functions, no I/O.

A record is a JSON object with ``id`` (non-empty string), ``dataType`` (a type with a schema) and
``timestamp`` (ISO 8601 with a UTC offset, or epoch seconds), plus the fields its type's schema allows.
``check`` returns either ``Accepted`` (the item key, its normalised UTC timestamp, and the fields already
converted to DynamoDB attribute values) or ``Rejected`` (every problem found, as ``(field, message)``).

Fields become DynamoDB attribute values (``attributes``) in the same walk that checks them, because DynamoDB
refuses what JSON allows (numbers it cannot store exactly, empty attribute names, deep nesting): such a
record is rejected, never sent.

The hot path (``parse_line`` + ``check``) is tuned: orjson to parse, exact type checks instead of isinstance,
no Decimal on the way to the item, and for schemas simple enough to have ``Schema.fast_fields`` code
generated per data type (``codegen``) that validates and converts in one straight run, with no error paths
built. Whatever it cannot decide on its own (a rejection, a long number, an unusual timestamp) is decided
again from scratch by ``check_slowly``, the general path, so both give the same result for every record (a
property the tests check); the fast one only skips work for the records that are obviously fine, which is
nearly all of them.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from handlers import codegen
from handlers.attributes import BadNumber, Inexact, described, fields
from handlers.items import MAX_KEY_BYTES, PROCESSED, RESERVED
from handlers.schemas import Registry, Schema
from handlers.timestamps import UTC_MILLIS, normalize_timestamp


class Accepted(NamedTuple):
    data_type: str
    record_id: str  # "<dataType>#<id>", the item's partition key
    timestamp: str  # UTC, YYYY-MM-DDTHH:MM:SS.sssZ, the item's sort key
    attributes: dict[str, Any]  # the record's fields as DynamoDB attribute values (including ``id``)


class Rejected(NamedTuple):
    errors: list[tuple[str, str]]
    claimed_id: str | None = None
    claimed_type: str | None = None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number DynamoDB can store")


def parse_line(line: bytes) -> Any:
    """Parse one JSON text; ``ValueError`` with the parser's message if it is not JSON."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses what it cannot represent exactly (e.g. big integers); the standard library decides
    # whether the text is really not JSON, and gives the familiar message if so.
    return parse_exact(line)


def parse_exact(line: bytes) -> Any:
    """Parse with the standard library, numbers exact (int and Decimal); ``ValueError`` if not JSON."""
    try:
        return json.loads(line, parse_float=Decimal, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("nesting is too deep") from None


def check(obj: Any, registry: Registry, line: bytes | None = None) -> Accepted | Rejected:
    """Validate a parsed record and convert it for the table. ``line`` is its JSON text, if it has one.

    ``Accepted.attributes`` is the whole item but its source attributes: keys, ``dataType``,
    ``processingStatus`` and the record's fields, as DynamoDB attribute values.
    """
    if type(obj) is dict:
        data_type = obj.get("dataType")
        fast = registry.fast.get(data_type) if type(data_type) is str else None
        if fast is not None:  # the generated code, into a new item: the ``Accepted`` outlives the call
            found = fast.fill(obj, 0, *fast.new_item(None))
            if found is not None:
                (record_id, timestamp), attributes = found
                return _new(Accepted, (data_type, record_id, timestamp, attributes))  # type: ignore[no-any-return]
    return check_slowly(obj, registry, line)


_new = tuple.__new__  # an ``Accepted`` from a ready tuple: a third of the cost of ``Accepted(...)``


def check_slowly(obj: Any, registry: Registry, line: bytes | None = None) -> Accepted | Rejected:
    """``check`` for every record: compiles the schema on first use, and finds every problem."""
    if type(obj) is not dict:
        return Rejected([("", f"record must be a JSON object, not {described(obj)}")])
    rid = obj.get("id")
    data_type = obj.get("dataType")
    schema = registry.compiled.get(data_type) or registry.get(data_type) if type(data_type) is str else None
    if schema is not None and data_type not in registry.fast:  # the next record of the type may go the fast way
        _compile_fast_path(registry, data_type, schema)
    try:
        timestamp = normalize_timestamp(obj.get("timestamp"))
    except ValueError as exc:
        return _rejected(obj, registry, schema, str(exc))
    if schema is None or type(rid) is not str or not rid:
        return _rejected(obj, registry, schema, timestamp)
    if not RESERVED.isdisjoint(obj):
        name = sorted(RESERVED.intersection(obj))[0]
        return Rejected([(name, "is a name the processor sets itself; rename the field")], rid, data_type)
    record_id = f"{data_type}#{rid}"
    if len(record_id) > MAX_KEY_BYTES // 4 and len(record_id.encode()) > MAX_KEY_BYTES:
        return Rejected([("id", f"is too long: the key {data_type}#id must fit {MAX_KEY_BYTES} bytes")], rid, data_type)
    if not schema.is_valid(obj):
        return _rejected(obj, registry, schema, timestamp)
    try:
        item = fields(obj, {})
    except Inexact:
        if line is not None:
            return check_slowly(parse_exact(line), registry)
        item = fields(obj, {}, floats_as_read=True)
    except BadNumber as exc:
        return Rejected([(exc.args[0], exc.args[1])], rid, data_type)
    item["recordId"] = {"S": record_id}
    item["timestamp"] = {"S": timestamp}  # replaces the record's own, as sent
    item["dataType"] = {"S": data_type}
    item["processingStatus"] = PROCESSED
    return Accepted(data_type, record_id, timestamp, item)  # type: ignore[arg-type]


def _compile_fast_path(registry: Registry, data_type: str, schema: Schema) -> None:
    """Generate the type's fast path (``None`` where its schema has none), once per registry."""
    table = schema.fast_fields
    registry.fast[data_type] = codegen.compile_fast_path(data_type, table, schema.required) if table else None


def _rejected(obj: dict[str, Any], registry: Registry, schema: Schema | None, timestamp: str) -> Rejected:
    """Every problem of a record that failed a check (the slow path: only for rejected records)."""
    errors: list[tuple[str, str]] = []
    rid = obj.get("id")
    data_type = obj.get("dataType")
    if type(rid) is not str or not rid:
        errors.append(("id", "must be a non-empty string"))
        rid = None
    if schema is None:
        errors.append(("dataType", f"unknown data type {data_type!r} (known: {', '.join(registry.known)})"))
    if not UTC_MILLIS.fullmatch(timestamp):  # normalize_timestamp's message instead of a timestamp
        errors.append(("timestamp", timestamp))
    if schema is not None:
        seen = {field for field, _ in errors}
        errors.extend(e for e in schema.errors(obj) if e[0] not in seen)
    if not errors:  # cannot happen while the checks above mirror ``check``; never reject silently
        errors.append(("", "record failed validation"))
    return Rejected(errors, rid, data_type if type(data_type) is str else None)
