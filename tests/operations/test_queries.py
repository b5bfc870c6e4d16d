"""The documented queries (patterns 1 to 3) on items the real handler wrote into moto: every shard read, the
merge in time order, pages that continue exactly where the last one stopped, and the reasons a query refuses.
What moto cannot show: the index's eventual consistency and its backfill (moto's index is always ACTIVE and
current), and DynamoDB's 1 MB page limit (pages here end at ``Limit``)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from tap_templates.errors import ConfigError
from tap_templates.operations import queries
from tests.operations.records import reconfigured, world

WINDOW = queries.Window("2024-05-01T00:00:00.000Z", "2024-05-09T00:00:00.000Z")
HOUR = dt.timedelta(hours=1)
NOW = queries.Window.of(dt.datetime.now(dt.UTC) - HOUR, dt.datetime.now(dt.UTC) + HOUR)


@pytest.fixture(scope="module")
def filled():
    """Three files of 150 records (about 100 sensor, 40 event and 17 rejected each) over 4 data-type shards and 3
    rejected shards; shared by the read-only tests of this module."""
    with pytest.MonkeyPatch.context() as monkeypatch, world(monkeypatch) as w:
        rng = random.Random(7)
        for number in range(3):
            w.process(f"in/file-{number}.jsonl", records_of(number, rng))
        yield w


def records_of(number, rng):
    from tests.operations.records import mixed_file

    return mixed_file(number, 150, rng)


def keys(items):
    return [(i["recordId"]["S"], i["timestamp"]["S"]) for i in items]


def newest_first(items):
    return sorted(items, key=lambda i: (i["timestamp"]["S"]), reverse=True)


def read_pages(read, limit):
    """Every page of a query, following each page's cursor; the pages."""
    pages, cursor = [], None
    while True:
        items, state = read(limit, cursor)
        pages.append(list(items))
        if not state.more:
            return pages
        cursor = state.encode()
        assert len(pages) < 500, "the pages never end"


def test_records_of_a_data_type_come_from_every_shard_newest_first(filled):
    table = queries.TableQueries(filled.env, "us-east-1")
    items, cursor = table.data_type("sensor", WINDOW, page=10)
    found = list(items)
    expected = [i for i in filled.records("PROCESSED") if i["dataType"]["S"] == "sensor"
                and WINDOW.since <= i["timestamp"]["S"] <= WINDOW.until]
    assert len(found) == len(expected) > 250
    assert sorted(keys(found)) == sorted(keys(expected))
    assert [i["timestamp"]["S"] for i in found] == sorted((i["timestamp"]["S"] for i in found), reverse=True)
    assert {i["timeShard"]["S"] for i in found} == {f"sensor#{n:03d}" for n in range(4)}, "four shards read"
    assert not cursor.more


def test_pages_continue_where_the_last_one_stopped(filled):
    table = queries.TableQueries(filled.env, "us-east-1")
    whole = list(table.data_type("event", WINDOW)[0])
    pages = read_pages(lambda limit, cursor: table.data_type("event", WINDOW, limit, cursor), 7)
    assert all(len(page) == 7 for page in pages[:-1]) and len(pages) > 10
    assert keys([i for page in pages for i in page]) == keys(whole), "nothing skipped, nothing twice, same order"


def test_oldest_first_and_a_narrower_window(filled):
    table = queries.TableQueries(filled.env, "us-east-1")
    window = queries.Window("2024-05-02T00:00:10.000Z", "2024-05-02T00:01:30.999Z")
    found = list(table.data_type("sensor", window, newest_first=False)[0])
    expected = [i for i in filled.records("PROCESSED") if i["dataType"]["S"] == "sensor"
                and window.since <= i["timestamp"]["S"] <= window.until]
    assert keys(found) == keys(sorted(expected, key=lambda i: i["timestamp"]["S"]))
    assert found and all(i["timestamp"]["S"].startswith("2024-05-02T00:0") for i in found)


def test_rejected_records_newest_first_in_pages(filled):
    table = queries.TableQueries(filled.env, "us-east-1")
    expected = filled.records("REJECTED")
    pages = read_pages(lambda limit, cursor: table.rejected(NOW, limit, cursor, page=4), 5)
    found = [i for page in pages for i in page]
    assert sorted(keys(found)) == sorted(keys(expected)) and len(found) == len(set(keys(found))) > 40
    assert [i["timestamp"]["S"] for i in found] == sorted((i["timestamp"]["S"] for i in found), reverse=True)
    assert {i["timeShard"]["S"] for i in found} == {"REJECTED#000", "REJECTED#001", "REJECTED#002"}


def test_rejected_records_of_one_file(filled):
    table = queries.TableQueries(filled.env, "us-east-1")
    lid = filled.lids[1]
    found = list(table.rejected(queries.Window("", ""), source_file=lid)[0])
    expected = [i for i in filled.records("REJECTED") if i["sourceFile"]["S"] == lid]
    assert sorted(keys(found)) == sorted(keys(expected)) and len(found) > 5


def test_one_record_by_data_type_and_id_newest_or_every_version(filled):
    table = queries.TableQueries(filled.env, "us-east-1")
    some = next(i for i in filled.records("PROCESSED") if i["dataType"]["S"] == "sensor")
    (found,) = table.record("sensor", some["id"]["S"])
    assert keys([found]) == keys([some])
    filled.process("in/later.jsonl", [{"id": some["id"]["S"], "dataType": "sensor", "deviceId": "d", "metric": "m",
                                       "timestamp": "2024-06-01T00:00:00.000Z", "value": 1}])
    newest, *older = table.record("sensor", some["id"]["S"], every_version=True)
    assert newest["timestamp"]["S"] == "2024-06-01T00:00:00.000Z" and keys(older) == keys([some])
    assert table.record("sensor", some["id"]["S"])[0]["timestamp"]["S"] == "2024-06-01T00:00:00.000Z"
    assert table.record("sensor", "no-such-id") == []


def test_more_shards_read_what_fewer_shards_wrote(filled):
    """Shard counts may grow: the query fans out over the new count, whose shards include the old ones."""
    table = queries.TableQueries(reconfigured(filled, data_type_shards=9), "us-east-1")
    found = list(table.data_type("sensor", WINDOW)[0])
    expected = [i for i in filled.records("PROCESSED") if i["dataType"]["S"] == "sensor"
                and WINDOW.since <= i["timestamp"]["S"] <= WINDOW.until]
    assert sorted(keys(found)) == sorted(keys(expected))


def test_a_cursor_of_another_query_and_queries_the_config_turns_off_are_refused(filled):
    table = queries.TableQueries(filled.env, "us-east-1")
    _, state = table.data_type("sensor", WINDOW, limit=3)
    with pytest.raises(ConfigError, match="belongs to another query"):
        table.data_type("event", WINDOW, 3, state.encode())
    with pytest.raises(ConfigError, match="not a cursor"):
        table.data_type("event", WINDOW, 3, "garbage")
    off = queries.TableQueries(reconfigured(filled, index_data_types=False), "us-east-1")
    with pytest.raises(ConfigError, match="index_data_types is false"):
        off.data_type("sensor", WINDOW)
    assert table.check_index() == []
