"""The file ledger as the operations tools read it: its key, statuses and items.

Restated from ``handlers.ledger`` (the Lambda zip's code, which nothing here imports): the ledger item of an
object version is ``recordId = "FILE#" + sha256(key + "\\0" + versionId)`` (``"etag:" + ETag`` standing in
for the version of an unversioned object), ``timestamp = "LEDGER"``, in the records table. The key has no
bucket in it, so a replica in another region has the same ledger item; ``tests/operations`` checks that this
derivation matches the handler's for several inputs.

Besides the handler's statuses, ``RETRY`` is the operator's: ``redrive`` sets it on a FAILED file before
sending its event back, because the handler never claims a FAILED file again but does claim a RETRY one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

LEDGER_SORT_KEY = "LEDGER"
ITEM_TYPE = "FILE_LEDGER"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
RETRY = "RETRY"
BATCH_GET_MAX = 100
_deserializer = TypeDeserializer()


def ledger_id(key: str, version_id: str | None, etag: str | None) -> str:
    """The ledger ``recordId`` of an object version, the same in every region. ``etag`` as S3 events give it
    (no quotes): strip the quotes of a listing's ETag first."""
    version = version_id if version_id and version_id != "null" else f"etag:{etag or ''}"
    return "FILE#" + hashlib.sha256(f"{key}\0{version}".encode()).hexdigest()


def key(lid: str) -> dict[str, Any]:
    return {"recordId": {"S": lid}, "timestamp": {"S": LEDGER_SORT_KEY}}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as Decimal), for printing and comparing."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def read_many(dynamodb: Any, table: str, lids: Iterable[str], consistent: bool = True) -> Iterator[dict[str, Any]]:
    """The ledger items that exist among ``lids`` (plain values), by BatchGetItem, unprocessed keys retried."""
    wanted = sorted(set(lids))
    for start in range(0, len(wanted), BATCH_GET_MAX):
        request: dict[str, Any] = {table: {"Keys": [key(lid) for lid in wanted[start:start + BATCH_GET_MAX]],
                                           "ConsistentRead": consistent}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                yield plain(item)
            request = response.get("UnprocessedKeys") or {}
            if request:
                time.sleep(0.2)  # throttled: give the table a moment before asking for the rest
