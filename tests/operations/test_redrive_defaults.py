"""Which dead letters ``scripts/redrive.py`` moves by default, run as a user runs it against the emulator server:
the reasons a fix outside the object can cure (``TRANSIENT_REASONS``), and permanent ones only when named,
confirmed with --yes, or answered yes at the terminal."""

from __future__ import annotations

import pytest

from tap_templates.local import pipeline as local_pipeline
from tests.operations.conftest import CFG
from tests.operations.helpers import jsonl, run_script, run_script_typing

PRIMARY = CFG.primary_region
pytestmark = pytest.mark.slow


def dead_letter_two(pipeline: local_pipeline.LocalPipeline) -> None:
    """One permanent failure (UNSUPPORTED_FORMAT: the bytes are the problem) and one a fix outside the object
    cures (OBJECT_NOT_FOUND: the version was deleted before the function read it; a restore would cure it)."""
    pipeline.drain(PRIMARY)  # S3's test event
    version = pipeline.upload(PRIMARY, "bad/report.xml", b"<report/>")
    pipeline.notify(PRIMARY, "bad/report.xml", version)
    gone = pipeline.upload(PRIMARY, "gone/readings.jsonl", jsonl("g", 2))
    pipeline.client("s3", PRIMARY).delete_object(Bucket=pipeline.bucket(PRIMARY), Key="gone/readings.jsonl",
                                                 VersionId=gone)
    drained = pipeline.drain(PRIMARY)
    assert {f.key: f.dlq_reason for f in drained.files if f.dlq_reason} == {
        "bad/report.xml": "UNSUPPORTED_FORMAT", "gone/readings.jsonl": "OBJECT_NOT_FOUND"}


def test_permanent_failures_move_only_when_asked(server):
    endpoint = ("--env", "dev", "--endpoint-url", server)
    with local_pipeline.start(CFG, endpoint_url=server) as pipeline:
        dead_letter_two(pipeline)

        default = run_script("redrive.py", *endpoint)
        assert default.code == 0, default.err
        assert "  in the DLQ by reason: OBJECT_NOT_FOUND 1, UNSUPPORTED_FORMAT 1" in default.out
        assert "  moved: OBJECT_NOT_FOUND 1" in default.out
        assert ("  left in the DLQ, permanent (not moved by default): UNSUPPORTED_FORMAT 1; move them with --reason "
                "UNSUPPORTED_FORMAT (or --yes) once the handler or its settings changed") in default.out
        assert pipeline.queue_depth(PRIMARY, dead_letter=True) == 1

        declined = run_script_typing("redrive.py", *endpoint, typed="no\n")
        assert declined.code == 1, "a declined prompt is not a success"
        assert "also move the permanent failures (UNSUPPORTED_FORMAT 1)? " in declined.out
        assert pipeline.queue_depth(PRIMARY, dead_letter=True) == 1

        accepted = run_script_typing("redrive.py", *endpoint, typed="yes\n")
        assert accepted.code == 0, accepted.err
        assert "  moved: UNSUPPORTED_FORMAT 1 (1 ledger item(s) FAILED -> RETRY)" in accepted.out
        assert pipeline.queue_depth(PRIMARY, dead_letter=True) == 0

        pipeline.drain(PRIMARY)  # both fail the same way again: back in the DLQ
        assert pipeline.queue_depth(PRIMARY, dead_letter=True) == 2
        named = run_script("redrive.py", *endpoint, "--reason", "UNSUPPORTED_FORMAT")
        assert named.code == 0 and "  moved: UNSUPPORTED_FORMAT 1" in named.out and "left in the DLQ" not in named.out
        pipeline.drain(PRIMARY)
        everything = run_script("redrive.py", *endpoint, "--yes")
        assert everything.code == 0 and "  moved: OBJECT_NOT_FOUND 1, UNSUPPORTED_FORMAT 1" in everything.out

