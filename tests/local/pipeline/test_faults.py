"""Fault injection: throttling and 5xx answers from DynamoDB and S3 at random points, bursts that outlast the
SDK's retries, invocations killed mid-file and invocations running out of time. After the retries the event
source mapping makes, every record is stored exactly once: nothing lost, nothing duplicated.

Faults are botocore ``before-send`` hooks on the handler's own clients: the request never reaches moto, and
botocore parses the injected answer as the service's error, exactly as from AWS."""

from __future__ import annotations

import hashlib
import json
import random
import urllib.parse

import pytest

from tap_templates.local.container import InvocationKilled
from tests.local.pipeline.conftest import PRIMARY
from tests.local.pipeline.helpers import (
    assert_completed,
    csv_text,
    error_response,
    event,
    gz,
    jsonl,
    ledger,
    records_of,
    sensor,
    table,
)

SDK_ATTEMPTS = 5  # handlers/clients.py: standard mode, max_attempts 4 = botocore retries, after the first try
ERRORS = {"dynamodb": [(400, "ThrottlingException"), (400, "ProvisionedThroughputExceededException"),
                       (500, "InternalServerError"), (503, "ServiceUnavailable")],
          "s3": [(503, "SlowDown"), (500, "InternalError"), (503, "ServiceUnavailable")]}


class Faults:
    """Fails a request with probability ``rate``; the requests numbered in ``bursts`` fail on every one of the
    SDK's attempts (a retry is the same method, path and body), so the SDK gives up and the handler must cope."""

    def __init__(self, service: str, rng: random.Random, rate: float, bursts: set[int]) -> None:
        self.service, self.rng, self.rate, self.bursts = service, rng, rate, bursts
        self.calls = self.injected = 0
        self.burst_started = False
        self.doomed: dict[tuple[str, str, str], int] = {}

    def __call__(self, request, **_):
        self.calls += 1
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        identity = (request.method, urllib.parse.urlsplit(request.url).path, hashlib.sha256(body).hexdigest())
        if self.calls in self.bursts:
            self.doomed[identity] = SDK_ATTEMPTS
            self.burst_started = True
        if self.doomed.get(identity) or self.rng.random() < self.rate:
            if self.doomed.get(identity):
                self.doomed[identity] -= 1
            self.injected += 1
            status, code = self.rng.choice(ERRORS[self.service])
            return error_response(request, status, code, self.service)
        return None


def corpus(prefix: str) -> dict[str, tuple[bytes, int, int]]:
    """A few files of every format, with bad records: key -> (body, processed, rejected)."""
    lines = [sensor(f"{prefix}j{i}", i) for i in range(90)] + [{"id": f"{prefix}bad", "dataType": "sensor"}]
    rows = [[f"{prefix}c{i}", "event", 1714550400 + i, "badge.scanned"] for i in range(70)] + [["", "event", 1, "x"]]
    array = [event(f"{prefix}a{i}", i) for i in range(60)] + [{"id": f"{prefix}x", "dataType": "event"}] * 2
    return {
        "faults/lines.jsonl": (jsonl(lines), 90, 1),
        "faults/rows.csv.gz": (gz(csv_text(["id", "dataType", "timestamp", "name"], rows)), 70, 1),
        "faults/array.json": (json.dumps(array).encode(), 60, 2),
        "faults/more lines é.ndjson.gz": (gz(jsonl([sensor(f"{prefix}n{i}", i) for i in range(40)])), 40, 0),
    }


def upload(pipeline, prefix: str, files: dict[str, tuple[bytes, int, int]]) -> dict[str, str]:
    return {key: pipeline.upload(PRIMARY, prefix + key, body) for key, (body, _p, _r) in files.items()}


