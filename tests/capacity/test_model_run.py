"""The model run on a small input, against a hand count.

The table's indexes are the test's own (put into a copy of the rendered dev template), so the hand count
holds whatever indexes the shipped template defines: ``ByType`` on ``dataType`` (projection ALL, valid records
only) and ``ByStatus`` on ``processingStatus`` (KEYS_ONLY, valid and rejected records). The handler, its items
and its ledger writes are the real ones.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tap_templates.capacity import measure, workload

ROOT = Path(__file__).resolve().parents[2]
MIX = workload.Mix(records_per_second=100, record_bytes=300, rejected_share=0.1, seed=5)
FILES, PER_FILE = 4, 50


def template_with_own_indexes() -> dict:
    template = json.loads((ROOT / "build" / "dev" / "us-east-1.json").read_text())
    template = copy.deepcopy(template)
    table = template["Resources"]["RecordsTable"]["Properties"]
    table["AttributeDefinitions"] = [{"AttributeName": n, "AttributeType": "S"}
                                     for n in ("recordId", "timestamp", "dataType", "processingStatus")]
    table["GlobalSecondaryIndexes"] = [
        {"IndexName": "ByType", "Projection": {"ProjectionType": "ALL"},
         "KeySchema": [{"AttributeName": "dataType", "KeyType": "HASH"},
                       {"AttributeName": "timestamp", "KeyType": "RANGE"}]},
        {"IndexName": "ByStatus", "Projection": {"ProjectionType": "KEYS_ONLY"},
         "KeySchema": [{"AttributeName": "processingStatus", "KeyType": "HASH"},
                       {"AttributeName": "timestamp", "KeyType": "RANGE"}]},
    ]
    return template


@pytest.fixture(scope="module")
def run() -> dict:
    return measure.measure(template_with_own_indexes(), "us-east-1", MIX, FILES, concurrency=1,
                           records_per_file=PER_FILE)


@pytest.fixture(scope="module")
def generated() -> list[workload.GeneratedFile]:
    return workload.files(MIX, FILES, PER_FILE)


def test_counts_and_write_units_per_record(run, generated):
    kinds = [kind for f in generated for kind in f.kinds]
    valid, rejected = kinds.count("valid"), kinds.count("rejected")
    assert (run["records"], run["valid"], run["rejected"]) == (FILES * PER_FILE, valid, rejected)
    assert rejected >= 4 and run["table"]["regions"] == ["us-east-1", "us-west-2"]
    # every valid item is under 1 KB: one unit in the table, one in each index (it has dataType and status)
    assert run["units_per_valid_record"] == {"table": 1.0, "ByType": 1.0, "ByStatus": 1.0, "total": 3.0}
    # a rejected item has no dataType; its KEYS_ONLY status entry is small; in the table the small ones cost 1
    # unit and the ones holding a 3,000-character record 4 or 5 (raw text plus errors and source attributes)
    per_rejected = run["units_per_rejected_record"]
    assert per_rejected["ByType"] == 0.0 and per_rejected["ByStatus"] == 1.0
    lines = [json.loads(line) for f in generated for line, kind in zip(f.body.splitlines(), f.kinds, strict=True)
             if kind == "rejected"]
    large = sum(1 for line in lines if "comment" in line)
    assert 0 < large < rejected
    small = rejected - large
    assert (small + 4 * large) / rejected <= per_rejected["table"] <= (small + 5 * large) / rejected
    # per file: the ledger claim, its completion and the content item, each under 1 KB and in no index
    assert run["units_per_file"] == {"table": 3.0, "ByType": 0.0, "ByStatus": 0.0, "total": 3.0}
    assert run["requests_per_file"]["GetObject"] == 1.0 and run["read_units_per_file"] == 1.0


def test_storage_of_a_keys_only_index_is_its_keys_plus_100_bytes(run, generated):
    total = 0
    for f in generated:
        for line, kind in zip(f.body.splitlines(), f.kinds, strict=True):
            record = json.loads(line)
            if kind == "valid":  # recordId "<type>#<id>", timestamp of 24 characters, "PROCESSED"
                total += len("recordId") + len(f"{record['dataType']}#{record['id']}") + len("timestamp") + 24 \
                    + len("processingStatus") + len("PROCESSED") + 100
            else:  # recordId "REJECTED#" + 40 hex digits, the file's processedAt, "REJECTED"
                total += len("recordId") + 49 + len("timestamp") + 24 + len("processingStatus") + len("REJECTED") \
                    + 100
    assert run["storage_bytes_per_record"]["ByStatus"] == pytest.approx(total / (FILES * PER_FILE))


def test_hottest_keys_over_the_run_and_per_second(run, generated):
    records = FILES * PER_FILE
    kinds = [kind for f in generated for kind in f.kinds]
    sensors = sum(1 for f in generated for line, kind in zip(f.body.splitlines(), f.kinds, strict=True)
                  if kind == "valid" and b'"dataType":"sensor"' in line)
    status, by_type, table = (run["hot_keys"][name] for name in ("ByStatus", "ByType", "table"))
    assert (status["key"], status["writes_per_record"]) == ("PROCESSED", kinds.count("valid") / records)
    assert (by_type["key"], by_type["writes_per_record"]) == ("sensor", sensors / records)
    # at 100 records/s, one file at a time, 50 records a file: file k runs from 0.5 k s to 0.5 k + 0.5 s and
    # its record i (1-based) is written at 0.5 k + 0.5 i / 50; count each second's valid records by hand
    per_second: dict[int, int] = {}
    for k, f in enumerate(generated):
        for i, kind in enumerate(f.kinds, start=1):
            if kind == "valid":
                second = int(0.5 * k + 0.5 * i / PER_FILE)
                per_second[second] = per_second.get(second, 0) + 1
    assert status["timeline_writes_per_second"] == max(per_second.values())
    # the table's hottest key value in one second: a file's ledger item, claimed at its start and completed at
    # its end, both within one second for the files that start on a whole second
    assert table["key"].startswith("FILE#") and table["timeline_writes_per_second"] == 2


def test_the_handlers_logs_and_metrics_are_counted(run):
    assert run["log_bytes_per_file"] > 0
    assert run["emf_metrics"] == len(run["emf_metric_names"]) > 0
    assert any("RecordsProcessed" in name for name in run["emf_metric_names"])
