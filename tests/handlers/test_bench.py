"""The benchmark (``bench/handler_bench.py``) runs and reports every measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

def test_the_benchmark_reports_every_measurement():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "handler_bench.py"), "--quick", "--json",
                          "--records", "2000"], capture_output=True, text=True, check=True, timeout=600)
    result = json.loads(out.stdout)
    assert {"json_loads_us", "orjson_loads_us"} <= set(result["parse_floor"])
    assert {"us", "json_loads_us", "ratio"} <= set(result["record_path"])
    assert {"us", "batch_writer_us", "ratio"} <= set(result["whole_path"])
    assert {"small_mb", "large_mb", "ratio"} <= set(result["peak_rss"])
    assert {"requests"} <= set(result["requests_per_1000"])
    assert {"handler_ms", "boto3_client_ms", "ratio"} <= set(result["cold_import"])
    assert set(result["pass"]) >= {"record_path", "whole_path", "peak_rss", "requests_per_1000", "cold_import"}
    assert result["record_path"]["processed"] == result["records"] == 2000
