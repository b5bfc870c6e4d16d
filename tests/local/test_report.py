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


@pytest.mark.parametrize(("message", "reason"), [
    ("'yesterday' is not an ISO 8601 date-time", "'...' is not an ISO 8601 date-time"),
    ("'hot' is not of type 'number'", "'...' is not of type 'number'"),
    ("row has 5 fields but the header has 4", "row has N fields but the header has N"),
    ("is required", "is required"),
])
def test_a_reason_is_the_message_without_its_values(message, reason):
    assert local_report.reason_of(message) == reason


def test_a_rejected_item_reads_as_its_position_and_problems():
    item = {"sourceLine": {"N": "7"}, "errors": {"L": [
        {"M": {"field": {"S": "value"}, "message": {"S": "is required"}}},
        {"M": {"field": {"S": ""}, "message": {"S": "not valid JSON"}}}]}}
    rejection = local_report.Rejection.from_item(item)
    assert rejection == local_report.Rejection("line 7", (("value", "is required"), ("", "not valid JSON")))
    assert rejection.describe() == "line 7: value: is required; (record): not valid JSON"
    assert local_report.Rejection.from_item({"sourceIndex": {"N": "0"}}).where == "element 0"


def test_the_html_page_escapes_what_the_files_hold():
    from tap_templates.config import load_config
    from tap_templates.local import output

    item = InputFile("<b>odd</b>.jsonl", Path("x"), b"", 1)
    file = report("COMPLETED", 0, 1)
    file.key, file.version_id, file.etag = item.key, "v1", "e"
    result = local_report.RunResult(local_report.DrainReport("r"), [local_report.account(item, file)], [], 0)
    result.rejections[local_report.ledger_id(item.key, "v1", "e")] = [
        local_report.Rejection("line 1", (("id", "'<script>' is not valid"),))]
    page = output.page(load_config("dev"), result)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;odd&lt;/b&gt;.jsonl" in page
    assert page.count("<table>") == 4
    jsonl = output.records(load_config("dev"), result)
    assert jsonl[0]["rejections"] == [{"where": "line 1",
                                       "errors": [{"field": "id", "message": "'<script>' is not valid"}]}]
