"""Record timestamps normalized to UTC milliseconds (``handlers.timestamps``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from handlers import timestamps


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
    ("2024-05-01T12:00:00.123456+00:00", "2024-05-01T12:00:00.123Z"),
    ("2024-05-01T01:30:00.5+02:00", "2024-04-30T23:30:00.500Z"),
    ("2024-12-31T23:00:00-05:00", "2025-01-01T04:00:00.000Z"),
    (1714564800, "2024-05-01T12:00:00.000Z"),
    (1714564800.1234, "2024-05-01T12:00:00.123Z"),
    (Decimal("1714564800.5"), "2024-05-01T12:00:00.500Z"),
    (0, "1970-01-01T00:00:00.000Z"),
])
def test_timestamps_are_normalized_to_utc_milliseconds(value, expected):
    assert timestamps.normalize_timestamp(value) == expected


@pytest.mark.parametrize("value", ["2024-05-01T12:00:00", "2024-05-01", "yesterday", "", None, True, [],
                                   float("nan"), 1e20, -1e20, "0001-01-01T00:00:00+01:00"])
def test_bad_timestamps_are_explained(value):
    with pytest.raises(ValueError, match=r".+"):
        timestamps.normalize_timestamp(value)


def test_week_dates_become_calendar_dates():
    assert timestamps.normalize_timestamp("2024-W18-3T12:00:00.123Z") == "2024-05-01T12:00:00.123Z"
    assert timestamps.normalize_timestamp("2024-W18-3T12:00:00Z") == "2024-05-01T12:00:00.000Z"


def test_offsets_that_cross_a_day_or_year_are_shifted_exactly():
    assert timestamps.normalize_timestamp("2024-12-31T23:30:00.500-02:00") == "2025-01-01T01:30:00.500Z"
    assert timestamps.normalize_timestamp("2024-03-01T01:00:00.000+02:00") == "2024-02-29T23:00:00.000Z"
    with pytest.raises(ValueError, match="out of range"):
        timestamps.normalize_timestamp("0001-01-01T00:00:00.000+02:00")
