"""The write units DynamoDB charges for each write the handler sends, in the table and in each index.

The rules (DynamoDB Developer Guide, "Read/write capacity mode" and "Provisioned throughput considerations for
global secondary indexes": https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes):

- a write costs ceil(size / 1 KB) write units, at least 1; a put or update that replaces an item is sized on
  the larger of the item before and after;
- an index is written when the item is in it (it has every key attribute of the index) before or after the
  write: a new entry or a changed projected attribute is one index write of the entry's size, a changed index
  key is two (delete the old entry, put the new one), leaving the index is one delete; an unchanged entry costs
  nothing;
- an index entry's size is the table's key attributes, the index's key attributes and its projected attributes
  (``ALL``: the whole item).

Item sizes are the handler's own ``handlers.items.item_size`` (attribute names plus values, as DynamoDB counts
them). UpdateItem is applied to the modelled item: ``SET`` with ``if_not_exists``, ``+``/``-`` and
``list_append``, and ``REMOVE``, on top-level attributes: what the handler's ledger sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tap_templates.capacity.table_shape import Index, TableShape

KB = 1024
STORAGE_OVERHEAD = 100  # bytes DynamoDB adds to every item and index entry for storage (Developer Guide)
Item = dict[str, dict[str, Any]]


def item_size(item: Item) -> int:
    """The handler's own measure of an item (imported here: only the model run needs the handler)."""
    from handlers.items import item_size as handler_item_size

    return handler_item_size(item)


def units(size: int) -> int:
    """Write units of one write of ``size`` bytes: 1 per started KB, at least 1."""
    return max(1, -(-size // KB))


def in_index(item: Item | None, index: Index) -> bool:
    return item is not None and all(key in item for key in index.keys)


def entry(item: Item, index: Index, table: Index) -> Item:
    """The attributes an index stores for an item."""
    if index.projection == "ALL":
        return item
    names = {*table.keys, *index.keys, *(index.non_key if index.projection == "INCLUDE" else ())}
    return {name: value for name, value in item.items() if name in names}


@dataclass
class Cost:
    """What one write cost, per table or index name: write units, writes, the partition key value written."""

    units: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


class TableModel:
    """The items the handler wrote (with their sizes), and the cost of each write."""

    def __init__(self, shape: TableShape) -> None:
        self.shape = shape
        self.items: dict[tuple[str, ...], Item] = {}
        self.sizes: dict[tuple[str, ...], int] = {}

    def key(self, item: Item) -> tuple[str, ...]:
        return tuple(str(item[name]) for name in self.shape.table.keys)

    def put(self, item: Item) -> Cost:
        """A PutItem (or a BatchWriteItem put)."""
        return self._store(self.key(item), item)

    def update(self, key_attributes: Item, expression: str, names: dict[str, str], values: Item) -> Cost:
        """An UpdateItem, applied to the modelled item (created when it did not exist)."""
        key = self.key(key_attributes)
        before = self.items.get(key)
        return self._store(key, apply_update(dict(before or key_attributes), expression, names, values))

    def entry_size(self, key: tuple[str, ...], index: Index) -> int:
        """The size of the stored item's entry in ``index`` (0 when it is not in it)."""
        item = self.items[key]
        if not in_index(item, index):
            return 0
        return self.sizes[key] if index.projection == "ALL" else item_size(entry(item, index, self.shape.table))

    def _store(self, key: tuple[str, ...], after: Item) -> Cost:
        before, size_before = self.items.get(key), self.sizes.get(key, 0)
        size_after = item_size(after)
        self.items[key], self.sizes[key] = after, size_after
        table = self.shape.table
        cost = Cost({table.name: units(max(size_before, size_after))}, {table.name: 1},
                    {table.name: _text(after[table.hash_key])})
        for index in self.shape.indexes:
            old = entry(before, index, table) if in_index(before, index) else None
            new = entry(after, index, table) if in_index(after, index) else None
            if old is None and new is None:
                continue
            whole = index.projection == "ALL"
            new_units = units(size_after if whole else item_size(new)) if new is not None else 0
            old_units = units(size_before if whole else item_size(old)) if old is not None else 0
            if new is not None and old is not None and any(old[k] != new[k] for k in index.keys):
                spent, writes = new_units + old_units, 2  # the index key changed: delete the old entry, put the new
            elif new is not None and old != new:
                spent, writes = new_units, 1
            elif new is None:
                spent, writes = old_units, 1
            else:
                continue  # nothing the index holds changed
            cost.units[index.name], cost.writes[index.name] = spent, writes
            cost.keys[index.name] = _text((new or old or {})[index.hash_key])
        return cost


def _text(value: dict[str, Any]) -> str:
    ((kind, inner),) = value.items()
    return f"{inner}" if kind in ("S", "N") else f"{kind}:{inner}"


# -- UpdateExpression ------------------------------------------------------------------------------------------
_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(text[start:position].strip())
            start = position + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def apply_update(item: Item, expression: str, names: dict[str, str], values: Item) -> Item:
    """``item`` after an UpdateExpression of top-level attributes."""
    pieces = _CLAUSE.split(expression)
    for keyword, body in zip(pieces[1::2], pieces[2::2], strict=True):
        for action in _split(body):
            if keyword == "SET":
                target, _, value = action.partition("=")
                result = _operand_sum(value.strip(), item, names, values)
                item[_name(target.strip(), names)] = result
            elif keyword == "REMOVE":
                item.pop(_name(action, names), None)
            else:
                raise ValueError(f"the capacity model does not apply {keyword} clauses: {expression!r}")
    return item


def _name(path: str, names: dict[str, str]) -> str:
    if "." in path or "[" in path:
        raise ValueError(f"the capacity model applies updates of top-level attributes only, not {path!r}")
    return names.get(path, path)


def _operand_sum(text: str, item: Item, names: dict[str, str], values: Item) -> dict[str, Any]:
    terms = _split(text.replace("+", ",+,").replace(" - ", ",-,")) if ("+" in text or " - " in text) else [text]
    result = _operand(terms[0], item, names, values)
    for sign, term in zip(terms[1::2], terms[2::2], strict=True):
        other = _operand(term, item, names, values)
        total = float(result["N"]) + float(other["N"]) * (1 if sign == "+" else -1)
        result = {"N": str(int(total)) if total.is_integer() else str(total)}
    return result


def _operand(text: str, item: Item, names: dict[str, str], values: Item) -> dict[str, Any]:
    text = text.strip()
    if text.startswith(":"):
        return values[text]
    call = re.fullmatch(r"(if_not_exists|list_append)\((.*)\)", text)
    if call:
        first, second = _split(call.group(2))
        if call.group(1) == "if_not_exists":
            current = item.get(_name(first, names))
            return current if current is not None else _operand(second, item, names, values)
        left, right = _operand(first, item, names, values), _operand(second, item, names, values)
        return {"L": [*left.get("L", []), *right.get("L", [])]}
    current = item.get(_name(text, names))
    if current is None:
        raise ValueError(f"the update reads {text!r}, which the item does not have")
    return current
