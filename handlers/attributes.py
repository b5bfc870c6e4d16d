"""Parsed JSON values as DynamoDB attribute values: one table of rules, and the general conversion.

DynamoDB refuses what JSON allows: numbers beyond 38 significant digits or outside 1E-130..9.9999E+125,
NaN and Infinity, empty attribute names, nesting deeper than 32 levels. ``attribute`` converts any value
exactly or raises ``BadNumber`` saying why it cannot be stored; the record is then rejected, never sent.

``CONVERSIONS`` is the one statement of which attribute type each JSON type becomes. The general path
below reads it, and ``codegen`` generates the fast path's conversions from it: for each type, the code of
the attribute's content and, where the fast path cannot always decide (a number), the condition under
which it leaves the value to the general path. The fast conditions are stricter than the general rules,
never looser: a value they let through converts here to the same attribute value.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, NamedTuple

MAX_DEPTH = 32  # DynamoDB's nesting limit
MAX_DIGITS = 38  # DynamoDB's significant digits
# A double's shortest repr this long (16+ characters: about 15+ digits) may be a longer decimal rounded by
# the parse, e.g. one of 39 digits, which DynamoDB refuses: the line is then re-read exactly. Shorter ones
# are taken as written: any decimal of up to 15 significant digits survives a double unchanged. (A longer
# decimal within a rounding error of a short one, such as 0.10000000000000001 for 0.1, is stored short.)
LONG_REPR = 16
_INT_EXACT = float(2**53)  # orjson may hand a big integer over as a float: above this, re-parse exactly


class Conversion(NamedTuple):
    """How a parsed JSON value of one Python type becomes a DynamoDB attribute value."""

    attribute: str  # the attribute value's type: S, N, BOOL, NULL, M or L
    described: str  # what the value is, in messages ("a string")
    # Generated code (see ``codegen``), for a value ``v``: the attribute's content, "" where the fast path
    # never converts this type itself (M and L are converted by the generated ``plain``) ...
    fast_text: str = ""
    # ... and a condition on that content ``n`` under which the fast path leaves ``v`` to the general path.
    fast_refusal: str = ""


# In the order the generated code tests the types, commonest first. A float goes the fast way if its repr
# is short and has no exponent: then it is between 1e-4 and 1e16 (or 0), inside DynamoDB's range, and not a
# big integer rounded by the parse. An int goes the fast way up to 38 digits. ``Decimal`` (from an exact
# parse or a CSV cell) only ever takes the general path.
CONVERSIONS: dict[type, Conversion] = {
    str: Conversion("S", "a string", "v"),
    float: Conversion("N", "a number", "repr(v)", 'len(n) >= LONG or "e" in n'),
    int: Conversion("N", "a number", "repr(v)", "len(n) > DIGITS"),
    bool: Conversion("BOOL", "a boolean", "v"),
    type(None): Conversion("NULL", "null", "True"),
    dict: Conversion("M", "an object"),
    list: Conversion("L", "an array"),
    Decimal: Conversion("N", "a number"),
}
NESTED = ("M", "L")


class BadNumber(ValueError):
    """A value DynamoDB cannot store: ``args`` are the field path and the reason."""


class Inexact(Exception):
    """orjson turned a number into a float that may not be what the text said (a big integer, or a long
    fraction rounded to a double's 17 digits): the line must be parsed again, exactly."""


def described(value: Any) -> str:
    """What a JSON value is, for a message: "an object", "a string"..."""
    conversion = CONVERSIONS.get(type(value))
    return conversion.described if conversion is not None else "a number"


def fields(obj: dict[str, Any], out: dict[str, Any], floats_as_read: bool = False) -> dict[str, Any]:
    """Add the record's fields to ``out`` as attribute values (the caller then sets the item's own).
    ``Inexact`` if a float may not be what the text said, unless ``floats_as_read`` (no text to re-read)."""
    for name, value in obj.items():
        out[name] = attribute(value, name, 1, floats_as_read)
    return out


def attribute(value: Any, path: str, depth: int, floats_as_read: bool = False) -> dict[str, Any]:
    """One value as a DynamoDB attribute value; ``BadNumber(path, message)`` if DynamoDB cannot store it."""
    conversion = CONVERSIONS.get(type(value))
    if conversion is None:
        raise BadNumber(path, f"has a value of unsupported type {type(value).__name__}")
    kind = conversion.attribute
    if kind == "S" or kind == "BOOL":
        return {kind: value}
    if kind == "N":
        return {"N": number(value, path, floats_as_read)}
    if kind == "NULL":
        return {"NULL": True}
    if depth >= MAX_DEPTH:
        raise BadNumber(path, f"nests deeper than DynamoDB's {MAX_DEPTH} levels")
    if kind == "M":
        out = {}
        for name, item in value.items():
            if not name:
                raise BadNumber(path, "has an empty attribute name, which DynamoDB refuses")
            out[name] = attribute(item, f"{path}.{name}", depth + 1, floats_as_read)
        return {"M": out}
    return {"L": [attribute(item, f"{path}[{i}]", depth + 1, floats_as_read) for i, item in enumerate(value)]}


def number(value: int | float | Decimal, path: str, floats_as_read: bool = False) -> str:
    """The DynamoDB ``N`` text of a number, or ``BadNumber`` if DynamoDB cannot store it exactly; ``Inexact``
    for a float that may be a rounded big integer or long fraction, unless ``floats_as_read``."""
    kind = type(value)
    if kind is float:
        if value != value or value in (math.inf, -math.inf):
            raise BadNumber(path, "is NaN or infinite, which DynamoDB cannot store")
        magnitude = abs(value)
        if magnitude and not 1e-130 <= magnitude < 1e126:
            raise BadNumber(path, f"{value!r} is outside DynamoDB's number range (1E-130 to 9.9999E+125)")
        text = repr(value)
        if not floats_as_read and (len(text) >= LONG_REPR or (magnitude >= _INT_EXACT and value.is_integer())):
            raise Inexact(path)
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
