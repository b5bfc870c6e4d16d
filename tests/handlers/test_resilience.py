"""Transient trouble: the deadline, throttling, unprocessed items, a failing table, a held lease.

Faults are injected at the HTTP layer with botocore event hooks on the handler's own clients (registered
first, so they answer before moto does); the SDK's retry backoff is set to zero so the tests stay fast.
In every case: nothing lost, nothing written twice, and records in = processed + rejected.
"""

from __future__ import annotations

import gzip
import io
import json

import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

from handlers import clients, contracts, ledger, writer
from handlers.contracts import LedgerStatus
from tests.handlers.helpers import REGION, FakeContext, jsonl, sensor


@pytest.fixture(autouse=True)
def no_sdk_backoff(monkeypatch):
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(writer, "BACKOFF_BASE_S", 0.001)


class _Raw(io.BytesIO):
    def stream(self, **_):
        yield self.getvalue()


def response(status: int, body: dict, request, applied: bytes | None = None) -> AWSResponse:
    """An answer for ``request`` that never reaches moto: botocore asks every before-send hook and takes the
    first answer, so the request is sent nowhere moto listens (as a refused request was never applied),
    or, with ``applied``, moto gets that body instead (the part of the request the table did apply)."""
    if applied is None:
        request.url = "https://fault-injected.invalid/"
    else:
        request.body = applied
        request.headers["Content-Length"] = str(len(applied))
    data = json.dumps(body).encode()
    headers = {"x-amzn-requestid": "fault", "content-type": "application/x-amz-json-1.0"}
    result = AWSResponse(request.url, status, headers, _Raw(data))
    result._content = data
    return result


def throttle(times: int, code: str = "ProvisionedThroughputExceededException"):
    """A before-send hook failing the first ``times`` BatchWriteItem calls, then letting moto answer."""
    calls = {"failed": 0, "total": 0}

    def hook(request, **_):
        calls["total"] += 1
        if calls["failed"] < times:
            calls["failed"] += 1
            return response(400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow down"},
                            request)
        return None

    hook.calls = calls
    return hook


def mixed_records(n: int) -> list:
    return [sensor(i) if i % 10 else {"id": f"bad-{i}", "dataType": "sensor"} for i in range(n)]


def assert_exactly_once(pipeline, n_good: int, n_bad: int) -> None:
    items = pipeline.records()
    assert len(items) == n_good + n_bad
    assert len(pipeline.records("PROCESSED")) == n_good and len(pipeline.records("REJECTED")) == n_bad
    entry = pipeline.ledger()
    assert entry["status"] == LedgerStatus.COMPLETED
    assert (entry["processed"], entry["rejected"], entry["records"]) == (n_good, n_bad, n_good + n_bad)


def test_throttling_is_retried_by_the_sdk_and_nothing_is_lost(pipeline, inject):
    hook = throttle(2)
    inject("dynamodb", "before-send.dynamodb.BatchWriteItem", hook)
    assert pipeline.process("t.jsonl", jsonl(mixed_records(120))) == {"batchItemFailures": []}
    assert hook.calls["failed"] == 2 and hook.calls["total"] == 5 + 2
    assert_exactly_once(pipeline, 108, 12)


def test_unprocessed_items_are_retried_until_written(pipeline, inject, emf):
    state = {"left": 3}

    def partial(request, **_):
        """Answer success but hand back the last 10 items unwritten, three times."""
        if state["left"] <= 0:
            return None
        state["left"] -= 1
        body = json.loads(request.body)
        ((table, puts),) = body["RequestItems"].items()
        if len(puts) <= 10:
            return None
        applied = json.dumps({"RequestItems": {table: puts[:-10]}}).encode()
        return response(200, {"UnprocessedItems": {table: puts[-10:]}}, request, applied=applied)

    inject("dynamodb", "before-send.dynamodb.BatchWriteItem", partial)
    pipeline.process("u.jsonl", jsonl([sensor(i) for i in range(50)]))
    metrics = emf()
    assert metrics["UnprocessedRetries"] >= 1
    items = pipeline.records("PROCESSED")
    assert len(items) == 50
    assert pipeline.ledger()["processed"] == 50


