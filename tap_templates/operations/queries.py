"""The documented queries of the records table, each implemented once (``tap query`` prints them).

1. ``rejected``: rejected records of a time range, newest first, optionally of one source file;
2. ``data_type``: the records of one data type in a time range;
3. ``record``: one record by data type and id (its newest version, or all of them);
4. ``file_records`` (``file_records.py``): a file's ledger item and its records.

Patterns 1 and 2 read the time index (``components/table.py``): its partition key ``timeShard`` spreads the
writes of one data type (or of the rejected records) over ``[table]`` shards, so a query fans out over every
shard of the prefix in parallel, each a ``Query`` of ``timestamp BETWEEN since AND until`` in the wanted order,
and merges them by time. The shard counts come from the config; the deploy refuses to lower them, and a lower
count's shards are among a higher one's, so items written under any earlier count are read too.

Paging: a page stops after ``limit`` items and hands back a ``Cursor``: per shard, the key of the last item it
*emitted* from that shard (a shard's next page starts right after it, as ``ExclusiveStartKey``) or that the shard
is exhausted. A shard's items come in the index's own order and the merge breaks ties by shard, so the next page
continues the merged order exactly where this one stopped: nothing skipped, nothing twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import heapq
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from handlers.contracts import REJECTED_PREFIX, TIME_SHARD, ledger_id, ledger_key, record_id, time_shards
from tap_templates.components.table import PARTITION_KEY, SORT_KEY, TIME_INDEX
from tap_templates.errors import ConfigError
from tap_templates.operations.environment import Environment, OperationError, reaching

PAGE = 500  # items per Query request at most (a request also stops at 1 MB)
WORKERS = 32  # shards read at once
Item = dict[str, Any]


def item_time(moment: dt.datetime) -> str:
    """A time as the items store it (UTC, milliseconds, "Z"), so BETWEEN compares like with like."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Window:
    """A time range of item timestamps, both ends included."""

    since: str
    until: str

    @classmethod
    def of(cls, since: dt.datetime, until: dt.datetime) -> Window:
        return cls(item_time(since), item_time(until))


@dataclass
class Cursor:
    """Where each shard's reading stands after a page: the key of its last emitted item, or done."""

    query: str  # what the cursor belongs to: a cursor of another query is refused
    after: dict[str, Item] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    shards: tuple[str, ...] = ()  # the query's (not encoded: the query knows them)

    def encode(self) -> str:
        body = {"q": self.query, "a": self.after, "d": sorted(self.done)}
        return base64.urlsafe_b64encode(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).decode()

    @classmethod
    def decode(cls, text: str, query: str) -> Cursor:
        try:
            body = json.loads(base64.urlsafe_b64decode(text.encode()))
            found = cls(body["q"], dict(body["a"]), set(body["d"]))
        except (ValueError, KeyError, TypeError):
            raise ConfigError("--cursor is not a cursor this command printed") from None
        if found.query != query:
            raise ConfigError(f"--cursor belongs to another query ({found.query}), not {query}")
        return found

    @property
    def more(self) -> bool:
        """Whether a next page may hold anything (some shard not read to its end)."""
        return not set(self.shards) <= self.done


class _Desc:
    """Reverses the order of a sort key in the heap (newest first)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.key == other.key


class _ShardReader:
    """One shard's items in the index's order, a page at a time; the next page is asked for (on the pool) once
    half of the current one is read."""

    def __init__(self, fetch: Callable[[str, Item | None, int], dict[str, Any]], shard: str, start: Item | None,
                 pool: ThreadPoolExecutor, page: int) -> None:
        self.fetch, self.shard, self.pool, self.page = fetch, shard, pool, page
        self.next: Future[dict[str, Any]] | None = pool.submit(fetch, shard, start, page)

    def __iter__(self) -> Iterator[Item]:
        while self.next is not None:
            response = self.next.result()
            self.next = None
            items, more = response.get("Items", []), response.get("LastEvaluatedKey")
            for position, item in enumerate(items):
                if more is not None and self.next is None and position >= len(items) // 2:
                    self.next = self.pool.submit(self.fetch, self.shard, more, self.page)
                yield item
            if more is not None and self.next is None:
                self.next = self.pool.submit(self.fetch, self.shard, more, self.page)


def index_key(item: Item) -> Item:
    """An item's key in the time index, as ``ExclusiveStartKey`` takes it (the table's key and the index's)."""
    return {name: item[name] for name in (PARTITION_KEY, SORT_KEY, TIME_SHARD)}


