"""An environment's estimate: render its templates, run the model on them, and price the month at each rate."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from tap_templates.capacity import costs, measure, prices, template_facts, workload
from tap_templates.capacity.limits import Limit, limits
from tap_templates.config import PipelineConfig
from tap_templates.render import render


@dataclass(frozen=True)
class Options:
    rates: tuple[float, ...]
    record_bytes: int = 300
    file_bytes: int = 10 * workload.MB
    main_share: float = 0.9
    rejected_share: float = 0.01
    sample_files: int = 4
    sample_records_per_file: int = 5000


@dataclass(frozen=True)
class Estimate:
    cfg: PipelineConfig
    options: Options
    inputs: costs.Inputs
    at_rest: list[costs.Line]
    bills: dict[float, list[costs.Line]]
    limits: list[Limit]
    warnings: list[str]

    def workload(self, rate: float) -> costs.Workload:
        m = self.inputs.measurement
        return costs.Workload(rate, self.options.file_bytes, self.inputs.prices.month_hours * 3600,
                              m["input_bytes"] / m["records"])


def handler_setting(env: dict[str, str], variable: str, field: str) -> int:
    """An integer setting of the handler as the template sets it (``variable``), else the handler's default."""
    if env.get(variable, "").isdigit():
        return int(env[variable])
    from handlers.settings import Settings  # the standard library only: safe to import here

    return int(next(f.default for f in dataclasses.fields(Settings) if f.name == field))


def handler_write_concurrency(env: dict[str, str]) -> int:
    return handler_setting(env, "WRITE_CONCURRENCY", "write_concurrency")


def estimate(cfg: PipelineConfig, options: Options, price_list: prices.PriceList | None = None) -> Estimate:
    price_list = price_list or prices.load()
    templates = {t.region: json.loads(t.body) for t in render(cfg).templates}
    facts = {region: template_facts.facts(body, region) for region, body in templates.items()}
    primary = facts[cfg.primary_region]
    speed = costs.throughput(primary.function_memory_mb, cfg.capacity.records_per_second_per_vcpu,
                             handler_write_concurrency(primary.function_env), cfg.capacity.batch_write_ms)
    top = max(options.rates)
    mix = workload.Mix(records_per_second=top or 1.0, file_bytes=options.file_bytes,
                       record_bytes=options.record_bytes, main_share=options.main_share,
                       rejected_share=options.rejected_share)
    measured = measure.measure(templates[cfg.primary_region], cfg.primary_region, mix, options.sample_files,
                               max(1, math.ceil((top or 1) / speed.per_invocation)),
                               records_per_file=options.sample_records_per_file)
    ttl_days = handler_setting(primary.function_env, "RECORD_TTL_DAYS", "record_ttl_days")
    inputs = costs.Inputs(cfg.primary_region, facts, measured, speed, ttl_days, price_list)
    found = Estimate(cfg, options, inputs, [], {}, limits(cfg, primary, measured, speed), [])
    found.at_rest.extend(costs.bill(inputs, found.workload(0.0)))
    for rate in options.rates:
        found.bills[rate] = costs.bill(inputs, found.workload(rate))
    unpriced = price_list.unpriced_regions(cfg.regions)
    if unpriced:
        found.warnings.append(f"no prices for {', '.join(unpriced)}: the prices of {', '.join(price_list.regions)} "
                              "are used")
    return found


def totals(lines: list[costs.Line]) -> dict[str, float]:
    """Monthly cost per component, in the order of first appearance, and ``total``."""
    found: dict[str, float] = {}
    for line in lines:
        found[line.component] = found.get(line.component, 0.0) + line.monthly
    return {**found, "total": sum(found.values())}


def to_json(found: Estimate) -> dict[str, Any]:
    m = found.inputs.measurement
    rest = totals(found.at_rest)
    rates = []
    for rate, lines in found.bills.items():
        work = found.workload(rate)
        spent = totals(lines)
        million = work.records / 1e6
        rates.append({
            "records_per_second": rate, "records_per_month": work.records, "files_per_month": work.files,
            "monthly": spent,
            "per_million_records": {k: (v - rest.get(k, 0.0)) / million for k, v in spent.items()} if million else {},
            "lines": [dataclasses.asdict(line) for line in lines],
            "lambda_concurrency": rate / found.inputs.throughput.per_invocation,
        })
    return {
        "environment": found.cfg.environment, "primary_region": found.cfg.primary_region,
        "regions": list(found.cfg.regions),
        "prices": {"file": str(prices.PRICES_FILE.name), "date": found.inputs.prices.date,
                   "regions": list(found.inputs.prices.regions), "currency": found.inputs.prices.currency},
        "options": dataclasses.asdict(found.options),
        "throughput": dataclasses.asdict(found.inputs.throughput),
        "measurement": m,
        "at_rest": {"monthly": rest, "lines": [dataclasses.asdict(line) for line in found.at_rest]},
        "rates": rates,
        "limits": [dataclasses.asdict(limit) for limit in found.limits],
        "warnings": found.warnings,
    }
