"""The per-record path of one file: source records in, DynamoDB items out. Pure: no AWS calls.

``FileItems.outcomes`` turns each record the readers yield into exactly one item, valid or rejected, so
for every file *records in = processed + rejected*. On top of per-record validation it catches what only
the file as a whole shows: two records with the same key (the later one is rejected: DynamoDB also refuses
duplicate keys within one BatchWriteItem) and items over DynamoDB's 400 KB limit.

Duplicate keys are remembered in a window of the last ``duplicate_window`` keys, so memory stays flat for
any file size; two records with the same key further apart than that are both written, the later one
overwriting the earlier (as a replay would).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import orjson

from handlers.codegen import Fill
from handlers.formats import Record
from handlers.items import MAX_ITEM_BYTES, ItemFactory, Key, oversized
from handlers.records import Accepted, Rejected, check, check_slowly, parse_exact
from handlers.schemas import Registry

# One record's outcome, a plain tuple (the hot path makes millions): ``(index, position, end, key, item,
# accepted)``: records of the file up to and including this one; line (JSONL, CSV) or array index (JSON);
# byte offset after the record where a reader can resume (uncompressed JSONL, else None); the item's key;
# its serialized attribute map; whether it is a valid record (else a rejected one).
Outcome = tuple[int, int, int | None, Key, bytes, bool]
UNSHOWABLE = "(the input could not be serialized to show here)"


class RecentKeys:
    """The last ``size`` item keys of a file, and where each first appeared.

    ``FileItems.outcomes`` runs ``first_position`` inlined (a method call per record costs as much as the
    time index's shard), on the same ``positions`` and ``order``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.positions: dict[Key, int] = {}
        self.order: collections.deque[Key] = collections.deque()

    def first_position(self, key: Key, position: int) -> int | None:
        """``None`` the first time a key is seen (and remember it), else where it was seen first.
        Positions only grow within a file, so a key seen before comes back with another one."""
        seen = self.positions.setdefault(key, position)  # one lookup of the key, not two
        if seen != position:
            return seen
        order = self.order
        order.append(key)
        if len(order) > self.size:
            del self.positions[order.popleft()]
        return None


class FileItems:
    """Builds one file's items; ``kind`` is the format (``jsonl``, ``json`` or ``csv``)."""

    def __init__(self, factory: ItemFactory, kind: str, registry: Registry, duplicate_window: int) -> None:
        self.factory = factory
        self.kind = kind
        self.registry = registry
        self.recent = RecentKeys(duplicate_window)
        self.position_label = "line" if factory.position_name == "sourceLine" else "index"

    def outcomes(self, records: Iterator[Record], skip: int = 0, first_index: int = 0) -> Iterator[Outcome]:
        """One outcome per record, in order. The first ``skip`` records are passed over unread (resuming);
        ``first_index`` is the number of records before the first one ``records`` yields."""
        index = first_index
        jsonl, csv = self.kind == "jsonl", self.kind == "csv"
        factory, registry, reject, shards = self.factory, self.registry, self._reject, self.factory.shards
        accepted_item, position_name, tail = factory.accepted, factory.position_name, factory.tail
        positions, order, window = self.recent.positions, self.recent.order, self.recent.size  # first_position
        remember, forget, seen_order, oldest = positions.setdefault, positions.__delitem__, order.append, order.popleft
        # Valid records' items straight from the generated code, unless the factory builds them its own way;
        # one ``fill`` per data type for this file (each refills its own item: see ``codegen``).
        fast = registry.fast if factory.supports_fast_path else {}
        fills: dict[str, Fill] = {}
        loads, decode_error, dumps = orjson.loads, orjson.JSONDecodeError, orjson.dumps
        for position, end, payload, problem in records:
            index += 1
            if index <= skip:
                continue
            try:
                if problem is not None:
                    key, item = reject([("", problem)], payload, position)
                    accepted = False
                else:
                    found = result = value = None
                    if jsonl:  # the hot path: parse the line (its text is kept to re-read numbers exactly)
                        try:
                            value = loads(payload)
                        except decode_error:
                            result = self._parse_slowly(payload)
                    else:
                        value = self._coerced(payload) if csv else payload
                    if result is None:
                        data_type = value.get("dataType") if type(value) is dict else None
                        fill = fills.get(data_type) if type(data_type) is str else None
                        if fill is None and type(data_type) is str and fast.get(data_type) is not None:
                            fill = fills[data_type] = fast[data_type].item_maker(position_name, shards(data_type))
                        found = fill(value, position) if fill is not None else None
                        if found is None:  # (where the generated code said no already: the general path)
                            line = payload if jsonl else None
                            result = check(value, registry, line) if fill is None else check_slowly(
                                value, registry, line)
                    if found is not None:
                        key, item = found[0], dumps(found[1])[:-1] + tail
                    elif type(result) is Accepted:
                        key, item = accepted_item(result, position)
                    else:
                        key, item = reject(result.errors, payload, position, result.claimed_id, result.claimed_type)
                    accepted = found is not None or type(result) is Accepted
                    if accepted:
                        first = remember(key, position)
                        if first == position:  # seen first here: remembered, the oldest past the window forgotten
                            first = None
                            seen_order(key)
                            if len(order) > window:
                                forget(oldest())
                        if first is not None or (len(item) > MAX_ITEM_BYTES and oversized(item)):
                            key, item = self._refused(first, item, payload, position, _claims(found, value, result))
                            accepted = False
            except Exception as exc:  # one record must never fail its file (retried until the DLQ)
                key, item = self._unprocessable(exc, payload, position)
                accepted = False
            yield index, position, end, key, item, accepted

    def _refused(self, first: int | None, item: bytes, raw: Any, position: int, claims: tuple[str, str]
                 ) -> tuple[Key, bytes]:
        """The rejected item of a valid record the file refuses: a duplicate of the record at ``first``, or
        an item over DynamoDB's size limit."""
        if first is not None:
            message = (f"duplicate key: the record at {self.position_label} {first} of this file has the same "
                       "id, dataType and timestamp")
            return self._reject([("id", message)], raw, position, *claims)
        message = f"the item would be {oversized(item)} bytes, over DynamoDB's 400 KB limit"
        return self._reject([("", message)], raw, position, *claims)

    def _unprocessable(self, exc: Exception, payload: Any, position: int) -> tuple[Key, bytes]:
        """The rejected item of a record that made checking or serializing it raise (hostile input such as
        an unpaired surrogate escape or extreme nesting, or a bug): rejected with the reason, so the rest
        of the file goes on and the record is still counted."""
        if isinstance(exc, TypeError) and "surrogates" in str(exc):  # orjson.JSONEncodeError
            message = "holds text that is not valid Unicode (an unpaired surrogate escape such as \\ud800)"
        elif isinstance(exc, RecursionError):
            message = "nests too deeply to check"
        else:
            message = f"could not be processed ({type(exc).__name__}: {exc})"
        return self._reject([("", message.encode("utf-8", "replace").decode())], payload, position)

    def _reject(self, errors: list[tuple[str, str]], raw: Any, position: int, claimed_id: str | None = None,
                claimed_type: str | None = None) -> tuple[Key, bytes]:
        """``factory.rejected``, with a placeholder for an input it cannot show (nested too deeply for any
        serializer): the record is still rejected with its own errors."""
        try:
            return self.factory.rejected(errors, raw, position, claimed_id, claimed_type)
        except Exception:
            return self.factory.rejected(errors, UNSHOWABLE, position, claimed_id, claimed_type)

    def _parse_slowly(self, line: bytes) -> Accepted | Rejected:
        """A line orjson refused: the standard library decides, exactly (big integers) or with its message."""
        try:
            value = parse_exact(line)
        except ValueError as exc:
            return Rejected([("", f"not valid JSON: {exc}")])
        return check(value, self.registry, None)

    def _coerced(self, row: dict[str, str]) -> dict[str, Any]:
        """A CSV row with its cells converted to its data type's schema types (as it is when the type is
        unknown: the record is rejected for that)."""
        data_type = row.get("dataType")
        schema = self.registry.get(data_type) if type(data_type) is str else None
        return schema.coerce_row(row) if schema is not None else row


def _claims(found: Any, value: Any, result: Any) -> tuple[str, str]:
    """The id and data type of a valid record: from the parsed ``value`` if the fast path took it (``found``),
    else from its ``Accepted``."""
    if found is not None:
        return value["id"], value["dataType"]
    return result.record_id.split("#", 1)[1], result.data_type
