"""The cost model's arithmetic on a hand-computed case, and every resource type of every shipped environment
either priced or listed as free with its reason."""

from __future__ import annotations

import json

import pytest

from tap_templates import config
from tap_templates.capacity import costs, prices, template_facts
from tap_templates.capacity.template_facts import FREE, PRICED, Bucket, RegionFacts
from tap_templates.errors import ConfigError
from tap_templates.render import render

MONTH = 730 * 3600  # seconds


def measurement() -> dict:
    """A table with one index, two replicas, TTL on; every record valid, 1 write unit in table and index."""
    per = {"table": 1.0, "Idx": 1.0, "total": 2.0}
    zero = {"table": 0.0, "Idx": 0.0, "total": 0.0}
    return {
        "records": 1000, "valid": 1000, "rejected": 0, "input_bytes": 300_000, "indexes": ["table", "Idx"],
        "table": {"regions": ["us-east-1", "us-west-2"], "ttl_attribute": "expiresAt",
                  "indexes": [{"name": "table", "range_key": "timestamp"}]},
        "units_per_valid_record": per, "units_per_rejected_record": zero, "units_per_file": zero,
        "ttl_delete_units_per_record": per, "ttl_delete_units_per_file": zero,
        "storage_bytes_per_record": {"table": 700.0, "Idx": 700.0, "total": 1400.0},
        "read_units_per_file": 0.0, "requests_per_file": {"GetObject": 1.0}, "log_bytes_per_file": 0.0,
        "emf_metrics": 0,
    }


def region(name: str, primary: bool) -> RegionFacts:
    bucket = Bucket("Ingest", True, (("STANDARD_IA", 30),), 60, 0, 0)
    return RegionFacts(region=name, resource_types=(), interface_endpoint_azs=2, buckets=(bucket,),
                       function_memory_mb=1769, processing_by_default=primary)


def test_a_hand_computed_month():
    p = prices.load()
    speed = costs.throughput(1769, 45_000, 4, 20)  # 1 vCPU: 45,000 by CPU; 4 x 25 x 1000 / 20 = 5,000 by writes
    assert (speed.cpu_bound, speed.write_bound, speed.per_invocation) == (45_000, 5_000, 5_000)
    both = {"us-east-1": region("us-east-1", True), "us-west-2": region("us-west-2", False)}
    inputs = costs.Inputs("us-east-1", both, measurement(), speed, ttl_days=30, prices=p)
    work = costs.Workload(rate=10, file_bytes=3_000_000, month_seconds=MONTH, record_bytes=300)
    assert work.records == 26_280_000 and work.records_per_file == 10_000 and work.files == 2628
    lines = {(line.item, line.region): line for line in costs.bill(inputs, work)}

    def cost(item: str, where: str = "us-east-1") -> float:
        return lines[item, where].monthly

    # writes: 26.28 M records x 1 unit, table and index, at $0.625 a million = 16.425 each
    assert cost("writes: table") == pytest.approx(16.425)
    assert cost("writes: index Idx") == pytest.approx(16.425)
    # the replica: the same 2 units per record replicated (32.85), and the TTL deletes replicated (32.85)
    assert cost("replicated writes: table and indexes", "us-west-2") == pytest.approx(32.85)
    assert cost("TTL deletes replicated from the region that expired them", "us-west-2") == pytest.approx(32.85)
    # storage: 10/s x 30 days x 86,400 s = 25.92 M records x 700 B = 18.144e9 B = 16.8977 GiB, x $0.25
    assert cost("table (30 days of records)") == pytest.approx(18.144e9 / 2**30 * 0.25)
    assert cost("index Idx (30 days of records)", "us-west-2") == pytest.approx(18.144e9 / 2**30 * 0.25)
    assert cost("point-in-time recovery (table size)") == pytest.approx(18.144e9 / 2**30 * 0.20)
    # Lambda: 26.28 M records / 5,000 per second = 5,256 s at 1,769 MB = 9,079.9 GB-s, x $0.0000133334
    duration = "duration at 1769 MB, 5,000 records/s per invocation"
    assert cost(duration) == pytest.approx(5256 * 1769 / 1024 * 0.0000133334)
    # S3: 10 x 300 B x 86,400 = 259.2 MB a day; 30 days in Standard, 30 in Standard-IA (expiry at 60)
    assert cost("storage STANDARD (30 days)") == pytest.approx(259.2e6 * 30 / 2**30 * 0.023)
    assert cost("storage STANDARD_IA (30 days)", "us-west-2") == pytest.approx(259.2e6 * 30 / 2**30 * 0.0125)
    assert cost("lifecycle transitions to STANDARD_IA") == pytest.approx(2628 * 0.01 / 1000)
    assert cost("S3 replication", "us-west-2") == pytest.approx(2628 * 3e6 / 2**30 * 0.02)
    # two interface endpoint ENIs per region, 730 hours at $0.01
    assert cost("interface endpoints (hours x AZs)", "us-west-2") == pytest.approx(14.60)


