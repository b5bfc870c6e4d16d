"""What a local run reports: per drained file (``FileReport``), per drain (``DrainReport``), per input file
(``Accounting``: is every record somewhere?), per region (``RegionSummary``), the rejected records and why
(``Rejection``), and the tables ``scripts/simulate.py`` prints (``local/output.py`` writes them to a file).

Counts come from the table, the ledger and the DLQ after the fact, never from the handler's return value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from handlers.contracts import LEDGER_SORT_KEY, ledger_id
from tap_templates.config import PipelineConfig
from tap_templates.local.inputs import InputFile
from tap_templates.local.uploads import objects_in


@dataclass
class FileReport:
    """One object version a drain delivered, as the table, the ledger and the DLQ show it afterwards.

    ``status`` is the ledger's (COMPLETED, FAILED, IN_PROGRESS), or PENDING when no invocation claimed the
    file, or DEAD_LETTERED when the notification itself went to the DLQ (redrive, invalid message).
    ``processed``/``rejected`` count the file's items in the table; ``ledger_*`` what the ledger says."""

    region: str
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    status: str = "PENDING"
    processed: int = 0
    rejected: int = 0
    ledger_processed: int = 0
    ledger_rejected: int = 0
    dlq_reason: str | None = None
    dlq_messages: int = 0
    deliveries: int = 0
    duplicate_deliveries: int = 0
    attempts: int = 0
    duplicate_of: str | None = None  # a re-upload of identical bytes: the ledger ID of the version processed

    @property
    def records(self) -> int:
        return self.processed + self.rejected


@dataclass
class DrainReport:
    """What one ``drain`` of a region did, and what it left."""

    region: str
    files: list[FileReport] = field(default_factory=list)
    invocations: int = 0
    function_errors: int = 0
    messages_received: int = 0
    messages_deleted: int = 0
    messages_retried: int = 0
    messages_left: int = 0
    dead_letters: int = 0
    stopped: str = ""  # "drained", "disabled" (mapping not Enabled), "max_invocations"

    @property
    def processed(self) -> int:
        return sum(f.processed for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def file(self, key: str) -> FileReport:
        """The (last delivered version of the) file with this key."""
        found = [f for f in self.files if f.key == key]
        if not found:
            raise KeyError(f"no file {key!r} was delivered in {self.region}")
        return found[-1]


def letter_names(letter: dict[str, Any], file: FileReport) -> bool:
    """Whether a DLQ message is about this object version: a handler letter names it, a redriven
    notification carries its S3 record."""
    body = letter["body"]
    if isinstance(body, dict) and "reason" in body and "key" in body:
        return body.get("key") == file.key and body.get("versionId") == file.version_id
    text = body if isinstance(body, str) else json.dumps(body)
    return (file.bucket, file.key, file.version_id, file.etag) in objects_in(text)


def describe(files: list[FileReport], items: list[dict[str, Any]], letters: list[dict[str, Any]]) -> list[FileReport]:
    """Fill each file's report from the region's table items (ledger and records) and its DLQ letters."""
    for file in files:
        lid = ledger_id(file.key, file.version_id, file.etag)
        ledger = next((i for i in items if i["recordId"]["S"] == lid and i["timestamp"]["S"] == LEDGER_SORT_KEY),
                      None)
        if ledger is not None:
            file.status = ledger.get("status", {}).get("S", "PENDING")
            file.ledger_processed = int(ledger.get("processed", {}).get("N", 0))
            file.ledger_rejected = int(ledger.get("rejected", {}).get("N", 0))
            file.attempts = int(ledger.get("attempts", {}).get("N", 0))
        # A re-upload of identical bytes stores nothing of its own: its records are the original version's.
        file.duplicate_of = ledger.get("duplicateOf", {}).get("S") if ledger is not None else None
        source = file.duplicate_of or lid
        mine = [i for i in items if i.get("sourceFile", {}).get("S") == source and "processingStatus" in i]
        file.processed = sum(i["processingStatus"]["S"] == "PROCESSED" for i in mine)
        file.rejected = sum(i["processingStatus"]["S"] == "REJECTED" for i in mine)
        own = [letter for letter in letters if letter_names(letter, file)]
        file.dlq_messages = len(own)
        if own:
            file.dlq_reason = own[-1]["reason"]
            if ledger is None or file.status not in ("COMPLETED", "FAILED"):
                file.status = "DEAD_LETTERED"
    return files


@dataclass(frozen=True)
class Accounting:
    """Whether every record of one input file ended up somewhere: stored (processed or rejected), or the
    whole file in the DLQ. ``unaccounted`` is the number of records missing (negative: more items than
    records), None when every record is accounted for."""

    input: InputFile
    file: FileReport | None
    unaccounted: int | None
    note: str = ""

    @property
    def accounted(self) -> bool:
        return self.unaccounted is None


def account(item: InputFile, file: FileReport | None) -> Accounting:
    expected = item.expected
    if file is None:
        return Accounting(item, None, expected if expected is not None else 1, "never delivered to the function")
    if file.status in ("FAILED", "DEAD_LETTERED"):
        if file.dlq_messages >= 1:
            return Accounting(item, file, None, "failed whole: see its DLQ message")
        return Accounting(item, file, expected if expected is not None else 1, "failed without a DLQ message")
    if file.status != "COMPLETED":
        missing = expected - file.records if expected is not None else 1
        return Accounting(item, file, missing, f"left {file.status}")
    if expected is None:
        return Accounting(item, file, -file.records, "completed, but the file cannot be read as a whole")
    if file.records != expected:
        return Accounting(item, file, expected - file.records, f"{file.records} items for {expected} records")
    return Accounting(item, file, None)


@dataclass(frozen=True)
class RegionSummary:
    """A region after the run, read through the AWS APIs."""

    region: str
    role: str
    mapping_state: str
    queue: int
    dead_letters: int
    processed: int
    rejected: int
    ledger_files: int


_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"(?<!ISO )\b\d+\b")


