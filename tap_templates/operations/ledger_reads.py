"""Reading the file ledger in bulk, as the operations tools do (reconcile compares thousands of versions).

The ledger's key and statuses are the handler's own (``handlers.contracts``); this module only reads items
by the hundred and turns them into plain values for printing and comparing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from handlers.contracts import ledger_key

BATCH_GET_MAX = 100
_deserializer = TypeDeserializer()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as Decimal), for printing and comparing."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def read_many(dynamodb: Any, table: str, lids: Iterable[str], consistent: bool = True) -> Iterator[dict[str, Any]]:
    """The ledger items that exist among ``lids`` (plain values), by BatchGetItem, unprocessed keys retried."""
    wanted = sorted(set(lids))
    for start in range(0, len(wanted), BATCH_GET_MAX):
        request: dict[str, Any] = {table: {"Keys": [ledger_key(lid) for lid in wanted[start:start + BATCH_GET_MAX]],
                                           "ConsistentRead": consistent}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                yield plain(item)
            request = response.get("UnprocessedKeys") or {}
            if request:
                time.sleep(0.2)  # throttled: give the table a moment before asking for the rest
