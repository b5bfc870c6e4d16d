"""The files a local run uploads, and how many records each holds, by a reading independent of the handler
(so that a run can check the handler's counts against it)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tap_templates import naming
from tap_templates.errors import ConfigError


def count_records(name: str, body: bytes) -> int | None:
    """How many records a file holds: non-blank lines (JSON Lines), rows after the header (CSV), array elements
    or one value (JSON). None when the file cannot be read as a whole (unsupported suffix, corrupt gzip, not
    JSON, not UTF-8): it must fail whole."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, ValueError):
            return None
        lowered = lowered[:-3]
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if lowered.endswith((".jsonl", ".ndjson")):
        return sum(1 for line in text.split("\n") if line.strip())
    if lowered.endswith(".csv"):
        rows = [r for r in csv.reader(io.StringIO(text)) if r and not (len(r) == 1 and not r[0].strip())]
        return max(0, len(rows) - 1)
    if lowered.endswith(".json"):
        if not text.strip():
            return 0
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return len(value) if isinstance(value, list) else 1
    return None


@dataclass(frozen=True)
class InputFile:
    """One file to upload: its object key, its bytes, and its record count by ``count_records``."""

    key: str
    path: Path
    body: bytes
    expected: int | None

    @property
    def notified(self) -> bool:
        """Whether the bucket's notification filter matches the key (only these suffixes reach the queue)."""
        return self.key.endswith(naming.INGEST_SUFFIXES)


def _files(path: Path) -> list[tuple[str, Path]]:
    if path.is_dir():
        return [(p.relative_to(path).as_posix(), p) for p in sorted(path.rglob("*"))
                if p.is_file() and not p.name.startswith(".") and p.name != "README.md"]
    if path.is_file():
        return [(path.name, path)]
    raise ConfigError(f"{path} does not exist")


def collect_inputs(paths: Sequence[Path]) -> list[InputFile]:
    """The files named, and the files under the directories named (keys relative to the directory), sorted;
    ``ConfigError`` for a path that does not exist, no file at all, or two files with one key."""
    found: dict[str, Path] = {}
    for path in paths:
        for key, file in _files(path):
            if key in found and found[key].resolve() != file.resolve():
                raise ConfigError(f"{found[key]} and {file} would both be uploaded as {key!r}: rename one")
            found[key] = file
    if not found:
        raise ConfigError(f"no files found in {', '.join(map(str, paths))}")
    inputs = []
    for key, file in sorted(found.items()):
        body = file.read_bytes()
        inputs.append(InputFile(key, file, body, count_records(key, body)))
    return inputs