def test_at_rest_nothing_that_scales_with_records_is_billed():
    inputs = costs.Inputs("us-east-1", {"us-east-1": region("us-east-1", True)}, measurement(),
                          costs.throughput(1024, 45_000, 4, 20), ttl_days=30, prices=prices.load())
    rest = costs.bill(inputs, costs.Workload(0, 3_000_000, MONTH, 300))
    assert {line.component for line in rest} == {"VPC endpoints", "SQS", "KMS"}
    assert sum(line.monthly for line in rest) == pytest.approx(14.60 + 0.2628 + 35_040 * 0.03 / 10_000)


def shipped_templates():
    for path in sorted(config.CONFIG_DIR.glob("*.toml")):
        rendering = render(config.load_config(path.stem))
        for t in rendering.templates:
            yield path.stem, t.region, json.loads(t.body)
        yield path.stem, "stackset-roles", json.loads(rendering.roles)


@pytest.mark.parametrize(("env", "where", "template"), list(shipped_templates()),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_every_resource_type_is_priced_or_free_with_a_reason(env, where, template):
    types = {r["Type"] for r in template["Resources"].values()}
    unknown = sorted(types - set(PRICED) - set(FREE))
    assert not unknown, f"{env} {where}: price these in tap_templates/capacity or list them as free: {unknown}"


def test_the_priced_and_free_lists_are_disjoint_and_explained():
    assert not set(PRICED) & set(FREE)
    assert all(reason.strip() for reason in [*PRICED.values(), *FREE.values()])


def test_every_price_names_its_page_and_how_it_was_checked():
    found = prices.load()
    assert found.regions == ("us-east-1", "us-west-2") and found.date and found.month_hours == 730
    for price in found.prices.values():
        assert price.source.startswith("https://aws.amazon.com/") and price.verified in prices.VERIFIED
        assert price.price > 0 and price.per > 0
    with pytest.raises(ValueError, match=r"source an aws\.amazon\.com page"):
        prices.parse({"currency": "USD", "regions": [], "date": "x", "month_hours": 730,
                      "prices": {"x": {"price": 1, "per": 1, "unit": "u", "source": "http://example.com",
                                       "verified": "unverified"}}})


def test_template_facts_count_what_the_template_holds():
    template = json.loads(render(config.load_config("prod")).templates[0].body)
    found = template_facts.facts(template, "us-east-1")
    alarms = sum(1 for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm")
    assert found.alarm_metrics == alarms and found.composite_alarms == 1 and found.dashboards == 1
    interface = sum(1 for r in template["Resources"].values()
                    if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"].get("VpcEndpointType") == "Interface")
    assert interface and found.interface_endpoint_azs == interface * 2 and found.health_checks == 5
    assert found.data_event_trails == 1 and found.secrets == 2 and found.processing_by_default
    assert found.ingest_bucket is not None and found.ingest_bucket.transitions[0] == ("STANDARD_IA", 30)


def test_capacity_settings_are_validated():
    raw = {"tags": {"CostCenter": "c", "Owner": "o", "Repository": "r"}, "capacity": {"batch_write_ms": 0}}
    with pytest.raises(ConfigError, match=r"capacity\.batch_write_ms is 0"):
        config.parse_config(raw, "dev")
    raw["capacity"] = {"lambda_concurrency_quota": 50}
    with pytest.raises(ConfigError, match="leave 100 unreserved"):
        config.parse_config(raw, "dev")