def reason_of(message: str) -> str:
    """A message without the values it quotes: ``'yesterday' is not an ISO 8601 date-time`` and ``'x' is not
    ...`` are one reason."""
    return _NUMBER.sub("N", _QUOTED.sub("'...'", message, count=1))


@dataclass
class Reason:
    """Why records were rejected: a field and a message, how many records, and the first one."""

    field: str
    message: str
    records: int
    example: str


@dataclass(frozen=True)
class Rejection:
    """One rejected record as its item in the table states it: where in its file, and every problem found."""

    where: str  # "line 3" (JSON Lines, CSV) or "element 2" (a JSON array, 0-based as the item stores it)
    errors: tuple[tuple[str, str], ...]  # (field, message)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Rejection:
        if "sourceLine" in item:
            where = f"line {item['sourceLine']['N']}"
        elif "sourceIndex" in item:
            where = f"element {item['sourceIndex']['N']}"
        else:
            where = "?"
        errors = tuple((e["M"].get("field", {}).get("S", ""), e["M"].get("message", {}).get("S", ""))
                       for e in item.get("errors", {}).get("L", []))
        return cls(where, errors)

    def describe(self) -> str:
        return f"{self.where}: " + "; ".join(f"{field or '(record)'}: {message}" for field, message in self.errors)


@dataclass
class RunResult:
    """What a run did: the primary's drain, each input's accounting, each region's state, replicas; the rejected
    records of each file (by its ledger ID, sorted by position) and, for re-uploads of identical bytes, which
    object version they duplicate."""

    drain: DrainReport
    files: list[Accounting]
    regions: list[RegionSummary]
    replicated: int
    rejections: dict[str, list[Rejection]] = field(default_factory=dict)
    originals: dict[str, str] = field(default_factory=dict)  # ledger ID -> "key version V"

    @property
    def unaccounted(self) -> int:
        return sum(abs(a.unaccounted) for a in self.files if a.unaccounted is not None)

    def rejected_of(self, a: Accounting) -> list[Rejection]:
        """This input's own rejected records (none for a duplicate: its records are the original's)."""
        f = a.file
        if f is None or f.duplicate_of:
            return []
        return self.rejections.get(ledger_id(f.key, f.version_id, f.etag), [])

    def reasons(self) -> list[Reason]:
        """The rejected records of the run's files counted by reason (field and message, the values in the
        message left out), most frequent first, each with its first example."""
        found: dict[tuple[str, str], Reason] = {}
        for a in self.files:
            for r in self.rejected_of(a):
                for field_name, message in dict.fromkeys(r.errors):
                    key = (field_name, reason_of(message))
                    if key in found:
                        found[key].records += 1
                    else:
                        found[key] = Reason(field_name, key[1], 1, f"{a.input.key} {r.where}")
        return sorted(found.values(), key=lambda x: (-x.records, x.field, x.message))



# --- the printed tables ------------------------------------------------------------------------------------


