"""Validation and normalisation of one record: pure functions, no I/O.

A record is a JSON object with ``id`` (non-empty string), ``dataType`` (a type with a schema) and
``timestamp`` (ISO 8601 with a UTC offset, or epoch seconds), plus the fields its type's schema allows.
``check`` returns either ``Accepted`` (the item key, its normalised UTC timestamp, and the fields already
converted to DynamoDB attribute values) or ``Rejected`` (every problem found, as ``(field, message)``).

Fields become DynamoDB attribute values here, in the same walk that checks them, because DynamoDB refuses
what JSON allows: numbers beyond 38 significant digits or outside 1E-130..9.9999E+125, NaN and Infinity,
empty attribute names, nesting deeper than 32 levels. Such a record is rejected, never sent.

The hot path (``parse_line`` + ``check``) is tuned: orjson to parse, exact type checks instead of isinstance,
no Decimal on the way to the item, and for schemas simple enough to have ``Schema.fast_fields`` a function
generated per data type (``compile_check``) that validates and converts in one straight run, with no error
paths built. Whatever it cannot decide on its own (a rejection, a long number, an unusual timestamp) is
decided again from scratch by ``check_slowly``, the general path, so both give the same result for every
record (a property the tests check); the fast one only skips work for the records that are obviously fine,
which is nearly all of them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from handlers.schemas import FieldRule, Registry

ENVELOPE = ("id", "dataType", "timestamp")
# Item attributes the processor sets itself; a record field with one of these names would overwrite them.
RESERVED = frozenset({
    "recordId", "processingStatus", "processedAt", "processedRegion", "expiresAt", "sourceBucket",
    "sourceKey", "sourceVersionId", "sourceFile", "sourceLine", "sourceIndex", "errors", "raw", "rawBytes",
    "rawTruncated", "claimedId", "claimedDataType",
})
MAX_KEY_BYTES = 2048  # DynamoDB's limit for a partition key value
MAX_DEPTH = 32
MAX_DIGITS = 38
_EPOCH = dt.datetime(1970, 1, 1)
_MIN_EPOCH = -62135596800  # 0001-01-01T00:00:00Z
_MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
_INT_EXACT = float(2**53)  # orjson may hand a big integer over as a float: above this, re-parse exactly
# A double's shortest repr this long (16+ characters: about 15+ digits) may be a longer decimal rounded by
# the parse, e.g. one of 39 digits, which DynamoDB refuses: the line is then re-read exactly. Shorter ones
# are taken as written: any decimal of up to 15 significant digits survives a double unchanged. (A longer
# decimal within a rounding error of a short one, such as 0.10000000000000001 for 0.1, is stored short.)
_LONG_REPR = 16
_UTC = dt.UTC
_FRACTION_OR_END = (".", "Z", "+", "-")
_PROCESSED = {"S": "PROCESSED"}
_UTC_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Accepted(NamedTuple):
    data_type: str
    record_id: str  # "<dataType>#<id>", the item's partition key
    timestamp: str  # UTC, YYYY-MM-DDTHH:MM:SS.sssZ, the item's sort key
    attributes: dict[str, Any]  # the record's fields as DynamoDB attribute values (including ``id``)


class Rejected(NamedTuple):
    errors: list[tuple[str, str]]
    claimed_id: str | None = None
    claimed_type: str | None = None


class _Inexact(Exception):
    """orjson turned a number into a float that may not be what the text said (a big integer, or a long
    fraction rounded to a double's 17 digits): the line must be parsed again, exactly."""


class BadNumber(ValueError):
    pass


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


class _Slow(Exception):
    """The fast walk met something only the general path decides (a problem, or a number to check closely)."""


def check(obj: Any, registry: Registry, line: bytes | None = None) -> Accepted | Rejected:
    """Validate a parsed record and convert it for the table. ``line`` is its JSON text, if it has one.

    ``Accepted.attributes`` is the whole item but its source attributes: keys, ``dataType``,
    ``processingStatus`` and the record's fields, as DynamoDB attribute values.
    """
    if type(obj) is dict:
        data_type = obj.get("dataType")
        fast = registry.fast.get(data_type) if type(data_type) is str else None
        if fast is not None:
            accepted = fast(obj)
            if accepted is not None:
                return accepted  # type: ignore[no-any-return]
    return check_slowly(obj, registry, line)


_MISSING = object()
_INF = float("inf")
# Per JSON type the fast path takes: its name in the generated code, the attribute type it becomes, the checks
# of a value ``v`` of that type, and the attribute's value. A float goes the fast way if its repr is short
# and has no exponent: then it is between 1e-4 and 1e16 (or 0), inside DynamoDB's range, and not a big
# integer rounded by the parse; anything else is for ``number`` to decide. Objects and arrays (``a``) are
# converted by ``_plain``.
_CONVERSIONS: dict[type, tuple[str, str, list[str], str]] = {
    str: ("str", "S", [], "v"),
    float: ("float", "N", ["n = repr(v)", 'if len(n) >= LONG or "e" in n: return None'], "n"),
    int: ("int", "N", ["n = repr(v)", "if len(n) > DIGITS: return None"], "n"),
    bool: ("bool", "BOOL", [], "v"),
    type(None): ("NONE", "NULL", [], "True"),
    dict: ("dict", "M", ["try: a = plain(v, 1)", "except (Slow, RecursionError): return None"], "a"),
    list: ("list", "L", ["try: a = plain(v, 1)", "except (Slow, RecursionError): return None"], "a"),
}
_NESTED = ("M", "L")  # ``_plain`` returns the whole attribute value of these


def compile_check(
    name: str, table: dict[str, FieldRule], required: frozenset[str]
) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """``check`` for records of data type ``name`` that are plainly valid, generated from its fast table.

    Returns two functions, or ``None`` if the type's records could never be accepted this way (no ``id``,
    ``dataType`` or ``timestamp``, or a ``dataType`` rule its own name fails):

    - ``check_fast(obj)``: the record's ``Accepted``, equal to what ``check_slowly`` returns, or ``None`` for
      anything it does not decide itself (then ``check_slowly`` does);
    - ``item_maker(position_name, tail)``, for the pipeline's JSONL loop: a function ``(obj, position)``
      returning the item's key and bytes as ``ItemFactory.accepted`` makes them from that ``Accepted`` (the
      position attribute, then the file's common attributes ``tail``), or ``None``. It keeps one item dict
      and the attribute values' dicts and refills them for every record, where ``check_fast`` makes a dozen
      new dicts per record: they never leave the function (only the bytes do), so one maker per file and
      reader, used by one thread, is safe.

    Both are Python source, a straight run of checks per property, as fastjsonschema generates validators: a
    loop over the record with table lookups per field costs more than the checks. A missing required field
    fails its type test (the placeholder is no JSON type); a field the table does not have, such as a name
    the processor sets itself, fails the final count of fields.
    """
    if not {"id", "dataType", "timestamp"} <= required:
        return None
    prefix = f"{name}#"
    id_rule, type_rule = table.get("id"), table.get("dataType")
    if id_rule is None or str not in id_rule[0] or type_rule is None or not _string_passes(name, type_rule):
        return None  # no record of the type could pass
    namespace: dict[str, Any] = {
        "MISSING": _MISSING, "plain": _plain, "Slow": _Slow, "DIGITS": MAX_DIGITS, "NONE": type(None),
        "normalize": normalize_timestamp, "new": tuple.__new__, "fromisoformat": _fromisoformat,
        "LAYOUT": _LAYOUT, "LONG": _LONG_REPR, "dumps": orjson.dumps, "Accepted": Accepted,
        "PROCESSED": _PROCESSED, "PREFIX": prefix, "NAME": name, "DATA_TYPE": {"S": name},
        "ID_LIMIT": MAX_KEY_BYTES // 4 - len(prefix),  # so the key fits 2,048 bytes whatever the characters
    }
    fields = [(n, field, rule) for n, (field, rule) in enumerate(table.items()) if field not in RESERVED]
    code = ["def check_fast(obj):"]
    code += _field_checks(fields, required, namespace, reuse=False)
    entries = [f"{field!r}: a{n}" for n, field, _ in fields if field in required]
    entries += ['"recordId": {"S": record_id}', '"processingStatus": PROCESSED']
    code.append(f"    item = {{{', '.join(entries)}}}")
    code += [f"    if a{n} is not MISSING: item[{field!r}] = a{n}" for n, field, _ in fields if field not in required]
    code.append("    if len(item) != len(obj) + 2: return None")
    code.append("    return new(Accepted, (NAME, record_id, timestamp, item))")

    code.append("def item_maker(position_name, tail):")
    values = {field: "DATA_TYPE" if field == "dataType" else f"a{n}" if _reusable(field, rule[0]) else "None"
              for n, field, rule in fields}
    code += [f'    a{n} = {{"{_reusable(field, rule[0])}": None}}' for n, field, rule in fields
             if values[field] == f"a{n}"]
    code += ['    record_key = {"S": None}', '    position_value = {"N": None}']
    entries = [f"{field!r}: {values[field]}" for _, field, _ in fields if field in required]
    entries += ['"recordId": record_key', '"processingStatus": PROCESSED', "position_name: position_value"]
    code.append(f"    item = {{{', '.join(entries)}}}")
    code.append("    def item_fast(obj, position):")
    code += [f"    {line}" for line in _field_checks(fields, required, namespace, reuse=True)]
    code.append('        record_key["S"] = record_id')
    code.append('        position_value["N"] = str(position)')
    code.append("        if len(item) != len(obj) + 3: return None")
    code.append("        return (record_id, timestamp), dumps(item)[:-1] + tail")
    code.append("    return item_fast")
    exec("\n".join(code), namespace)  # the source is built above from the schema's own table
    return namespace["check_fast"], namespace["item_maker"]


def _reusable(field: str, types: frozenset[type]) -> str | None:
    """The one attribute type a field always becomes (its dict can be refilled), or ``None``."""
    if field == "timestamp":  # stored normalized, whatever its JSON type
        return "S"
    kinds = {_CONVERSIONS[kind][1] for kind in types}
    return kinds.pop() if len(kinds) == 1 and not kinds & set(_NESTED) else None


def _field_checks(fields: list[tuple[int, str, FieldRule]], required: frozenset[str], namespace: dict[str, Any],
                  reuse: bool) -> list[str]:
    """The checks of every field, leaving ``record_id``, ``timestamp`` and the attribute values: in ``a<n>``
    (``MISSING`` for an absent optional field), or with ``reuse``, refilled into ``a<n>`` and set in ``item``."""
    code = []
    for n, field, (types, low, high, allowed) in fields:
        key, local = repr(field), f"a{n}"
        kind = _reusable(field, types) if reuse else None

        def store(attribute: str, value: str, local: str = local, kind: str | None = kind, key: str = key) -> str:
            if kind is not None:
                return f'{local}["{attribute}"] = {value}'
            nested = attribute in _NESTED
            if reuse:
                return f"item[{key}] = {value if nested else f'{{{attribute!r}: {value}}}'}"
            return f"{local} = {value if nested else f'{{{attribute!r}: {value}}}'}"

        if field == "dataType":  # only called for records of this type, whose name passes the rule (above)
            code.append("    pass" if reuse else f"    {local} = DATA_TYPE")
            continue
        code.append(f"    v = obj.get({key}, MISSING)")
        indent = "    "
        if field not in required:
            absent = f"item.pop({key}, None)" if reuse else f"{local} = MISSING"
            code.append(f"    if v is MISSING: {absent}")
            code.append("    else:")
            indent = "        "
            if kind is not None:
                code.append(f"{indent}item[{key}] = {local}")
        if field == "id":  # a non-empty string short enough for the key, and what its rule says
            code.append(f"{indent}if type(v) is not str or not v or len(v) > ID_LIMIT: return None")
            code.extend(f"{indent}{line}" for line in _string_checks(low if low > 1 else 0, high, allowed,
                                                                       f"ALLOWED{n}", namespace))
            code.append(f"{indent}{store('S', 'v')}")
            code.append(f"{indent}record_id = PREFIX + v")
            continue
        code.append(f"{indent}t = type(v)")
        branch = "if"
        for python_type, (type_name, attribute, checks, value) in _CONVERSIONS.items():
            if python_type not in types:
                continue
            code.append(f"{indent}{branch} t is {type_name}:")
            branch = "elif"
            if python_type is str:
                checks = _string_checks(low, high, allowed, f"ALLOWED{n}", namespace)
            code.extend(f"{indent}    {line}" for line in checks)
            # the timestamp is checked as its rule says, and stored normalized (below)
            code.append(f"{indent}    pass" if field == "timestamp" else f"{indent}    {store(attribute, value)}")
        code.append(f"{indent}else: return None" if branch == "elif" else f"{indent}return None")
        if field == "timestamp":  # normalize_timestamp, its commonest case inlined
            # (fromisoformat accepting it means 20:23 are the digits normalize_timestamp checks for)
            code.append(f'{indent}if t is str and len(v) == 24 and v[23] == "Z" and v[4:20:3] == LAYOUT:')
            code.append(f"{indent}    try: fromisoformat(v)")
            code.append(f"{indent}    except ValueError: return None")
            code.append(f"{indent}    timestamp = v")
            code.append(f"{indent}else:")
            code.append(f"{indent}    try: timestamp = normalize(v)")
            code.append(f"{indent}    except ValueError: return None")
            code.append(f"{indent}{store('S', 'timestamp')}")
    return code


def _string_checks(low: int, high: float, allowed: frozenset[str] | None, name: str, namespace: dict[str, Any]
                   ) -> list[str]:
    """The generated checks of a string ``v`` against a rule's lengths and allowed values."""
    checks = []
    if high != _INF:
        checks.append(f"if not {low} <= len(v) <= {int(high)}: return None")
    elif low == 1:
        checks.append("if not v: return None")
    elif low:
        checks.append(f"if len(v) < {low}: return None")
    if allowed is not None:
        namespace[name] = allowed
        checks.append(f"if v not in {name}: return None")
    return checks


def _string_passes(text: str, rule: FieldRule) -> bool:
    types, low, high, allowed = rule
    return str in types and low <= len(text) <= high and (allowed is None or text in allowed)


def _plain(value: Any, depth: int) -> dict[str, Any]:
    """``attribute`` without building the error path of every value: ``_Slow`` if anything needs one.
    Scalars inside objects and arrays, most of what they hold, are converted in the loop, not by a call."""
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise _Slow
        out = {}
        for name, item in value.items():
            if not name:
                raise _Slow
            kind = type(item)
            if kind is str:
                out[name] = {"S": item}
            elif kind is int:
                text = repr(item)
                if len(text) > MAX_DIGITS:
                    raise _Slow
                out[name] = {"N": text}
            elif kind is bool:
                out[name] = {"BOOL": item}
            else:
                out[name] = _plain(item, depth + 1)
        return {"M": out}
    if kind is list:
        if depth >= MAX_DEPTH:
            raise _Slow
        converted = []
        for item in value:
            kind = type(item)
            if kind is str:
                converted.append({"S": item})
            elif kind is int:
                text = repr(item)
                if len(text) > MAX_DIGITS:
                    raise _Slow
                converted.append({"N": text})
            else:
                converted.append(_plain(item, depth + 1))
        return {"L": converted}
    if kind is str:
        return {"S": value}
    if kind is float:
        text = repr(value)
        if len(text) < _LONG_REPR and "e" not in text:  # as in the generated check (_CONVERSIONS)
            return {"N": text}
        raise _Slow
    if kind is int:
        text = repr(value)
        if len(text) > MAX_DIGITS:
            raise _Slow
        return {"N": text}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    raise _Slow


def check_slowly(obj: Any, registry: Registry, line: bytes | None = None) -> Accepted | Rejected:
    """``check`` for every record: compiles the schema on first use, and finds every problem."""
    if type(obj) is not dict:
        return Rejected([("", f"record must be a JSON object, not {_kind(obj)}")])
    rid = obj.get("id")
    data_type = obj.get("dataType")
    schema = registry.compiled.get(data_type) or registry.get(data_type) if type(data_type) is str else None
    if schema is not None and data_type not in registry.fast:  # the next record of the type may go the fast way
        table = schema.fast_fields
        compiled = compile_check(data_type, table, schema.required) if table is not None else None
        registry.fast[data_type], registry.fast_items[data_type] = compiled or (None, None)
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
    except _Inexact:
        if line is not None:
            return check_slowly(parse_exact(line), registry)
        item = fields(obj, {}, floats_as_read=True)
    except BadNumber as exc:
        return Rejected([(exc.args[0], exc.args[1])], rid, data_type)
    item["recordId"] = {"S": record_id}
    item["timestamp"] = {"S": timestamp}  # replaces the record's own, as sent
    item["dataType"] = {"S": data_type}
    item["processingStatus"] = _PROCESSED
    return Accepted(data_type, record_id, timestamp, item)  # type: ignore[arg-type]


def _rejected(obj: dict[str, Any], registry: Registry, schema: Any, timestamp: str) -> Rejected:
    """Every problem of a record that failed a check (the slow path: only for rejected records)."""
    errors: list[tuple[str, str]] = []
    rid = obj.get("id")
    data_type = obj.get("dataType")
    if type(rid) is not str or not rid:
        errors.append(("id", "must be a non-empty string"))
        rid = None
    if schema is None:
        errors.append(("dataType", f"unknown data type {data_type!r} (known: {', '.join(registry.known)})"))
    if not _UTC_MILLIS.fullmatch(timestamp):  # normalize_timestamp's message instead of a timestamp
        errors.append(("timestamp", timestamp))
    if schema is not None:
        seen = {field for field, _ in errors}
        errors.extend(e for e in schema.errors(obj) if e[0] not in seen)
    if not errors:  # cannot happen while the checks above mirror ``check``; never reject silently
        errors.append(("", "record failed validation"))
    return Rejected(errors, rid, data_type if type(data_type) is str else None)


def fields(obj: dict[str, Any], out: dict[str, Any], floats_as_read: bool = False) -> dict[str, Any]:
    """Add the record's fields to ``out`` as attribute values (the caller then sets the item's own).
    ``_Inexact`` if a float may not be what the text said, unless ``floats_as_read`` (no text to re-read)."""
    for name, value in obj.items():
        kind = type(value)
        if kind is str:
            out[name] = {"S": value}
        elif kind is int or kind is float:
            out[name] = {"N": number(value, name, floats_as_read)}
        else:
            out[name] = attribute(value, name, 1, floats_as_read)
    return out


def attribute(value: Any, path: str, depth: int, floats_as_read: bool = False) -> dict[str, Any]:
    """One value as a DynamoDB attribute value; ``BadNumber(path, message)`` if DynamoDB cannot store it."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int or kind is float or kind is Decimal:
        return {"N": number(value, path, floats_as_read)}
    if value is None:
        return {"NULL": True}
    if depth >= MAX_DEPTH:
        raise BadNumber(path, f"nests deeper than DynamoDB's {MAX_DEPTH} levels")
    if kind is dict:
        out = {}
        for name, item in value.items():
            if not name:
                raise BadNumber(path, "has an empty attribute name, which DynamoDB refuses")
            out[name] = attribute(item, f"{path}.{name}", depth + 1, floats_as_read)
        return {"M": out}
    if kind is list:
        return {"L": [attribute(item, f"{path}[{i}]", depth + 1, floats_as_read) for i, item in enumerate(value)]}
    raise BadNumber(path, f"has a value of unsupported type {kind.__name__}")


def number(value: int | float | Decimal, path: str, floats_as_read: bool = False) -> str:
    """The DynamoDB ``N`` text of a number, or ``BadNumber`` if DynamoDB cannot store it exactly; ``_Inexact``
    for a float that may be a rounded big integer or long fraction, unless ``floats_as_read``."""
    kind = type(value)
    if kind is float:
        if value != value or value in (math.inf, -math.inf):
            raise BadNumber(path, "is NaN or infinite, which DynamoDB cannot store")
        magnitude = abs(value)
        if magnitude and not 1e-130 <= magnitude < 1e126:
            raise BadNumber(path, f"{value!r} is outside DynamoDB's number range (1E-130 to 9.9999E+125)")
        text = repr(value)
        if not floats_as_read and (len(text) >= _LONG_REPR or (magnitude >= _INT_EXACT and value.is_integer())):
            raise _Inexact(path)
        return text
    if kind is int:
        text = str(value)
        if len(text) > MAX_DIGITS and len(text.lstrip("-").rstrip("0")) > MAX_DIGITS:
            raise BadNumber(path, f"has more than DynamoDB's {MAX_DIGITS} significant digits")
        if len(text.lstrip("-")) > 126:
            raise BadNumber(path, "is outside DynamoDB's number range (up to 9.9999E+125)")
        return text
    if kind is bool:
        raise BadNumber(path, "is a boolean where a number is expected")
    decimal = Decimal(value)
    if not decimal.is_finite():
        raise BadNumber(path, "is NaN or infinite, which DynamoDB cannot store")
    sign, digits, exponent = decimal.as_tuple()
    while len(digits) > 1 and digits[-1] == 0:  # no normalize(): it rounds to the context's 28 digits
        digits, exponent = digits[:-1], int(exponent) + 1
    if not any(digits):
        return "0"
    if len(digits) > MAX_DIGITS:
        raise BadNumber(path, f"has more than DynamoDB's {MAX_DIGITS} significant digits")
    if not -130 <= int(exponent) + len(digits) - 1 <= 125:
        raise BadNumber(path, f"{decimal} is outside DynamoDB's number range (1E-130 to 9.9999E+125)")
    return str(Decimal((sign, digits, exponent)))


def normalize_timestamp(value: Any) -> str:
    """``YYYY-MM-DDTHH:MM:SS.sssZ`` in UTC from ISO 8601 text with an offset or from epoch seconds.

    Text already in that layout, in UTC (``Z``) or with a whole-hour offset (``+02:00``), is validated by
    ``fromisoformat`` and then cut and pasted rather than formatted: formatting a datetime costs more than
    parsing it. The hour an offset moves a date-hour to is remembered (a file's records share a few).
    """
    if type(value) is str:
        size = len(value)
        if (size == 24 or size == 29) and value[4:20:3] == _LAYOUT and value[20:23].isdigit():
            try:
                _fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value[:64]!r} is not an ISO 8601 date-time") from None
            if size == 24:
                if value[23] == "Z":
                    return value
            elif value[26:] == ":00" and value[23] in "+-":
                hour = value[:13] + value[23:26]
                utc_hour = _UTC_HOURS.get(hour)
                if utc_hour is None:
                    utc_hour = _normalize_text(value)[:13]
                    if len(_UTC_HOURS) >= 4096:
                        _UTC_HOURS.clear()
                    _UTC_HOURS[hour] = utc_hour
                return utc_hour + value[13:23] + "Z"
        return _normalize_text(value)
    return _normalize_other(value)


_fromisoformat = dt.datetime.fromisoformat
_LAYOUT = "--T::."  # the characters at 4, 7, 10, 13, 16 and 19 of YYYY-MM-DDTHH:MM:SS.sss
_UTC_HOURS: dict[str, str] = {}  # "YYYY-MM-DDTHH+hh" -> that hour in UTC, "YYYY-MM-DDTHH"


def _normalize_text(value: str) -> str:
    """``normalize_timestamp`` of any text: parse, shift to UTC, format."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:64]!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is _UTC and value[19:20] in _FRACTION_OR_END and value[4] == "-" == value[7] and value[10] == "T":
        # Already UTC in the extended layout: cut the text instead of formatting. (Not a week date such as
        # 2024-W18-3, which has the dash at 4 and the T at 10 too, but must become a calendar date.)
        if value[19] != ".":
            return value[:19] + ".000Z"
        if value[20:23].isdigit():
            return value[:23] + "Z"
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{value[:64]!r} has no UTC offset (add Z or +HH:MM)")
    if offset:
        try:
            moment = moment - offset
        except OverflowError:
            raise ValueError(f"{value[:64]!r} is out of range in UTC") from None
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 - the fastest formatting here
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
        moment.microsecond // 1000,
    )


def _normalize_other(value: Any) -> str:
    """``normalize_timestamp`` of anything but text: epoch seconds, or a ``ValueError`` saying what it is."""
    kind = type(value)
    if kind is int or kind is float or kind is Decimal:
        if not math.isfinite(value) or not _MIN_EPOCH <= value <= _MAX_EPOCH:
            raise ValueError(f"{value!r} is not an epoch time between years 1 and 9999")
        millis = value * 1000 if kind is int else round(value * 1000)
        moment = _EPOCH + dt.timedelta(milliseconds=int(millis))
        return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
            moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
            moment.microsecond // 1000,
        )
    if value is None:
        raise ValueError("is required")
    raise ValueError(f"must be ISO 8601 text or epoch seconds, not {_kind(value)}")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
