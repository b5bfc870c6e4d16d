"""The estimate as plain text: what was measured, the month's cost per component at rest and at each rate
(with the cost per million records), and the limits in the order the rate reaches them."""

from __future__ import annotations

from tap_templates import cli
from tap_templates.capacity.estimate import Estimate, totals
from tap_templates.capacity.table_shape import TABLE


def money(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.01 or value == 0 else f"{value:.4f}"


def rate_text(rate: float) -> str:
    return f"{rate:,.0f}/s"


def _units(per: dict[str, float], names: list[str]) -> str:
    parts = [f"{'table' if n == TABLE else n} {per[n]:.2f}" for n in names]
    return ", ".join(parts) + f" = {per['total']:.2f}"


def summary(found: Estimate) -> list[str]:
    m, speed = found.inputs.measurement, found.inputs.throughput
    regions = len(m["table"]["regions"])
    names = m["indexes"]
    work = found.workload(max(found.options.rates))
    p = found.inputs.prices
    lines = [
        f"tap estimate: {found.cfg.environment}, primary {found.cfg.primary_region}, "
        f"{regions} table replica(s); prices of {p.date} ({', '.join(p.regions)}), {p.currency} a month (730 h)",
        f"model run: the handler on {m['records']:,} generated records ({found.options.main_share:.0%} of valid ones "
        f"'sensor', {m['rejected'] / m['records']:.1%} rejected), valid records of {m['valid_record_bytes']:.0f} B, "
        f"{found.options.file_bytes / 1e6:g} MB files of {work.records_per_file:,.0f} records",
        f"write units per valid record in one region: {_units(m['units_per_valid_record'], names)} "
        f"({m['units_per_valid_record']['total'] * regions:.2f} across {regions} regions)",
        f"write units per rejected record in one region: {_units(m['units_per_rejected_record'], names)} "
        f"({m['units_per_rejected_record']['total'] * regions:.2f} across {regions} regions)",
        f"write units per file (ledger) in one region: {_units(m['units_per_file'], names)}",
        f"one invocation: {speed.per_invocation:,.0f} records/s (CPU {speed.cpu_bound:,.0f} at {speed.vcpu:.2f} "
        f"vCPU; writes {speed.write_bound:,.0f} with {speed.write_concurrency} in flight)",
    ]
    for name, hot in m["hot_keys"].items():
        if hot:
            lines.append(f"hottest key of {'the table' if name == TABLE else name}: {hot['key'][:48]!r}, "
                         f"{hot['writes_per_record']:.3f} writes and {hot['units_per_record']:.3f} write units per "
                         f"record ({hot['distinct_keys']:,} key values written)")
    return lines


def cost_table(found: Estimate) -> list[str]:
    rest = totals(found.at_rest)
    per_rate = {rate: totals(lines) for rate, lines in found.bills.items()}
    components = list(dict.fromkeys([*rest, *[c for t in per_rate.values() for c in t]]))
    components.remove("total")
    header = ["monthly cost", "at rest"]
    for rate in found.bills:
        header += [rate_text(rate), "per M records"]
    rows = []
    for component in [*components, "total"]:
        row = [component, money(rest.get(component, 0.0))]
        for rate, spent in per_rate.items():
            million = found.workload(rate).records / 1e6
            row += [money(spent.get(component, 0.0)),
                    money((spent.get(component, 0.0) - rest.get(component, 0.0)) / million) if million else "-"]
        rows.append(row)
    return cli.table(header, rows)


def limits_table(found: Estimate) -> list[str]:
    rows = [[rate_text(limit.records_per_second), limit.what, limit.setting] for limit in found.limits]
    return cli.table(["records/s", "limit reached first to last", "config key that moves it"], rows)


def text(found: Estimate, details: bool = False) -> str:
    lines = [*summary(found), "", *cost_table(found), "", *limits_table(found)]
    first = found.limits[0]
    lines += ["", f"first limit: {first.what} at {rate_text(first.records_per_second)}; moved by {first.setting}"]
    for rate in found.bills:
        if rate > first.records_per_second:
            lines.append(f"  {rate_text(rate)} is past it: the cost at that rate assumes the limit is raised")
    if details:
        for rate, bill in found.bills.items():
            lines += ["", f"lines at {rate_text(rate)}:"]
            lines += cli.table(["component", "item", "region", "quantity", "unit", "monthly"], [
                [b.component, b.item, b.region, f"{b.quantity:,.1f}", b.unit, money(b.monthly)] for b in bill])
    lines += [f"warning: {w}" for w in found.warnings]
    return "\n".join(lines)
