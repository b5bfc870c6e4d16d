"""Streaming readers: object bytes in, source records out, in constant memory.

Layers, each a generator over byte chunks: ``gunzip`` (bounded output per step, capped total so a
decompression bomb stops early), ``text_start`` (accepts a UTF-8 byte-order mark, refuses bytes that are
not UTF-8 text), then one reader per format:

- ``jsonl_records``: one JSON value per line; lines are split from chunks, never from a whole file.
- ``json_records``: one value or an array of values, parsed incrementally by ijson.
- ``csv_records``: a header row naming at least ``id``, ``dataType`` and ``timestamp``, then rows as
  ``{column: text}``.

Each reader yields ``(position, end, payload, problem)``: ``position`` is the 1-based line (JSONL, CSV)
or the 0-based array index (JSON); ``end`` the byte offset just after the record where a reader can resume
by byte (uncompressed JSONL), else ``None``; ``payload`` the raw record (bytes for JSONL, the parsed value for
JSON, the row dict for CSV); ``problem`` ``None`` or why the record is unreadable (a line over the length
limit, bytes that are not UTF-8, a malformed CSV row), in which case it becomes a rejected record.
"""

from __future__ import annotations

import codecs
import itertools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from handlers.contracts import ENVELOPE_FIELDS, Reason
from handlers.failures import FileFailure

Record = tuple[int, int | None, Any, str | None]

GZIP_SUFFIX = ".gz"
FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
UTF8_BOM = codecs.BOM_UTF8
_OTHER_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
SNIFF_BYTES = 4096
INFLATE_STEP = 256 * 1024
RATIO_FLOOR_BYTES = 1024 * 1024  # small files may always inflate this far: no bomb fits in 1 MiB
RAW_KEEP = 4096  # bytes of an oversized line kept to show in its rejected record
MAX_JSON_DEPTH = 1000  # .json nesting past this fails the file: ijson's memory grows with the depth squared


@dataclass(frozen=True, slots=True)
class Format:
    """How an object is read, from its key's suffix."""

    kind: str  # "json", "jsonl" or "csv"
    gzip: bool

    @property
    def name(self) -> str:
        return self.kind + (GZIP_SUFFIX if self.gzip else "")

    @property
    def resumable_by_byte(self) -> bool:
        """Whether a retry can start reading at a byte offset instead of skipping records from the start."""
        return self.kind == "jsonl" and not self.gzip


def format_for(key: str) -> Format:
    """The format of an object from its key suffix; ``FileFailure(UNSUPPORTED_FORMAT)`` for any other."""
    lowered = key.lower()
    gzip = lowered.endswith(GZIP_SUFFIX)
    stem = lowered[: -len(GZIP_SUFFIX)] if gzip else lowered
    dot = stem.rfind(".")
    kind = FORMATS.get(stem[dot:]) if dot >= 0 else None
    if kind is None:
        supported = ", ".join(sorted({*FORMATS, *(s + GZIP_SUFFIX for s in FORMATS)}))
        raise FileFailure(Reason.UNSUPPORTED_FORMAT, f"key {key!r} has no supported suffix ({supported})")
    return Format(kind, gzip)


def records(fmt: Format, chunks: Iterator[bytes], compressed_size: int, max_record_bytes: int, max_ratio: int,
            first_line: int = 1, first_byte: int = 0) -> Iterator[Record]:
    """The reader chain of a file: S3 chunks -> gunzip -> text check -> records. ``first_byte`` > 0 is a read of
    uncompressed JSON Lines resumed there (no byte-order mark mid-file, and the start was checked before).
    The query tools read a file's records through it too, to find the items the handler made of them."""
    if fmt.gzip:
        chunks = gunzip(chunks, compressed_size, max_ratio)
    if first_byte == 0:
        chunks = text_start(chunks)
    if fmt.kind == "jsonl":
        return jsonl_records(chunks, max_record_bytes, first_line=first_line, first_byte=first_byte)
    if fmt.kind == "csv":
        return csv_records(chunks, max_record_bytes)
    return json_records(chunks)


def gunzip(chunks: Iterator[bytes], compressed_size: int, max_ratio: int) -> Iterator[bytes]:
    """Inflate gzip data (one or more members) as it streams, stopping at ``max_ratio`` x the input size."""
    limit = max(compressed_size * max_ratio, RATIO_FLOOR_BYTES)
    inflater = zlib.decompressobj(wbits=31)
    produced = 0
    seen_input = False
    in_member = False
    for chunk in chunks:
        data = chunk
        while data:
            seen_input = True
            if not in_member:
                if not data.startswith(b"\x1f\x8b"[: len(data)]):
                    if not data.strip(b"\x00"):  # zero padding after the last member is tolerated
                        break
                    raise FileFailure(Reason.CORRUPT_GZIP, "data is not gzip (bad magic bytes)")
                in_member = True
            while True:  # drain: a full step may leave output inside zlib with no input left
                try:
                    out = inflater.decompress(data, INFLATE_STEP)
                except zlib.error as exc:
                    raise FileFailure(Reason.CORRUPT_GZIP, f"gzip data is corrupt: {exc}") from None
                if out:
                    produced += len(out)
                    if produced > limit:
                        raise FileFailure(
                            Reason.DECOMPRESSION_RATIO,
                            f"gzip data inflates past {limit} bytes ({max_ratio}x its {compressed_size} bytes)",
                        )
                    yield out
                if inflater.eof:
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
                    in_member = False
                    break
                data = inflater.unconsumed_tail
                if not data and len(out) < INFLATE_STEP:
                    break
    if not seen_input:
        raise FileFailure(Reason.CORRUPT_GZIP, "object is empty, not gzip data")
    if in_member:
        raise FileFailure(Reason.CORRUPT_GZIP, "gzip data is truncated (the stream ended mid-member)")


