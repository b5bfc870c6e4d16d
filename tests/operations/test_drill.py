"""The disaster drill, end to end on the emulated pipeline (``tap_templates.local.pipeline``), with the real
handler and the operations tools as an operator runs them:

1. the primary processes a batch; a second file's invocation dies before marking it complete (its records are
   written, its ledger item stays IN_PROGRESS); a third batch arrives;
2. everything is replicated to the secondary. moto replicates neither S3 nor the global table: the
   simulation's shim (``LocalPipeline.replicate``) copies the object versions (same key and version ID, so the
   replicas' S3 events reach the secondary's queue) and the table items, standing in for both;
3. the primary region fails: its endpoints stop answering the tools, and its processor never runs again;
4. ``promote`` makes the secondary active (the primary cannot be fenced: a warning), which processes exactly
   the unfinished files and skips the completed ones: checked in the ledger (region, attempts), in the
   duplicate deliveries, and in the table (one item per record, never two);
5. the primary comes back: running ``promote`` again fences it; ``reconcile`` reports nothing missing;
   ``failback`` restores the roles, and the primary's old queue turns out to hold only duplicates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from handlers import clients
from handlers.contracts import ledger_id
from tap_templates.local import container
from tap_templates.operations import failover, reconcile
from tests.operations.conftest import CFG
from tests.operations.helpers import file_items, jsonl, ledger_item

PRIMARY, SECONDARY = CFG.primary_region, CFG.secondary_regions[0]
FIRST = {f"first/{i}.jsonl": 5 + i for i in range(3)}
CRASHED = {"crashed/big.jsonl": 60}
LATE = {f"late/{i}.jsonl": 4 + i for i in range(3)}
pytestmark = pytest.mark.slow


class DieBeforeCompleting:
    """Lambda killing the invocation (timeout, out of memory) just before it marks the file COMPLETED: a
    hook on the handler's own DynamoDB client, on the ledger write that follows the claim."""

    def __init__(self) -> None:
        self.updates = 0

    def __call__(self, **_: Any) -> None:
        self.updates += 1
        if self.updates == 2:  # 1: the claim, 2: the save as COMPLETED
            raise container.InvocationKilled()


def upload(pipeline, files: dict[str, int]) -> dict[str, str]:
    """Upload to the primary; the ledger ID of each key."""
    found = {}
    for key, records in files.items():
        version = pipeline.upload(PRIMARY, key, jsonl(key.replace("/", "-"), records))
        etag = pipeline.client("s3", PRIMARY).head_object(Bucket=pipeline.bucket(PRIMARY), Key=key)["ETag"]
        found[key] = ledger_id(key, version, etag.strip('"'))
    return found


def quiet(*_: object) -> None:
    pass


def test_disaster_drill(env, pipeline, outage):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    records = {**FIRST, **CRASHED, **LATE}

    # 1. normal operation, then a crash mid-file, then more files the primary will never see
    lids = upload(pipeline, FIRST)
    assert {f.key: f.status for f in pipeline.drain(PRIMARY).files} == dict.fromkeys(FIRST, "COMPLETED")
    lids |= upload(pipeline, CRASHED)
    pipeline.container(PRIMARY)
    killer = DieBeforeCompleting()
    clients.dynamodb(PRIMARY).meta.events.register_first("before-call.dynamodb.UpdateItem", killer)
    crashed = pipeline.drain(PRIMARY, max_invocations=1)
    pipeline.close()  # a new container: the hook goes with the old one's clients
    assert crashed.function_errors == 1
    crashed_item = ledger_item(pipeline, PRIMARY, lids["crashed/big.jsonl"])
    assert crashed_item["status"] == "IN_PROGRESS" and crashed_item["region"] == PRIMARY
    assert file_items(pipeline, PRIMARY, lids["crashed/big.jsonl"]) == CRASHED["crashed/big.jsonl"], "all written"
    lids |= upload(pipeline, LATE)

    # 2. replication (the shim: see the module docstring)
    assert pipeline.replicate() == len(records)

    # 3. the primary region fails
    outage.down.add(PRIMARY)
    before = reconcile.run(env, start, dt.datetime.now(dt.UTC))
    assert any(d.startswith(f"{PRIMARY}: bucket ") for d in before.discrepancies)
    assert {f.key: f.status for f in before.findings} == {"crashed/big.jsonl": "IN_PROGRESS",
                                                          **dict.fromkeys(LATE, "MISSING")}

    # 4. promote the secondary: it processes what the primary did not finish, and only that
    promoted = failover.promote(env, SECONDARY, quiet, quiet, poll_seconds=0.01)
    assert len(promoted.warnings) == 2, "the unreachable primary could be neither fenced nor recorded"
    assert promoted.states[SECONDARY].active
    drained = pipeline.drain(SECONDARY)
    delivered = {f.key: f for f in drained.files}
    assert set(delivered) == set(records), "every replicated object's event reached the secondary's queue"
    for key in FIRST:
        assert (delivered[key].deliveries, delivered[key].duplicate_deliveries) == (1, 1), key
    for key in (*CRASHED, *LATE):
        assert delivered[key].duplicate_deliveries == 0 and delivered[key].status == "COMPLETED", key
    for key, lid in lids.items():
        item = ledger_item(pipeline, SECONDARY, lid)
        assert item["status"] == "COMPLETED" and item["records"] == records[key], key
        done_by, attempts = (PRIMARY, 1) if key in FIRST else (SECONDARY, 2 if key in CRASHED else 1)
        assert (item["region"], item["attempts"]) == (done_by, attempts), key
        assert file_items(pipeline, SECONDARY, lid) == records[key], f"{key}: one item per record, never two"

    # 5. the primary comes back, still processing: the same promote fences it
    pipeline.replicate()
    outage.down.clear()
    assert failover.summary(failover.status(env)).startswith("2 regions are active")
    refenced = failover.promote(env, SECONDARY, quiet, quiet, poll_seconds=0.01)
    assert refenced.warnings == [] and refenced.states[PRIMARY].passive
    assert pipeline.drain(PRIMARY).stopped == "disabled"

    after = reconcile.run(env, start, dt.datetime.now(dt.UTC))
    assert after.discrepancies == []
    assert {r.region: dict(r.counts) for r in after.regions} == {r: {"COMPLETED": len(records)} for r in CFG.regions}

    steps, _ = failover.failback(env, start, dt.datetime.now(dt.UTC))
    back = failover.execute(env, PRIMARY, steps, quiet, quiet, poll_seconds=0.01)
    assert (back.states[PRIMARY].active, back.states[SECONDARY].passive) == (True, True)
    leftovers = pipeline.drain(PRIMARY)  # the events the primary never processed are still in its queue
    assert leftovers.files and all(f.duplicate_deliveries == f.deliveries for f in leftovers.files)
    for key, lid in lids.items():
        assert file_items(pipeline, PRIMARY, lid) == records[key], key
    assert failover.summary(failover.status(env)) == f"active region: {PRIMARY}"
