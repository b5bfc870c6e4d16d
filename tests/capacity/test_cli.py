"""``scripts/estimate.py`` as a user runs it: a fresh process, one-line errors, and a consistent estimate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def estimate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "estimate.py"), *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=ROOT)


@pytest.mark.parametrize(("args", "expected"), [
    (["--records-per-second", "0"], "argument --records-per-second: invalid _rate value: '0'"),
    (["--records-per-second", "100", "--bytes", "5"], "--bytes must be between 100 and 100000"),
    (["--records-per-second", "100", "--env", "nope"], "no config file"),
    ([], "the following arguments are required: --records-per-second"),
])
def test_bad_input_is_one_line_and_exit_2(args, expected):
    result = estimate(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


def test_the_estimate_adds_up():
    result = estimate("--records-per-second", "1000", "50000", "--env", "prod", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    rest = found["at_rest"]["monthly"]
    assert rest["total"] == pytest.approx(sum(v for k, v in rest.items() if k != "total")) and rest["total"] > 0
    low, high = found["rates"]
    for rate in (low, high):
        lines = rate["lines"]
        assert rate["monthly"]["total"] == pytest.approx(sum(line["monthly"] for line in lines))
        million = rate["records_per_month"] / 1e6
        extra = rate["monthly"]["total"] - rest["total"]
        assert rate["per_million_records"]["total"] == pytest.approx(extra / million)
    # what scales with records is linear in the rate: the cost per million records is the same at both rates
    writes = "DynamoDB writes"
    assert high["per_million_records"][writes] == pytest.approx(low["per_million_records"][writes])
    limits = [limit["records_per_second"] for limit in found["limits"]]
    assert limits == sorted(limits) and found["warnings"] == []
    assert found["measurement"]["table"]["regions"] == found["regions"]
