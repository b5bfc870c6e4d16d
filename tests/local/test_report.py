"""The local run's report, without AWS: accounting for each file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tap_templates.local import report as local_report
from tap_templates.local.inputs import InputFile


def report(status: str, processed: int = 0, rejected: int = 0, dlq: int = 0) -> local_report.FileReport:
    return local_report.FileReport("r", "b", "k", "v", "e", status=status, processed=processed, rejected=rejected,
                                   dlq_messages=dlq)


@pytest.mark.parametrize(("expected", "file", "unaccounted"), [
    (5, report("COMPLETED", 3, 2), None),
    (5, report("COMPLETED", 3, 1), 1),
    (5, report("COMPLETED", 4, 2), -1),
    (None, report("FAILED", dlq=1), None),
    (7, report("FAILED", processed=2, dlq=1), None),
    (7, report("FAILED", processed=2), 7),
    (None, report("DEAD_LETTERED", dlq=1), None),
    (5, report("IN_PROGRESS", 2), 3),
    (None, report("COMPLETED", 1), -1),
    (4, None, 4),
])
def test_every_record_must_be_stored_or_its_whole_file_dead_lettered(expected, file, unaccounted):
    item = InputFile("k.jsonl", Path("k.jsonl"), b"", expected)
    assert local_report.account(item, file).unaccounted == unaccounted
