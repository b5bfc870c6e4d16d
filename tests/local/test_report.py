"""The local run's report, without AWS: accounting for each file, and the ledger-ID contract it shares with
the handler."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import ledger
from tap_templates.local import report as local_report
from tap_templates.local.inputs import InputFile


@given(key=st.text(min_size=1, max_size=40), version=st.one_of(st.none(), st.just("null"), st.text(max_size=40)),
       etag=st.one_of(st.none(), st.text(max_size=34)))
def test_the_ledger_id_is_the_handlers(key, version, etag):
    assert local_report.ledger_id(key, version, etag) == ledger.ledger_id(key, version, etag)


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