def fan_out(fetch: Callable[[str, Item | None, int], dict[str, Any]], shards: Sequence[str], newest_first: bool,
            limit: int | None, cursor: Cursor, page: int = PAGE) -> Iterator[Item]:
    """The items of every shard merged by time; ``cursor`` is read for where each shard starts and updated as
    items are emitted (stop at any point: it says where the next page starts)."""
    wanted = [s for s in shards if s not in cursor.done]
    page = min(page, limit) if limit else page  # a shard gives at most ``limit`` items to a page
    with ThreadPoolExecutor(max_workers=min(WORKERS, max(1, len(wanted)))) as pool:
        readers = [iter(_ShardReader(fetch, s, cursor.after.get(s), pool, page)) for s in wanted]
        heap: list[tuple[Any, int, Item]] = []

        def push(number: int) -> None:
            item = next(readers[number], None)
            if item is None:
                cursor.done.add(wanted[number])
                cursor.after.pop(wanted[number], None)
                return
            key = item[SORT_KEY]["S"]
            heapq.heappush(heap, (_Desc(key) if newest_first else key, number, item))

        for number in range(len(readers)):
            push(number)
        emitted = 0
        while heap and (limit is None or emitted < limit):
            _, number, item = heapq.heappop(heap)
            cursor.after[wanted[number]] = index_key(item)
            emitted += 1
            yield item
            push(number)


