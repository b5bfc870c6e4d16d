"""A local run's tables in a file, to look at after the terminal has scrolled away (``simulate.py --output``).

The format follows the file's extension: ``.jsonl`` (or ``.ndjson``) writes one JSON object per line, a
``"type"`` of ``file`` (every input file, with all its rejected records), ``region``, ``reason`` and one
``total``; ``.html`` (or ``.htm``) writes one self-contained page with the same tables. Both hold what the
printed report shows, and the rejected records the terminal only summarizes.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from tap_templates.config import PipelineConfig
from tap_templates.errors import ConfigError
from tap_templates.local.report import FILE_HEADER, REGION_HEADER, RunResult, file_rows, region_rows, total

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".html": "html", ".htm": "html"}


def output_format(path: Path) -> str:
    """The format a path's extension asks for; one line naming the choices otherwise."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ConfigError(f"--output {path}: name a .jsonl (JSON Lines) or .html file")
    return found


def records(cfg: PipelineConfig, result: RunResult) -> list[dict[str, Any]]:
    """The run as JSON objects: files (with their rejected records), regions, reasons, the total."""
    found: list[dict[str, Any]] = []
    for a, row in zip(result.files, file_rows(result), strict=True):
        f = a.file
        found.append({
            "type": "file", "file": a.input.key, "records": a.input.expected,
            "processed": f.processed if f else None, "rejected": f.rejected if f else None,
            "status": row[4], "dlqReason": row[5] or None, "note": row[6] or None,
            "versionId": f.version_id if f else None,
            "duplicateOf": result.originals.get(f.duplicate_of) if f and f.duplicate_of else None,
            "unaccounted": a.unaccounted,
            "rejections": [{"where": r.where, "errors": [{"field": fld, "message": m} for fld, m in r.errors]}
                           for r in result.rejected_of(a)],
        })
    for r in result.regions:
        found.append({"type": "region", "region": r.region, "role": r.role, "eventSource": r.mapping_state,
                      "queue": r.queue, "deadLetters": r.dead_letters, "processed": r.processed,
                      "rejected": r.rejected, "ledgerFiles": r.ledger_files})
    found += [{"type": "reason", "field": r.field, "reason": r.message, "records": r.records, "first": r.example}
              for r in result.reasons()]
    found.append({"type": "total", "environment": cfg.environment, "files": len(result.files),
                  "unaccounted": result.unaccounted, "summary": total(result)})
    return found


def _table(header: tuple[str, ...] | list[str], rows: list[tuple[str, ...]] | list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(cfg: PipelineConfig, result: RunResult) -> str:
    title = f"tap-pipeline local run: {cfg.project}-{cfg.environment}"
    rejected = [(a.input.key, r.where, "; ".join(f"{fld or '(record)'}: {m}" for fld, m in r.errors))
                for a in result.files for r in result.rejected_of(a)]
    reasons = [(str(r.records), r.field or "(record)", r.message, r.example) for r in result.reasons()]
    parts = [
        f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(total(result))}</p>",
        "<h2>Files</h2>", _table(FILE_HEADER, file_rows(result)),
        "<h2>Rejected records by reason</h2>",
        _table(("records", "field", "reason", "first one"), reasons) if reasons else "<p>none</p>",
        "<h2>Rejected records</h2>",
        _table(("file", "where", "problems"), rejected) if rejected else "<p>none</p>",
        "<h2>Regions</h2>", _table(REGION_HEADER, region_rows(result)),
    ]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top}th{background:#eee}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write(path: Path, cfg: PipelineConfig, result: RunResult) -> None:
    if output_format(path) == "html":
        path.write_text(page(cfg, result), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                                for r in records(cfg, result)), encoding="utf-8")
