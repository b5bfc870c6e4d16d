"""When each write happens at a target rate, and the hottest partition key value per second.

Files arrive one after another, every ``records / rate`` seconds, and each is processed by its own invocation
at ``rate / concurrency`` records per second, so ``concurrency`` files are in progress at once and the table
sees ``rate`` records per second in the steady state. A record's writes happen at its place in its file; the
file's bookkeeping writes (the ledger) at its start and end. DynamoDB serves at most 1,000 write units per
second for one partition key value (Developer Guide, "Best practices for designing and using partition keys
effectively": https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html),
and live timestamps make a time-ordered sort key no help: all writes go to the newest end of the range.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass

from tap_templates.capacity.table_model import Cost

PARTITION_WRITE_UNITS = 1000  # per second per partition key value


@dataclass(frozen=True)
class Hottest:
    index: str
    key: str
    writes_per_second: int
    units_per_second: int
    second: int


def schedule(files: Iterable[tuple[int, list[tuple[float, Cost]]]], rate: float, concurrency: int
             ) -> Iterable[tuple[float, Cost]]:
    """(time in seconds, write) for each file's ``(records, [(fraction of the file done, write), ...])``."""
    start = 0.0
    lane_rate = rate / concurrency
    for records, writes in files:
        duration = records / lane_rate
        for fraction, cost in writes:
            yield start + fraction * duration, cost
        start += records / rate


def hottest(timed: Iterable[tuple[float, Cost]]) -> dict[str, Hottest]:
    """Per table or index: the partition key value with the most writes in one second, and its write units then
    (the target is in writes per second; DynamoDB's limit in write units, equal for items under 1 KB)."""
    writes: dict[str, collections.Counter[tuple[str, int]]] = collections.defaultdict(collections.Counter)
    spent: dict[str, collections.Counter[tuple[str, int]]] = collections.defaultdict(collections.Counter)
    for moment, cost in timed:
        second = int(moment)
        for name, key in cost.keys.items():
            writes[name][key, second] += cost.writes[name]
            spent[name][key, second] += cost.units[name]
    found = {}
    for name, counter in writes.items():
        (key, second), count = max(counter.items(), key=lambda pair: (pair[1], spent[name][pair[0]]))
        found[name] = Hottest(name, key, count, spent[name][key, second], second)
    return found