class TableQueries:
    """The queries of one environment's table in one region (any replica serves them)."""

    def __init__(self, env: Environment, region: str) -> None:
        self.env, self.region = env, region
        self.table = env.table
        # as many connections as shards read at once (botocore's default pool holds 10)
        session = env.aws.session
        self.dynamodb = session.client("dynamodb", region_name=region, endpoint_url=env.aws.endpoint_url,
                                       config=Config(max_pool_connections=WORKERS, retries={"mode": "standard"}))

    # -- the index -------------------------------------------------------------------------------------------
    def check_index(self) -> list[str]:
        """Refuse when the table has no time index; notes when it is still being built (results incomplete)."""
        try:
            with reaching(self.region):
                table = self.dynamodb.describe_table(TableName=self.table)["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise ConfigError(f"table {self.table} does not exist in {self.region}: deploy the environment "
                                  "first") from None
            raise
        found = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
        if TIME_INDEX not in found:
            raise ConfigError(f"table {self.table} has no index {TIME_INDEX} in {self.region} yet: deploy this "
                              f"version (its plan creates the index), then run reindex for older items")
        index = found[TIME_INDEX]
        if index.get("IndexStatus", "ACTIVE") != "ACTIVE" or index.get("Backfilling"):
            return [f"note: {TIME_INDEX} is {index.get('IndexStatus')} (backfilling): results are incomplete "
                    "until it is ACTIVE"]
        return []

    def _fetch(self, window: Window, newest_first: bool, extra: dict[str, Any] | None = None
               ) -> Callable[[str, Item | None, int], dict[str, Any]]:
        def fetch(shard: str, start: Item | None, page: int) -> dict[str, Any]:
            request: dict[str, Any] = {
                "TableName": self.table, "IndexName": TIME_INDEX, "ScanIndexForward": not newest_first,
                "Limit": page, "KeyConditionExpression": "#s = :s AND #t BETWEEN :since AND :until",
                "ExpressionAttributeNames": {"#s": TIME_SHARD, "#t": SORT_KEY},
                "ExpressionAttributeValues": {":s": {"S": shard}, ":since": {"S": window.since},
                                              ":until": {"S": window.until}},
            }
            if extra:
                request["ExpressionAttributeNames"].update(extra.get("names", {}))
                request["ExpressionAttributeValues"].update(extra.get("values", {}))
                request["FilterExpression"] = extra["filter"]
                if "key" in extra:
                    request["KeyConditionExpression"] = extra["key"]
            if start is not None:
                request["ExclusiveStartKey"] = start
            with reaching(self.region):
                return self.dynamodb.query(**request)  # type: ignore[no-any-return]
        return fetch

    # -- pattern 1 -------------------------------------------------------------------------------------------
    def rejected(self, window: Window, limit: int | None = None, cursor: str | None = None,
                 source_file: str | None = None, newest_first: bool = True, page: int = PAGE
                 ) -> tuple[Iterator[Item], Cursor]:
        """Rejected records in ``window``, newest first. With ``source_file`` (a ledger ID) only that file's: its
        rejected items all have ``timestamp`` = its ``processedAt``, so each shard is asked for that one time,
        filtered on ``sourceFile``, and ``window`` is not used."""
        shards = time_shards(REJECTED_PREFIX, self.env.cfg.table.rejected_shards)
        query = f"rejected:{source_file or ''}:{window.since}:{window.until}:{newest_first}"
        state = Cursor.decode(cursor, query) if cursor else Cursor(query)
        state.shards = shards
        extra = None
        if source_file is not None:
            started = self.processed_at(source_file)
            window = Window(started, started)
            extra = {"filter": "#f = :f", "names": {"#f": "sourceFile"}, "values": {":f": {"S": source_file}}}
        return fan_out(self._fetch(window, newest_first, extra), shards, newest_first, limit, state, page), state

    def processed_at(self, lid: str) -> str:
        """``processedAt`` of a file's items: its ledger item's ``startedAt``."""
        with reaching(self.region):
            item = self.dynamodb.get_item(TableName=self.table, Key=ledger_key(lid), ConsistentRead=True).get("Item")
        if item is None:
            raise ConfigError(f"no ledger item {lid} in {self.table} ({self.region}): no such file was processed")
        original = item.get("duplicateOf", {}).get("S")
        if original:
            raise ConfigError(f"{lid} is a re-upload of identical bytes; its records are those of {original}: "
                              f"ask for that one")
        if "startedAt" not in item:
            raise OperationError(f"ledger item {lid} has no startedAt: it was never processed")
        return str(item["startedAt"]["S"])

    # -- pattern 2 -------------------------------------------------------------------------------------------
    def data_type(self, data_type: str, window: Window, limit: int | None = None, cursor: str | None = None,
                  newest_first: bool = True, page: int = PAGE) -> tuple[Iterator[Item], Cursor]:
        """The records of one data type in ``window``."""
        table = self.env.cfg.table
        if not table.index_data_types:
            raise ConfigError(f"[table] index_data_types is false in {self.env.cfg.environment}: valid records are "
                              "not in the time index, so there is no query by data type (serve it from an export "
                              "of the table to S3, or turn it on, deploy, and reindex)")
        shards = time_shards(data_type, table.data_type_shards)
        query = f"data-type:{data_type}:{window.since}:{window.until}:{newest_first}"
        state = Cursor.decode(cursor, query) if cursor else Cursor(query)
        state.shards = shards
        return fan_out(self._fetch(window, newest_first), shards, newest_first, limit, state, page), state

    # -- pattern 3 -------------------------------------------------------------------------------------------
    def record(self, data_type: str, record: str, every_version: bool = False, window: Window | None = None
               ) -> list[Item]:
        """One record by data type and id: its newest version (the table's sort key is the record's time), or
        every version with ``every_version``; within ``window`` when given."""
        request: dict[str, Any] = {
            "TableName": self.table, "ScanIndexForward": False, "KeyConditionExpression": "#r = :r",
            "ExpressionAttributeNames": {"#r": PARTITION_KEY},
            "ExpressionAttributeValues": {":r": {"S": record_id(data_type, record)}},
        }
        if window is not None:
            request["KeyConditionExpression"] += " AND #t BETWEEN :since AND :until"
            request["ExpressionAttributeNames"]["#t"] = SORT_KEY
            request["ExpressionAttributeValues"] |= {":since": {"S": window.since}, ":until": {"S": window.until}}
        if not every_version:
            request["Limit"] = 1
        found: list[Item] = []
        with reaching(self.region):
            while True:
                response = self.dynamodb.query(**request)
                found += response.get("Items", [])
                more = response.get("LastEvaluatedKey")
                if not every_version or more is None:
                    return found[:1] if not every_version else found
                request["ExclusiveStartKey"] = more


def file_id(env: Environment, region: str, key: str, version_id: str | None = None) -> str:
    """The ledger ID of an object version of the region's ingestion bucket: the version named, else the current
    one (its version ID and ETag read with HeadObject)."""
    bucket = env.bucket(region)
    params = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    try:
        with reaching(region):
            head = env.client("s3", region).head_object(**params)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in (400, 404):
            raise ConfigError(f"no object s3://{bucket}/{key}" + (f" version {version_id}" if version_id else "")
                              + ": give the ledger ID with --file instead") from None
        raise
    return ledger_id(key, head.get("VersionId") or version_id, str(head.get("ETag", "")).strip('"'))
