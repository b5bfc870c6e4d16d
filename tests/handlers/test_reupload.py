"""Re-uploads and odd notifications: a file's outcome never depends on how (or how often) it arrived.

Every test runs the real handler against moto through real boto3 clients (see ``conftest``).
"""

from __future__ import annotations

import pytest

from tests.handlers.helpers import Pipeline, jsonl, sensor


@pytest.mark.parametrize("event_time", ["2024-05-01T12:00:00", "2024-05-01T12:00:00.123456", "2024-05-01"])
def test_a_zone_less_event_time_is_read_as_utc_and_the_file_completes(pipeline: Pipeline, emf, event_time):
    """A hand-made or backfilled event without ``Z`` or an offset: the latency is measured from UTC, and the
    completed file is acknowledged (before the fix, subtracting a naive time raised and the file retried)."""
    record = pipeline.put("naive/time.jsonl", jsonl([sensor(1), sensor(2)]))
    record["eventTime"] = event_time
    assert pipeline.run(pipeline.event(record)) == {"batchItemFailures": []}
    assert pipeline.ledger()["status"] == "COMPLETED"
    metrics = emf()
    assert metrics["FilesCompleted"] == 1 and metrics["FileLatency"] > 0