def assert_exactly_once(pipeline, prefix: str, files, versions) -> None:
    items = table(pipeline, PRIMARY)
    letters = pipeline.dead_letters(PRIMARY)
    assert not letters, f"nothing may reach the DLQ: {letters}"
    for key, (_body, processed, rejected) in files.items():
        assert_completed(pipeline, PRIMARY, prefix + key, versions[key], processed, rejected, items=items,
                         letters=letters)
    mine = [i for i in items.values() if str(i.get("sourceKey", "")).startswith(prefix)]
    assert len(mine) == sum(p + r for _b, p, r in files.values()), "no item of another version or a stray copy"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_throttling_and_server_errors_at_random_points_lose_and_duplicate_nothing(
        pipeline, prefix, inject, no_sdk_backoff, seed):
    rng = random.Random(seed)
    files = corpus(prefix)
    versions = upload(pipeline, prefix, files)
    table_faults = Faults("dynamodb", rng, rate=0.08, bursts={rng.randint(2, 12)})
    s3_faults = Faults("s3", rng, rate=0.15, bursts={rng.randint(1, 4)})
    inject(PRIMARY, "dynamodb", "before-send.dynamodb", table_faults)
    inject(PRIMARY, "s3", "before-send.s3", s3_faults)
    report = pipeline.drain(PRIMARY)
    # Both services failed, a burst started in each, and (below) one outlasted the SDK's retries. How many of a
    # burst's answers are sent depends on timing (the writer's threads order the requests; an invocation near its
    # deadline stops asking, and its redelivery resumes with other requests): under load a seed once saw 3 of 5,
    # so the count is not asserted.
    assert table_faults.burst_started and s3_faults.burst_started
    assert table_faults.injected > 1 and s3_faults.injected > 1
    assert report.messages_retried >= 1, "a table request failed past the SDK's retries: SQS redelivered"
    assert report.messages_left == 0 and report.stopped == "drained"
    assert_exactly_once(pipeline, prefix, files, versions)


@pytest.mark.parametrize("after_writes", [1, 3, 6])
def test_an_invocation_killed_mid_file_is_retried_without_loss_or_duplicates(pipeline, prefix, inject, after_writes):
    """The hook raises ``InvocationKilled`` (a BaseException, as the runtime's kill is not catchable) from
    inside the table writes: no ledger update, no lease release; the batch comes back after the visibility
    timeout and the retry takes the file over once its lease has ended."""
    files = corpus(prefix)
    versions = upload(pipeline, prefix, files)
    writes = {"n": 0, "killed": 0}

    def kill(request, **_):
        writes["n"] += 1
        if writes["n"] == after_writes and not writes["killed"]:
            writes["killed"] += 1
            raise InvocationKilled

    inject(PRIMARY, "dynamodb", "before-send.dynamodb.BatchWriteItem", kill)
    report = pipeline.drain(PRIMARY)
    assert writes["killed"] == 1 and report.function_errors == 1
    killed = [f for f in report.files if f.attempts > 1]
    assert killed, "the killed file was taken over by a later invocation"
    assert_exactly_once(pipeline, prefix, files, versions)


def test_invocations_that_run_out_of_time_resume_where_they_stopped(pipeline, prefix):
    """Two invocations with 80 ms to live stop mid-file (the handler saves its offset and releases the file);
    the next ones, with the function's own timeout, resume there: every line once."""
    big = jsonl([sensor(f"{prefix}{i}", i) for i in range(500)] + [{"id": "bad"}] * 5)
    files = {"slow/big.jsonl": (big, 500, 5), "slow/big.json.gz": (gz(json.dumps(
        [event(f"{prefix}e{i}", i) for i in range(300)]).encode()), 300, 0)}
    versions = upload(pipeline, prefix, files)
    first = pipeline.drain(PRIMARY, deadline_ms=80, max_invocations=2)
    assert first.stopped == "max_invocations" and first.messages_retried >= 2
    stopped = ledger(table(pipeline, PRIMARY), prefix + "slow/big.jsonl", versions["slow/big.jsonl"])
    assert stopped["status"] == "IN_PROGRESS" and 0 < stopped["offset"] < 505, stopped
    assert stopped["byteOffset"] > 0, "uncompressed JSON Lines resume by byte"
    rest = pipeline.drain(PRIMARY)
    assert rest.messages_left == 0
    assert rest.file(prefix + "slow/big.jsonl").attempts >= 2
    assert_exactly_once(pipeline, prefix, files, versions)
    items = table(pipeline, PRIMARY)
    lines = sorted(int(i["sourceLine"]) for i in records_of(items, prefix + "slow/big.jsonl",
                                                              versions["slow/big.jsonl"]))
    assert lines == list(range(1, 506)), "every line once"
