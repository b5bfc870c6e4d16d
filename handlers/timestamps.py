"""Record timestamps: ISO 8601 text with a UTC offset, or epoch seconds, as UTC text with milliseconds.

The normalized form, ``YYYY-MM-DDTHH:MM:SS.sssZ``, is an item's sort key, so every spelling of one moment
must come out the same. ``normalize_timestamp`` runs once per record, so its common cases (already UTC in
that layout, or a whole-hour offset) are cut and pasted rather than formatted.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

from handlers.attributes import described

_EPOCH = dt.datetime(1970, 1, 1)
_MIN_EPOCH = -62135596800  # 0001-01-01T00:00:00Z
_MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
_UTC = dt.UTC
_FRACTION_OR_END = (".", "Z", "+", "-")
UTC_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")  # the normalized form
fromisoformat = dt.datetime.fromisoformat
LAYOUT = "--T::."  # the characters at 4, 7, 10, 13, 16 and 19 of YYYY-MM-DDTHH:MM:SS.sss
_UTC_HOURS: dict[str, str] = {}  # "YYYY-MM-DDTHH+hh" -> that hour in UTC, "YYYY-MM-DDTHH"


def normalize_timestamp(value: Any) -> str:
    """``YYYY-MM-DDTHH:MM:SS.sssZ`` in UTC from ISO 8601 text with an offset or from epoch seconds.

    Text already in that layout, in UTC (``Z``) or with a whole-hour offset (``+02:00``), is validated by
    ``fromisoformat`` and then cut and pasted rather than formatted: formatting a datetime costs more than
    parsing it. The hour an offset moves a date-hour to is remembered (a file's records share a few).
    """
    if type(value) is str:
        size = len(value)
        if (size == 24 or size == 29) and value[4:20:3] == LAYOUT and value[20:23].isdigit():
            try:
                fromisoformat(value)
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
    raise ValueError(f"must be ISO 8601 text or epoch seconds, not {described(value)}")