def table(rows: Sequence[Sequence[str]], out: TextIO, right: Sequence[int] = ()) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip(), file=out)


FILE_HEADER = ("file", "records", "processed", "rejected", "status", "DLQ reason", "note")
REGION_HEADER = ("region", "role", "event source", "queue", "DLQ", "processed", "rejected", "files in ledger")
REJECTED_SHOWN = 3  # rejected records listed per file


def note_of(a: Accounting, result: RunResult) -> str:
    f = a.file
    notes = [a.note if a.unaccounted is None or not a.note else f"UNACCOUNTED {a.unaccounted}: {a.note}"]
    if f is not None and f.duplicate_of:
        original = result.originals.get(f.duplicate_of, "an earlier version")
        notes.append(f"duplicate of {original} (identical bytes): nothing stored again, counts are the original's")
    if not a.input.notified:
        notes.append("event sent by the simulation (the bucket's filter skips this suffix)")
    return "; ".join(filter(None, notes))


def file_rows(result: RunResult) -> list[tuple[str, ...]]:
    rows = []
    for a in result.files:
        f = a.file
        rows.append((a.input.key, "-" if a.input.expected is None else str(a.input.expected),
                     str(f.processed) if f else "-", str(f.rejected) if f else "-",
                     f.status if f else "NOT DELIVERED", (f.dlq_reason or "") if f else "", note_of(a, result)))
    return rows


def region_rows(result: RunResult) -> list[tuple[str, ...]]:
    return [(r.region, r.role, r.mapping_state, str(r.queue), str(r.dead_letters), str(r.processed),
             str(r.rejected), str(r.ledger_files)) for r in result.regions]


def print_files(result: RunResult, out: TextIO) -> None:
    table([FILE_HEADER, *file_rows(result)], out, right=(1, 2, 3))


def print_rejections(result: RunResult, out: TextIO) -> None:
    """Why records were rejected: a count per problem (field and message), then the first few per file."""
    reasons = result.reasons()
    if not reasons:
        return
    print("\nrejected records by reason (a record with several problems counts under each):", file=out)
    table([("records", "field", "reason", "first one"),
           *((str(r.records), r.field or "(record)", r.message, r.example) for r in reasons)], out, right=(0,))
    print(f"\nthe first {REJECTED_SHOWN} rejected records of each file (all of them are in the table, with "
          f"processingStatus REJECTED):", file=out)
    for a in result.files:
        rejected = result.rejected_of(a)
        for r in rejected[:REJECTED_SHOWN]:
            print(f"  {a.input.key} {r.describe()}", file=out)
        if len(rejected) > REJECTED_SHOWN:
            print(f"  {a.input.key}: ... and {len(rejected) - REJECTED_SHOWN} more", file=out)


def print_regions(result: RunResult, out: TextIO) -> None:
    table([REGION_HEADER, *region_rows(result)], out, right=(3, 4, 5, 6, 7))


def print_run(cfg: PipelineConfig, result: RunResult, out: TextIO) -> None:
    """The primary's drain in one line, a table per file and per region, and the totals."""
    d = result.drain
    print(f"{cfg.primary_region}: {d.invocations} invocation(s), {d.messages_received} message(s) received, "
          f"{d.messages_retried} retried, {d.messages_left} left in the queue; {result.replicated} object(s) "
          f"replicated to {', '.join(cfg.secondary_regions)}\n", file=out)
    print_files(result, out)
    print_rejections(result, out)
    print(file=out)
    print_regions(result, out)
    print("(queue: notifications waiting; a passive secondary keeps its replicas' until a failover enables it)",
          file=out)
    print(f"\n{total(result)}", file=out)


def total(result: RunResult) -> str:
    done = [a for a in result.files if a.file and a.file.status == "COMPLETED"]
    failed = [a for a in result.files if a.file and a.file.status in ("FAILED", "DEAD_LETTERED")]
    duplicates = sum(bool(a.file.duplicate_of) for a in done)
    return (f"total: {len(result.files)} file(s); {len(done)} completed with "
            f"{sum(a.input.expected or 0 for a in done)} record(s): {sum(a.file.processed for a in done)} processed, "
            f"{sum(a.file.rejected for a in done)} rejected"
            + (f" ({duplicates} of them re-uploads of identical bytes, stored once)" if duplicates else "")
            + f"; {len(failed)} failed whole (DLQ), after writing {sum(a.file.records for a in failed)} item(s); "
            f"unaccounted records: {result.unaccounted}")
