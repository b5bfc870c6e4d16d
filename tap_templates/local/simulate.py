"""A local run, as ``scripts/simulate.py`` makes it: upload every input to the primary, drain it, replicate to
the secondaries, and account for every record of every file."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.contracts import LEDGER_SORT_KEY
from tap_templates import regions
from tap_templates.local import state
from tap_templates.local.inputs import InputFile
from tap_templates.local.pipeline import LocalPipeline
from tap_templates.local.report import RegionSummary, Rejection, RunResult, account


def summarize_region(pipeline: LocalPipeline, region: str) -> RegionSummary:
    items = state.summary_scan(pipeline, region)
    status = [i["processingStatus"]["S"] for i in items if "processingStatus" in i]
    return RegionSummary(
        region=region, role=regions.role(pipeline.cfg, region), mapping_state=pipeline.mapping(region)["State"],
        queue=pipeline.queue_depth(region), dead_letters=pipeline.queue_depth(region, dead_letter=True),
        processed=status.count("PROCESSED"), rejected=status.count("REJECTED"),
        ledger_files=sum(i.get("timestamp", {}).get("S") == LEDGER_SORT_KEY for i in items))


def run(pipeline: LocalPipeline, inputs: Sequence[InputFile]) -> RunResult:
    """Upload, drain, replicate, account. A key the bucket's notification filter does not match never reaches
    the queue on AWS; to show the UNSUPPORTED_FORMAT path, its S3 event is sent to the queue by ``notify``
    (the report marks it)."""
    primary = pipeline.cfg.primary_region
    versions = {}
    for item in inputs:
        versions[item.key] = pipeline.upload(primary, item.key, item.body)
        if not item.notified:
            pipeline.notify(primary, item.key, versions[item.key])
    report = pipeline.drain(primary)
    replicated = pipeline.replicate()
    by_version = {(f.key, f.version_id or "null"): f for f in report.files}
    files = [account(item, by_version.get((item.key, versions[item.key]))) for item in inputs]
    result = RunResult(report, files, [summarize_region(pipeline, r) for r in pipeline.cfg.regions], replicated)
    explain(pipeline, result)
    return result


def explain(pipeline: LocalPipeline, result: RunResult) -> None:
    """Why: each file's rejected records (position and errors), and which version each re-upload duplicates."""
    primary = pipeline.cfg.primary_region
    if any(a.file and a.file.rejected for a in result.files):
        for item in state.rejected_items(pipeline, primary):
            result.rejections.setdefault(item["sourceFile"]["S"], []).append(Rejection.from_item(item))
        for found in result.rejections.values():
            found.sort(key=lambda r: (r.where.split()[0], int(r.where.split()[-1]) if r.where != "?" else 0))
    for a in result.files:
        original = a.file.duplicate_of if a.file else None
        if original and original not in result.originals:
            item = state.ledger_item(pipeline, primary, original) or {}
            result.originals[original] = (f"{item.get('objectKey', {}).get('S', '?')} version "
                                          f"{item.get('versionId', {}).get('S', '?')}")
