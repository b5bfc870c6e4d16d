"""The skewed mix the model runs: JSON Lines files of the shipped data types, mostly one of them, with live
timestamps, some rejected records, arriving continuously at a target rate.

Live means each record's timestamp is the moment it was produced: a file holds the records produced in the
interval before it arrived (files arrive every ``records / rate`` seconds), so timestamps are close to "now"
and increase, as a live feed's do. Which record is valid and which is meant to be rejected is known here, so
the model can tell the handler's items apart without reading them (the handler's own ledger counts are
checked against it).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field

MB = 1000 * 1000
START = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)  # the simulated "now" of the first file
METRICS = {"temperature.ambient": "celsius", "humidity.relative": "percent", "vibration.rms": "mm_per_s",
           "pressure.barometric": "hectopascal", "power.active": "kilowatt"}
# Rejected kinds, in turn: a wrong value (a small item) and a record with an unknown field and a long text
# (its raw input is stored up to 4 KB: an item of several write units).
REJECTED_KINDS = ("bad-value", "large")
LARGE_REJECTED_BYTES = 3000


@dataclass(frozen=True)
class Mix:
    """The traffic: ``records_per_second`` sustained, in files of about ``file_bytes``."""

    records_per_second: float = 50_000
    file_bytes: int = 10 * MB
    record_bytes: int = 300
    main_share: float = 0.9  # of valid records, the share of the main data type (``sensor``)
    rejected_share: float = 0.01
    seed: int = 11


@dataclass
class GeneratedFile:
    key: str
    body: bytes
    arrives: float  # seconds after START
    kinds: list[str] = field(default_factory=list)  # "valid" or "rejected", per record in file order

    @property
    def records(self) -> int:
        return len(self.kinds)


def _iso(seconds: float) -> str:
    moment = START + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _pad(record: dict, field_name: str, target: int) -> None:
    short = target - len(json.dumps(record, separators=(",", ":")))
    if short > 0:
        record[field_name] = record[field_name] + "-" + "x" * (short - 1)


def _sensor(rng: random.Random, rid: str, ts: str, target: int) -> dict:
    metric = rng.choice(sorted(METRICS))
    record = {"id": rid, "dataType": "sensor", "timestamp": ts,
              "deviceId": f"site-{rng.randrange(40):03d}/gateway-{rng.randrange(100):03d}/device-"
                          f"{rng.randrange(10**6):06d}",
              "metric": metric, "value": round(rng.uniform(-50, 1000), 3), "unit": METRICS[metric]}
    _pad(record, "deviceId", target)
    return record


def _event(rng: random.Random, rid: str, ts: str, target: int) -> dict:
    record = {"id": rid, "dataType": "event", "timestamp": ts,
              "name": rng.choice(["door.opened", "alarm.raised", "firmware.updated", "session.started"]),
              "properties": {"email": f"user-{rng.randrange(10**5):05d}@example.com",
                             "zone": f"zone-{rng.randrange(50):02d}", "severity": rng.randrange(5),
                             "note": ""}}
    short = target - len(json.dumps(record, separators=(",", ":")))
    record["properties"]["note"] = "x" * max(0, short)
    return record


def _rejected(rng: random.Random, rid: str, ts: str, kind: str) -> dict:
    record = _sensor(rng, rid, ts, 0)
    if kind == "bad-value":
        record["value"] = "n/a"
    else:
        record["comment"] = "y" * LARGE_REJECTED_BYTES
    return record


def files(mix: Mix, count: int, records_per_file: int | None = None) -> list[GeneratedFile]:
    """``count`` files of the mix, in arrival order (``records_per_file`` overrides the size from bytes)."""
    rng = random.Random(mix.seed)
    per_file = records_per_file or max(1, mix.file_bytes // (mix.record_bytes + 1))
    produced = []
    rejected_turn = 0
    for number in range(count):
        arrives = (number + 1) * per_file / mix.records_per_second
        lines, kinds = [], []
        for position in range(per_file):
            produced_at = arrives - (per_file - position) / mix.records_per_second
            rid = f"f{number:05d}-r{position:07d}-{rng.getrandbits(48):012x}"
            ts = _iso(produced_at)
            if rng.random() < mix.rejected_share:
                record = _rejected(rng, rid, ts, REJECTED_KINDS[rejected_turn % len(REJECTED_KINDS)])
                rejected_turn += 1
                kinds.append("rejected")
            else:
                make = _sensor if rng.random() < mix.main_share else _event
                record = make(rng, rid, ts, mix.record_bytes)
                kinds.append("valid")
            lines.append(json.dumps(record, separators=(",", ":")))
        produced.append(GeneratedFile(f"capacity/{number:05d}.jsonl", ("\n".join(lines) + "\n").encode(), arrives,
                                      kinds))
    return produced
