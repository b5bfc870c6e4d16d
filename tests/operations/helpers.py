"""Plain helpers of the operations tests: a regional outage, test files, and running the scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import boto3
from botocore.exceptions import EndpointConnectionError

from tests.deploy.helpers import ROOT, Result, subprocess_env

SCRIPTS = ROOT / "scripts"


class Outage:
    """Regions whose endpoints stop answering for every client of one boto3 session, as in a regional outage:
    each call to a region in ``down`` raises botocore's ``EndpointConnectionError`` before it is sent (a
    ``before-call`` hook, the fault injection botocore offers; moto still answers every other call)."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self.down: set[str] = set()
        self.refused = 0
        session.events.register_first("before-call", self._call)

    def _call(self, request_signer: Any = None, **_: Any) -> None:
        region = getattr(request_signer, "region_name", None)
        if region in self.down:
            self.refused += 1
            raise EndpointConnectionError(endpoint_url=f"https://unreachable.{region}.amazonaws.com")


def jsonl(prefix: str, records: int) -> bytes:
    """A valid JSON Lines file of sensor readings (the ``sensor`` schema), ``records`` lines."""
    return "".join(json.dumps({"id": f"{prefix}-{i:04d}", "dataType": "sensor", "timestamp": "2024-05-01T08:00:00Z",
                               "deviceId": f"{prefix}-dev", "metric": "temperature", "value": 20.5 + i, "unit": "C"})
                   + "\n" for i in range(records)).encode()


def run_script(name: str, *args: str, stdin: str | None = None, timeout: float = 60) -> Result:
    """``python scripts/NAME ARGS`` in a fresh process, stdin closed (no terminal) unless given."""
    done = subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=ROOT, capture_output=True, text=True,
                          env=subprocess_env(), timeout=timeout, input=stdin if stdin is not None else "")
    return Result(done.returncode, done.stdout, done.stderr)


def run_script_typing(name: str, *args: str, typed: str, timeout: float = 60) -> Result:
    """``python scripts/NAME ARGS`` with a terminal as stdin (a pseudo-terminal) on which ``typed`` is typed."""
    primary, secondary = os.openpty()
    try:
        os.write(primary, typed.encode())
        done = subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=ROOT, capture_output=True,
                              stdin=secondary, text=True, env=subprocess_env(), timeout=timeout)
    finally:
        os.close(primary)
        os.close(secondary)
    return Result(done.returncode, done.stdout, done.stderr)


def ledger_item(pipeline: Any, region: str, lid: str) -> dict[str, Any] | None:
    """A ledger item as the table stores it in ``region`` (plain strings and ints)."""
    item = pipeline.client("dynamodb", region).get_item(
        TableName=pipeline.table, Key={"recordId": {"S": lid}, "timestamp": {"S": "LEDGER"}},
        ConsistentRead=True).get("Item")
    if item is None:
        return None
    return {k: (int(v["N"]) if "N" in v else v.get("S")) for k, v in item.items()}


def file_items(pipeline: Any, region: str, lid: str) -> int:
    """How many record items of one file the region's table holds (``sourceFile`` = its ledger ID)."""
    return sum(1 for i in pipeline.items(region) if i.get("sourceFile", {}).get("S") == lid and "processingStatus" in i)