def test_a_table_that_keeps_failing_opens_the_breaker_and_everything_resumes_later(pipeline, inject, emf):
    hook = throttle(10_000, code="InternalServerError")
    inject("dynamodb", "before-send.dynamodb.BatchWriteItem", hook)
    first = pipeline.put("a.jsonl", jsonl([sensor(i) for i in range(100)]))
    second = pipeline.put("b.jsonl", jsonl([sensor(i) for i in range(100, 130)]))
    third = pipeline.put("c.jsonl", jsonl([sensor(i) for i in range(200, 210)]))
    event = pipeline.event(first, second, third)
    result = pipeline.run(event)
    assert len(result["batchItemFailures"]) == 3  # the breaker opened: the third file was not even tried
    assert pipeline.records() == []
    assert hook.calls["total"] <= 2 * 2 * 4 * 2  # two files at most, each stopped at its first failed batch
    assert emf()["CircuitBreakerOpen"] == 1
    assert all(e["status"] == LedgerStatus.IN_PROGRESS and e["leaseUntil"] == 0 for e in pipeline.ledgers())

    clients.dynamodb(REGION).meta.events.unregister("before-send.dynamodb.BatchWriteItem", hook)
    assert pipeline.run(event) == {"batchItemFailures": []}
    assert len(pipeline.records("PROCESSED")) == 140
    assert sorted(e["processed"] for e in pipeline.ledgers()) == [10, 30, 100]


def test_errors_on_some_batches_are_retried_without_duplicates(pipeline, inject):
    """Every third request fails with a 500 after the SDK's retries; the file is resumed until done."""
    calls = {"n": 0}

    def flaky(request, **_):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            return response(500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError"}, request)
        return None

    inject("dynamodb", "before-send.dynamodb.BatchWriteItem", flaky)
    record = pipeline.put("flaky.jsonl", jsonl(mixed_records(300)))
    for _ in range(10):
        if pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}:
            break
    assert_exactly_once(pipeline, 270, 30)


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "csv", "json"])
def test_deadline_stops_cleanly_and_the_retry_resumes_from_the_offset(pipeline, inject, emf, fmt):
    records = mixed_records(400)
    if fmt == "csv":
        header = ["id", "dataType", "timestamp", "deviceId", "metric", "value", "unit"]
        body = "\n".join([",".join(header)] + [",".join(str(r.get(c, "")) for c in header) for r in records])
        data = body.encode()
    elif fmt == "json":
        data = json.dumps(records).encode()
    else:
        data = jsonl(records)
    if fmt.endswith(".gz"):
        data = gzip.compress(data)
    record = pipeline.put(f"big.{fmt}", data)
    gets = []
    inject("s3", "before-send.s3.GetObject", lambda request, **_: gets.append(request.headers.get("Range")))

    # Each look at the clock costs 5 s: the deadline (less the 10 s margin) comes after a few batches.
    context = FakeContext(remaining_ms=[60_000], step_ms=5_000)
    result = pipeline.run(pipeline.event(record), context)
    assert len(result["batchItemFailures"]) == 1
    entry = pipeline.ledger()
    assert entry["status"] == LedgerStatus.IN_PROGRESS and entry["leaseUntil"] == 0
    done = int(entry["offset"])
    assert 0 < done < 400 and done % 25 == 0
    assert entry["records"] == done == entry["processed"] + entry["rejected"]
    assert len(pipeline.records()) >= done
    if fmt == "jsonl":
        assert entry["byteOffset"] == len(jsonl(records[:done])) and entry["lineOffset"] == done
    assert emf()["FilesIncomplete"] == 1

    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert_exactly_once(pipeline, 360, 40)
    entry = pipeline.ledger()
    assert entry["attempts"] == 2 and entry["bytes"] >= len(data)
    if fmt == "jsonl":  # the retry read only the rest of the object
        assert gets == [None, f"bytes={len(jsonl(records[:done]))}-".encode()]
    else:
        assert gets == [None, None]