def text_start(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pass chunks through, dropping a UTF-8 BOM and refusing a start that is not UTF-8 text."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM):]
    elif head.startswith(_OTHER_BOMS):
        raise FileFailure(Reason.UNDECODABLE, "text is UTF-16 or UTF-32 (byte-order mark); send UTF-8")
    sample = head[:SNIFF_BYTES]
    if b"\x00" in sample:
        raise FileFailure(Reason.UNDECODABLE, "data contains NUL bytes: binary, not UTF-8 text")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError as exc:
        raise FileFailure(Reason.UNDECODABLE, f"data is not UTF-8 text: {exc}") from None
    if head:
        yield head
    yield from chunks


def split_lines(
    chunks: Iterator[bytes], max_len: int, first_line: int = 1, first_byte: int = 0, skip_blank: bool = False
) -> Iterator[tuple[int, int, bytes, str | None]]:
    """Yield ``(line_no, end_byte, line, problem)`` per line, without the newline.

    A line longer than ``max_len`` is never held whole: its first ``RAW_KEEP`` bytes are kept and the rest
    skipped, and it comes out with a problem. ``end_byte`` counts from the start of the object. With
    ``skip_blank``, lines of only whitespace are not yielded (their numbers still count).
    """
    line_no = first_line - 1
    pos = first_byte  # offset of the first byte not yet yielded
    carry = b""
    long_head: bytes | None = None
    long_len = 0
    for chunk in chunks:
        if long_head is not None:
            cut = chunk.find(b"\n")
            part = chunk if cut < 0 else chunk[:cut]
            if len(long_head) < RAW_KEEP:
                long_head += part[: RAW_KEEP - len(long_head)]
            long_len += len(part)
            if cut < 0:
                continue
            line_no += 1
            pos += long_len + 1
            yield line_no, pos, long_head, _too_long(long_len, max_len)
            long_head = None
            chunk = chunk[cut + 1:]
        if carry:
            chunk = carry + chunk
        lines = chunk.split(b"\n")
        carry = lines.pop()
        for line in lines:
            line_no += 1
            pos += len(line) + 1
            if len(line) > max_len:
                yield line_no, pos, line[:RAW_KEEP], _too_long(len(line), max_len)
            elif not skip_blank or (line and not line.isspace()):
                yield line_no, pos, line, None
        if len(carry) > max_len:
            long_head, long_len, carry = carry[:RAW_KEEP], len(carry), b""
    if long_head is not None:
        yield line_no + 1, pos + long_len, long_head, _too_long(long_len, max_len)
    elif carry and not (skip_blank and carry.isspace()):
        yield line_no + 1, pos + len(carry), carry, None


def _too_long(length: int, limit: int) -> str:
    return f"line is {length} bytes, over the limit of {limit} bytes"


def jsonl_records(
    chunks: Iterator[bytes], max_len: int, first_line: int = 1, first_byte: int = 0
) -> Iterator[Record]:
    """JSON Lines: every non-blank line is one record (its bytes; parsing is the validator's job)."""
    return split_lines(chunks, max_len, first_line, first_byte, skip_blank=True)


def json_records(chunks: Iterator[bytes]) -> Iterator[Record]:
    """A JSON document: an array yields one record per element, any other value is one record."""
    import ijson  # only .json objects need it; a cold start that never sees one does not load it

    reader = _ChunkReader(json_depth(chunks, MAX_JSON_DEPTH))
    first = reader.peek_non_space()
    if not first:  # an empty document holds no records (as an empty JSONL or CSV file)
        return
    prefix = "item" if first == b"[" else ""
    try:
        for index, value in enumerate(ijson.items(reader, prefix)):
            yield index, None, value, None
    except ijson.JSONError as exc:
        text = " ".join(str(exc).split())
        reason = Reason.UNDECODABLE if "utf" in text.lower() else Reason.NOT_JSON
        raise FileFailure(reason, f"object is not valid JSON: {text[:300]}") from None
    except UnicodeDecodeError as exc:  # ijson decoding a string yajl let through (an unpaired surrogate)
        raise FileFailure(Reason.UNDECODABLE, f"object holds text that is not valid Unicode: {exc}") from None


_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


def json_depth(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """Pass JSON text through, failing it (``NOT_JSON``) once arrays and objects nest deeper than ``limit``.

    ijson keeps a path string per open level, each as long as the depth, so 100,000 ``[`` (100 KB) would
    take tens of gigabytes before any record came out. This tracks the depth outside strings at C speed:
    escapes are dropped, then only quotes and brackets are kept; adjacent quotes cancel out (a string
    without brackets, or brackets-free text between strings), so usually only brackets remain.
    """
    depth = 0
    in_string = False
    carry = b""  # a backslash that ended the previous chunk escapes the next one's first byte
    for chunk in chunks:
        text = carry + chunk if carry else chunk
        carry = b""
        if b"\\" in text:
            if text.endswith(b"\\") and (len(text) - len(text.rstrip(b"\\"))) % 2:
                carry, text = b"\\", text[:-1]
            text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
        marks = text.translate(None, _NOT_STRUCTURE)
        quotes = marks.count(b'"')
        if quotes:
            marks = marks.replace(b'""', b"")
            if b'"' in marks:  # brackets inside strings: keep only those outside
                marks = b"".join(marks.split(b'"')[1 if in_string else 0::2])
            elif in_string:
                marks = b""
            in_string ^= quotes % 2 == 1
        elif in_string:
            marks = b""
        if marks:
            if depth + len(marks) > limit:
                deepest = max(itertools.accumulate(memoryview(marks.translate(_DEPTH_STEPS)).cast("b"),
                                                   initial=depth))
                if deepest > limit:
                    raise FileFailure(Reason.NOT_JSON, f"object nests arrays and objects deeper than {limit} levels")
            depth += len(marks) - 2 * (marks.count(b"]") + marks.count(b"}"))
        yield chunk


class _ChunkReader:
    """A minimal binary file over a chunk iterator, for ijson."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        if not self._buffer:
            self._buffer = next(self._chunks, b"")
        if size < 0 or size >= len(self._buffer):
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def peek_non_space(self) -> bytes:
        while True:
            self._buffer = self._buffer.lstrip()
            if self._buffer:
                return self._buffer[:1]
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer = chunk


def csv_records(chunks: Iterator[bytes], max_len: int) -> Iterator[Record]:
    """CSV with a header row: every non-empty row after it is one record ``{column: text}``. A header that is
    malformed, or does not name ``id``, ``dataType`` and ``timestamp``, fails the file (``_check_header``)."""
    import csv

    state = {"problem": None, "line": 0}

    def text_lines() -> Iterator[str]:
        for line_no, _end, line, problem in split_lines(chunks, max_len):
            state["line"] = line_no
            if problem is None:
                try:
                    yield line.decode("utf-8") + "\n"
                    continue
                except UnicodeDecodeError as exc:
                    problem = f"line {line_no} is not UTF-8 text: {exc}"
            state["problem"] = state["problem"] or problem
            yield "\n"

    csv.field_size_limit(max(max_len, 131072))
    reader = csv.reader(text_lines(), strict=True)
    header: list[str] | None = None
    while True:
        start = state["line"] + 1
        state["problem"] = None
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if header is None:
                raise FileFailure(Reason.INVALID_CSV_HEADER, f"header row is malformed: {exc}") from None
            yield start, None, {}, f"malformed CSV row: {exc}"
            continue
        if header is None:
            if state["problem"]:
                raise FileFailure(Reason.INVALID_CSV_HEADER, f"header row: {state['problem']}")
            if row:
                header = _check_header(row)
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            if state["problem"]:
                yield start, None, {}, state["problem"]
            continue
        if state["problem"]:
            yield start, None, dict(zip(header, row, strict=False)), state["problem"]
        elif len(row) > len(header):
            yield start, None, dict(zip(header, row, strict=False)), (
                f"row has {len(row)} fields but the header has {len(header)}"
            )
        else:
            yield start, None, {k: v for k, v in zip(header, row, strict=False) if v != ""}, None


def _check_header(row: list[str]) -> list[str]:
    """The column names of a header row, or the file's failure. A header must name the fields every record
    needs: otherwise no row could be a record, and a file without a header row would lose its first row
    to it. (The messages never quote the row: without a header it is data, maybe personal.)"""
    names = [cell.strip() for cell in row]
    if "" in names:
        raise FileFailure(Reason.INVALID_CSV_HEADER, f"header row has an empty column name (column "
                                                     f"{names.index('') + 1} of {len(names)})")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileFailure(Reason.INVALID_CSV_HEADER, f"header row repeats column(s) {', '.join(duplicates)}")
    missing = [name for name in ENVELOPE_FIELDS if name not in names]
    if missing:
        raise FileFailure(Reason.CSV_HEADER_MISSING_FIELDS, (
            f"header row lacks column(s) {', '.join(missing)} (it has {len(names)} columns): a CSV file must "
            f"start with a header row naming its columns, and every record needs {', '.join(ENVELOPE_FIELDS)}"))
    return names
