"""JSON values as DynamoDB attribute values (``handlers.attributes``): what DynamoDB can store."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from handlers import attributes, records, schemas

REGISTRY = schemas.registry()

@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (-5, "-5"), (1.5, "1.5"), (10**40, str(10**40)), (Decimal("1.50"), "1.5"), (Decimal("-0"), "0"),
    (Decimal("9.9999E+125"), "9.9999E+125"), (Decimal("1E-130"), "1E-130"),
    (12345678901234567890, "12345678901234567890"),
])
def test_numbers_dynamodb_can_store(value, text):
    assert attributes.number(value, "v") == text


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e126, 1e-131, 10**126, 3**100,
                                   Decimal("1E+126"), Decimal("1E-131"), Decimal("NaN"), Decimal("1." + "1" * 40)])
def test_numbers_dynamodb_cannot_store(value):
    with pytest.raises(attributes.BadNumber):
        attributes.number(value, "v")


def test_nested_values_become_typed_attributes():
    record = {"id": "e", "dataType": "event", "timestamp": 0, "name": "n",
              "properties": {"s": "x", "n": 1, "f": 2.5, "b": True, "z": None, "l": [1, "a", {"k": False}]}}
    result = records.check(record, REGISTRY)
    assert result.attributes["properties"] == {"M": {
        "s": {"S": "x"}, "n": {"N": "1"}, "f": {"N": "2.5"}, "b": {"BOOL": True}, "z": {"NULL": True},
        "l": {"L": [{"N": "1"}, {"S": "a"}, {"M": {"k": {"BOOL": False}}}]}}}
    assert (result.record_id, result.timestamp) == ("event#e", "1970-01-01T00:00:00.000Z")


@pytest.mark.parametrize(("properties", "field"), [
    ({"": 1}, "properties"),
    ({"deep": json.loads("[" * 40 + "]" * 40)}, "properties.deep"),
])
def test_values_dynamodb_refuses_are_rejected(properties, field):
    record = {"id": "e", "dataType": "event", "timestamp": 0, "name": "n", "properties": properties}
    result = records.check(record, REGISTRY)
    assert isinstance(result, records.Rejected)
    assert result.errors[0][0].startswith(field)
