"""Where the pipeline breaks first as the record rate grows, and the setting that moves each limit.

Each limit is the record rate at which one resource is full:

- the function: its event source's maximum concurrency (else its reserved concurrency) times the records one
  invocation handles per second (``costs.throughput``); and the account's concurrency quota, of which Lambda
  keeps 100 unreserved (Lambda Developer Guide, "Lambda quotas" and "Configuring reserved concurrency":
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
- the hottest partition key value of the table and of each index: 1,000 write units per second per key
  value (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html); an
  index that cannot keep up throttles the writes to the table itself
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes);
- the on-demand table-level write throughput quota, 40,000 write units per second by default, per table and
  per index, in every replica, which also absorbs the TTL deletes replicated from other regions
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-global-table-design.prescriptive-guidance.throughput.html);
- SQS: 120,000 in-flight messages per standard queue; each running invocation holds up to a batch
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.contracts import REJECTED_PREFIX
from tap_templates.capacity.costs import Throughput
from tap_templates.capacity.table_shape import TABLE
from tap_templates.capacity.template_facts import RegionFacts
from tap_templates.config import PipelineConfig

PARTITION_WRITE_UNITS = 1000
LAMBDA_UNRESERVED = 100
SQS_IN_FLIGHT = 120_000


@dataclass(frozen=True)
class Limit:
    what: str
    records_per_second: float
    setting: str


def hot_key_setting(index: str, key: str) -> str:
    """The config key that spreads the writes of a hot partition key value over more values: the shard count of
    the time index's data types or of its rejected records (``handlers/contracts.py``)."""
    if index == TABLE:
        return "none: one item per key value (records, ledger and content items)"
    if key.startswith(f"{REJECTED_PREFIX}#"):
        return "table.rejected_shards"
    if "#" in key:
        return "table.data_type_shards"
    return "none: the index key layout (components/table.py, handlers/items.py)"


def limits(cfg: PipelineConfig, primary: RegionFacts, measurement: dict[str, Any], rate: Throughput
           ) -> list[Limit]:
    """Every limit, lowest record rate first."""
    m = measurement
    found: list[Limit] = []
    concurrency = primary.max_concurrency or primary.reserved_concurrency or cfg.capacity.lambda_concurrency_quota
    setting = "processor.max_concurrency" if primary.max_concurrency else "processor.reserved_concurrency"
    found.append(Limit(f"Lambda: {concurrency} concurrent invocations x {rate.per_invocation:,.0f} records/s",
                       concurrency * rate.per_invocation, setting))
    quota = cfg.capacity.lambda_concurrency_quota - LAMBDA_UNRESERVED
    found.append(Limit(f"Lambda account quota: {quota} reservable concurrent executions", quota * rate.per_invocation,
                       "capacity.lambda_concurrency_quota (a Service Quotas increase)"))
    for name, hot in m["hot_keys"].items():
        if not hot or not hot["units_per_record"]:
            continue
        what = "table" if name == TABLE else f"index {name}"
        found.append(Limit(f"hottest key of the {what} ({hot['key'][:40]}: {hot['units_per_record']:.3g} write "
                           "units per record)", PARTITION_WRITE_UNITS / hot["units_per_record"],
                           hot_key_setting(name, hot["key"])))
    share = {"valid": m["valid"] / m["records"], "rejected": m["rejected"] / m["records"]}
    replicated = 1 if len(m["table"]["regions"]) > 1 and m["table"]["ttl_attribute"] else 0
    for name in m["indexes"]:
        per_record = (share["valid"] * m["units_per_valid_record"][name]
                      + share["rejected"] * m["units_per_rejected_record"][name]
                      + replicated * m["ttl_delete_units_per_record"][name])
        if per_record:
            what = "table" if name == TABLE else f"index {name}"
            found.append(Limit(f"on-demand write quota of the {what} ({cfg.capacity.table_write_quota:,} units/s)",
                               cfg.capacity.table_write_quota / per_record,
                               "capacity.table_write_quota (a Service Quotas increase)"))
    found.append(Limit(f"SQS: {SQS_IN_FLIGHT:,} in-flight messages, {primary.batch_size} per invocation",
                       SQS_IN_FLIGHT / primary.batch_size * rate.per_invocation, "processor.batch_size"))
    return sorted(found, key=lambda limit: limit.records_per_second)
