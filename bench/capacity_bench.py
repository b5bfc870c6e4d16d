"""The model run at scale: the handler's own items at a sustained 50,000 records/s of a skewed mix.

Run ``python bench/capacity_bench.py`` (a few minutes on 2 cores; ``--quick`` about 20 s on 1 MB files,
``--json`` for one JSON object). It renders the environment (``--env``, default dev), generates 10 MB JSON Lines
files (90% of valid records of one data type, 1% rejected, live timestamps), runs ``handlers.processor.handler``
on each with AWS answered locally (``tap_templates.capacity.measure``), lays the writes on a timeline at the rate
with as many files in parallel as invocations it takes (``[capacity]`` settings), and reports for the table and
each index of the rendered template the hottest partition key value in one second, against the target of 500
writes per second, and the write units per valid and per rejected record, per region and across regions.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tap_templates import config  # noqa: E402
from tap_templates.capacity import costs, measure, workload  # noqa: E402
from tap_templates.capacity.estimate import handler_write_concurrency  # noqa: E402
from tap_templates.capacity.template_facts import facts  # noqa: E402
from tap_templates.render import render  # noqa: E402

HOT_KEY_TARGET = 500  # writes per second per partition key value: half of DynamoDB's 1,000


def run(env: str, rate: float, file_bytes: int, files: int | None, config_file: Path | None = None) -> dict:
    cfg = config.load_config(env, config_file)
    templates = {t.region: json.loads(t.body) for t in render(cfg).templates}
    primary = facts(templates[cfg.primary_region], cfg.primary_region)
    speed = costs.throughput(primary.function_memory_mb, cfg.capacity.records_per_second_per_vcpu,
                             handler_write_concurrency(primary.function_env), cfg.capacity.batch_write_ms)
    concurrency = max(1, math.ceil(rate / speed.per_invocation))
    count = files or 2 * concurrency + 4  # the ramp-up (one file more per step) and a few steady seconds
    mix = workload.Mix(records_per_second=rate, file_bytes=file_bytes)
    result = measure.measure(templates[cfg.primary_region], cfg.primary_region, mix, count, concurrency)
    return {"environment": env, "per_invocation": speed.per_invocation, **result}


def table(r: dict) -> str:
    regions = len(r["table"]["regions"])
    t = r["timeline"]
    lines = [f"{r['records']:,} records ({r['valid']:,} valid, {r['rejected']:,} rejected) in {r['files']} files of "
             f"{r['input_bytes'] / r['files'] / 1e6:.1f} MB at {t['records_per_second']:,.0f} records/s: "
             f"{t['concurrency']} invocations in parallel ({r['per_invocation']:,.0f} records/s each), "
             f"{t['seconds']:.1f} s of traffic", ""]
    head = ("table or index", "partition key", "hottest value in 1 s", "writes/s", "write units/s",
            f"<= {HOT_KEY_TARGET}/s", "its share of writes")
    rows = []
    for index in r["table"]["indexes"]:
        hot = r["hot_keys"].get(index["name"])
        if not hot:
            rows.append((index["name"], index["hash_key"], "(no item has its keys)", "0", "0", "PASS", "0"))
            continue
        rows.append((index["name"], index["hash_key"], hot["timeline_key"][:44],
                     f"{hot['timeline_writes_per_second']:,}", f"{hot['timeline_units_per_second']:,}",
                     "PASS" if hot["timeline_writes_per_second"] <= HOT_KEY_TARGET else "FAIL",
                     f"{hot['writes_per_record']:.4f} per record"))
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
    lines.insert(3, "-+-".join("-" * w for w in widths))
    for kind in ("valid", "rejected"):
        per = r[f"units_per_{kind}_record"]
        parts = ", ".join(f"{name} {per[name]:.2f}" for name in r["indexes"])
        lines.append(f"write units per {kind} record: {per['total']:.2f} per region ({parts}), "
                     f"{per['total'] * regions:.2f} across {regions} regions")
    per_file = r["units_per_file"]["total"]
    lines.append(f"write units per file (ledger and content items): {per_file:.2f} per region; "
                 f"storage per record: {r['storage_bytes_per_record']['total']:.0f} bytes per region")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--config", type=Path, metavar="FILE", help="config file instead of config/ENV.toml "
                        "(e.g. one with [table] index_data_types = false)")
    parser.add_argument("--records-per-second", type=float, default=50_000)
    parser.add_argument("--file-mb", type=float, default=10.0)
    parser.add_argument("--files", type=int, help="files to run (default: twice the invocations in parallel + 4)")
    parser.add_argument("--quick", action="store_true", help="1 MB files")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.env, args.records_per_second, int((1.0 if args.quick else args.file_mb) * 1e6), args.files,
                 args.config)
    print(json.dumps(result, sort_keys=True) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
