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

from handlers import items as items_module
from handlers.formats import Record
from handlers.items import ItemFactory, Key
from handlers.records import Accepted, Rejected, check, check_slowly, parse_exact
from handlers.schemas import Registry

# One record's outcome, a plain tuple (the hot path makes millions): ``(index, position, end, key, item,
# accepted)``: records of the file up to and including this one; line (JSONL, CSV) or array index (JSON);
# byte offset after the record where a reader can resume (uncompressed JSONL, else None); the item's key;
# its serialized attribute map; whether it is a valid record (else a rejected one).
Outcome = tuple[int, int, int | None, Key, bytes, bool]
UNSHOWABLE = "(the input could not be serialized to show here)"


class RecentKeys:
    """The last ``size`` item keys of a file, and where each first appeared."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._positions: dict[Key, int] = {}
        self._order: collections.deque[Key] = collections.deque()

    def first_position(self, key: Key, position: int) -> int | None:
        """``None`` the first time a key is seen (and remember it), else where it was seen first.
        Positions only grow within a file, so a key seen before comes back with another one."""
        seen = self._positions.setdefault(key, position)  # one lookup of the key, not two
        if seen != position:
            return seen
        order = self._order
        order.append(key)
        if len(order) > self.size:
            del self._positions[order.popleft()]
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
        jsonl = self.kind == "jsonl"
        build = self._build_value
        factory = self.factory
        accepted_item = factory.accepted
        position_name, tail = factory.position_name, factory.tail
        reject = self._reject
        registry = self.registry
        # Valid records' items straight from the generated check, unless the factory builds them its own way
        # (a subclass overriding ``accepted``, e.g. pseudonymizing fields); one item function per data type
        # for this file (each refills its own dicts: records.compile_check).
        makers = registry.fast_items if type(factory).accepted is ItemFactory.accepted else {}
        fast_items: dict[str, Any] = {}
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        first_position = self.recent.first_position
        max_item = items_module.MAX_ITEM_BYTES
        for position, end, payload, problem in records:
            index += 1
            if index <= skip:
                continue
            try:
                if problem is not None:
                    key, item = reject([("", problem)], payload, position)
                    accepted = False
                else:
                    found = result = None
                    if jsonl:  # the hot path: valid records' items straight from the generated check
                        raw = payload
                        try:
                            value = loads(payload)
                        except decode_error:
                            result = self._parse_slowly(payload)
                        else:
                            data_type = value.get("dataType") if type(value) is dict else None
                            make = fast_items.get(data_type) if type(data_type) is str else None
                            if make is None and type(data_type) is str and makers.get(data_type) is not None:
                                make = fast_items[data_type] = makers[data_type](position_name, tail)
                            found = make(value, position) if make is not None else None
                            if found is None:  # (the generated check has said no already: the general path)
                                result = check(value, registry, payload) if make is None else check_slowly(
                                    value, registry, payload)
                    else:
                        result, raw = build(payload)
                    if found is not None:
                        key, item = found
                    elif type(result) is Accepted:
                        key, item = accepted_item(result, position)
                    else:
                        key, item = reject(result.errors, raw, position, result.claimed_id, result.claimed_type)
                    accepted = found is not None or type(result) is Accepted
                    if accepted:
                        first = first_position(key, position)
                        if first is not None:
                            errors = [("id", f"duplicate key: the record at {self.position_label} {first} of this "
                                             "file has the same id, dataType and timestamp")]
                            key, item = reject(errors, raw, position, *_claims(found, value, result))
                            accepted = False
                        elif len(item) > max_item and (size := items_module.oversized(item)):
                            errors = [("", f"the item would be {size} bytes, over DynamoDB's 400 KB limit")]
                            key, item = reject(errors, raw, position, *_claims(found, value, result))
                            accepted = False
            except Exception as exc:  # one record must never fail its file (retried until the DLQ)
                key, item = self._unprocessable(exc, payload, position)
                accepted = False
            yield index, position, end, key, item, accepted

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

    def _build_value(self, value: Any) -> tuple[Any, Any]:
        if self.kind == "csv":
            data_type = value.get("dataType")
            schema = self.registry.get(data_type) if type(data_type) is str else None
            if schema is not None:
                return check(schema.coerce_row(value), self.registry), value
        return check(value, self.registry), value


def _claims(found: Any, value: Any, result: Any) -> tuple[str, str]:
    """The id and data type of a valid record: from the parsed ``value`` if the fast path took it (``found``),
    else from its ``Accepted``."""
    if found is not None:
        return value["id"], value["dataType"]
    return result.record_id.split("#", 1)[1], result.data_type