def test_a_file_leased_by_a_live_invocation_is_retried_later(pipeline, emf):
    record = pipeline.put("busy.jsonl", jsonl([sensor(1)]))
    obj = record["s3"]["object"]
    lid = contracts.ledger_id("busy.jsonl", obj["versionId"], obj["eTag"])
    other = ledger.Ledger(pipeline.dynamodb, pipeline.table, "other-invocation/msg", REGION)
    claim = other.claim(lid, {"bucket": "b"}, now_iso="2024-01-01T00:00:00.000Z",
                        now_ms=2**42, lease_ms=10**9, expires_at=2**31)
    assert claim.result is ledger.ClaimResult.CLAIMED
    assert len(pipeline.run(pipeline.event(record))["batchItemFailures"]) == 1
    assert pipeline.records() == []
    # once the other invocation's lease has expired, the file is taken over
    other.save(lid, claim.progress, "2024-01-01T00:00:01.000Z", lease_until=0)
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert len(pipeline.records()) == 1


def test_an_unexpected_error_retries_only_its_message(pipeline, inject):
    good = pipeline.put("good.jsonl", jsonl([sensor(1)]))
    bad = pipeline.put("bad.jsonl", jsonl([sensor(2)]))
    event = pipeline.event(good, bad)
    bad_id = event["Records"][1]["messageId"]

    def explode(request, **_):
        if b"bad.jsonl" in (request.body or b""):
            raise RuntimeError("boom")  # something no handler code expects

    inject("dynamodb", "before-send.dynamodb.UpdateItem", explode)
    assert pipeline.run(event) == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    assert [i["recordId"] for i in pipeline.records()] == ["sensor#s-1"]


def test_progress_is_saved_on_the_way(pipeline, inject, monkeypatch):
    monkeypatch.setenv("CHECKPOINT_INTERVAL_MS", "0")  # after every batch
    from handlers import settings

    settings.current.cache_clear()
    saved = []

    def watch(request, **_):
        body = json.loads(request.body)
        if "ConditionExpression" in body and body["ConditionExpression"] == "#leaseOwner = :owner":
            saved.append(int(body["ExpressionAttributeValues"][":offset"]["N"]))

    inject("dynamodb", "before-send.dynamodb.UpdateItem", watch)
    pipeline.process("steps.jsonl", jsonl([sensor(i) for i in range(110)]))
    assert saved[-1] == 110 and saved == sorted(saved) and len(saved) >= 4
    assert all(offset % 25 == 0 for offset in saved[:-1])


class _Breaks(io.RawIOBase):
    """An HTTP body that delivers ``data`` and then loses the connection."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size=-1):
        if self.data:
            out, self.data = self.data[:size], self.data[size:]
            return out
        from urllib3.exceptions import ProtocolError

        raise ProtocolError("Connection broken: IncompleteRead")


def test_a_read_that_breaks_off_is_resumed_without_loss(pipeline, inject):
    body = jsonl(mixed_records(200))
    record = pipeline.put("broken-read.jsonl", body)
    state = {"broken": False}

    def break_once(request, **_):
        if state["broken"]:
            return None
        state["broken"] = True
        headers = {"content-length": str(len(body)), "x-amz-version-id": record["s3"]["object"]["versionId"]}
        result = AWSResponse(request.url, 200, headers, _Breaks(body[: len(body) // 2]))
        request.url = "https://fault-injected.invalid/"
        return result

    inject("s3", "before-send.s3.GetObject", break_once)
    assert len(pipeline.run(pipeline.event(record))["batchItemFailures"]) == 1
    entry = pipeline.ledger()
    assert entry["status"] == LedgerStatus.IN_PROGRESS and 0 < entry["offset"] < 200
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert_exactly_once(pipeline, 180, 20)
