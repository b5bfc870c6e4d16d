"""Benchmark of the record processor (``handlers/``): a measurement, not a timed test.

Run ``python bench/handler_bench.py`` for a table, ``--json`` for one JSON object, ``--quick`` for a run of a
few seconds (smaller data, fewer repeats, small RSS files). Everything is measured in one run, on generated
JSONL data of about 300 bytes per record (the shipped ``sensor`` and ``event`` types, all valid):

1. the parse floor: ``json.loads`` of every line of the file (and ``orjson.loads``, for reference);
2. the handler's per-record path: the real reader, parser, validator and item builder
   (``formats.jsonl_records`` -> ``pipeline.FileItems.outcomes``), no network;
3. the whole path: ``processor.handler`` on an SQS event for the file, with every AWS call answered at the
   HTTP layer by a botocore ``before-send`` hook (S3 streams the bytes, DynamoDB answers success), against
   the same records written through boto3's ``Table.batch_writer()`` (same stub, default client);
4. peak RSS (``ru_maxrss`` of a fresh child running the whole path) for files of 100 MB and 1 GB;
5. BatchWriteItem requests per 1,000 records (``before-send`` calls);
6. the cold import of ``handlers.processor`` against ``import boto3`` plus one client (fresh interpreters).

CPU figures are ``time.process_time()`` (CPU of every thread of this process), best of ``--repeat`` runs;
import times are wall-clock (``time.perf_counter()`` in the child), the median of ``--import-runs`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
TABLE = "tap-bench-records"
BUCKET = "tap-bench-ingest"
DLQ_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/tap-bench-dlq"
STARTED_AT = "2024-05-01T00:00:00.000Z"
ENVIRONMENT = {  # what the template and the runtime set, with fake credentials; tracing off (no X-Ray daemon)
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
    "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "TABLE_NAME": TABLE, "DLQ_URL": DLQ_URL,
    "POWERTOOLS_SERVICE_NAME": "tap-processor", "POWERTOOLS_METRICS_NAMESPACE": "TapPipeline",
    "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_TRACE_DISABLED": "true",
}
TARGETS = {"record_path": 0.6, "whole_path": 5.0, "rss": 1.2, "requests": 40, "import": 1.3}
MB = 1000 * 1000

# Before the handler is imported (Powertools reads its settings then). Fake credentials always: nothing leaves
# this process, and the run must not depend on (or sign with) whatever credentials the shell holds.
os.environ.update(ENVIRONMENT)
sys.path.insert(0, str(ROOT))

from tap_templates.capacity.stub import RawBody  # noqa: E402 (the project root is on the path only now)

# -- data ----------------------------------------------------------------------------------------------------
BLOCK_TAG = b'"B000000-'  # every id starts with it; files repeat one block with the tag renumbered


def block(n: int, seed: int = 6) -> bytes:
    """``n`` JSONL records (70% sensor, 30% event; a fifth of the timestamps with an offset), ~300 bytes each,
    written as ``json.dumps`` writes them."""
    rng = random.Random(seed)
    metrics = {"temperature.ambient": "celsius", "humidity.relative": "percent", "vibration.rms": "mm_per_s",
               "pressure.barometric": "hectopascal", "power.active": "kilowatt"}
    lines = []
    for i in range(n):
        rid = f"B000000-{i:08d}-{uuid.UUID(int=rng.getrandbits(128))}"
        ts = (f"2024-05-{1 + i % 28:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
              f".{rng.randrange(1000):03d}" + ("Z" if rng.random() < 0.8 else "+02:00"))
        record: dict[str, object]
        if rng.random() < 0.7:
            metric = rng.choice(sorted(metrics))
            record = {"id": rid, "dataType": "sensor", "timestamp": ts,
                      "deviceId": f"site-{rng.randrange(40):03d}/building-{rng.randrange(9)}/floor-"
                                  f"{rng.randrange(12):02d}/gateway-{rng.randrange(100):03d}/rack-"
                                  f"{rng.randrange(100):02d}/slot-{rng.randrange(10)}/device-{rng.randrange(10**6):06d}",
                      "metric": metric, "value": round(rng.uniform(-50, 1000), 3), "unit": metrics[metric]}
        else:
            record = {"id": rid, "dataType": "event", "timestamp": ts,
                      "name": rng.choice(["door.opened", "alarm.raised", "firmware.updated", "session.started"]),
                      "properties": {"actor": f"user-{rng.randrange(10**5):05d}@example.com",
                                     "zone": f"zone-{rng.randrange(50):02d}", "severity": rng.randrange(5),
                                     "acknowledged": rng.random() < 0.5, "source": "badge-reader",
                                     "tags": ["maintenance", f"shift-{rng.randrange(3)}"]}}
        lines.append(json.dumps(record).encode())
    return b"\n".join(lines) + b"\n"


def dataset(records: int) -> bytes:
    """``records`` records with distinct ids."""
    per_block = 10_000
    base = block(min(records, per_block))
    parts = []
    for number in range((records + per_block - 1) // per_block):
        part = base.replace(BLOCK_TAG, b'"B%06d-' % number)
        left = records - number * per_block
        if left < per_block:
            part = b"".join(part.splitlines(keepends=True)[:left])
        parts.append(part)
    return b"".join(parts)


def write_file(path: Path, size: int) -> int:
    """Stream a JSONL file of at least ``size`` bytes to ``path`` (a 10,000-record block at a time)."""
    base = block(10_000)
    written = number = 0
    with open(path, "wb") as out:
        while written < size:
            part = base.replace(BLOCK_TAG, b'"B%06d-' % number)
            out.write(part)
            written += len(part)
            number += 1
    return written


# -- the network, stubbed at the HTTP layer --------------------------------------------------------------------
class Network:
    """A botocore ``before-send`` hook answering every request the processor makes with HTTP 200.

    S3 GetObject streams ``objects[key]`` (a path or bytes); DynamoDB answers BatchWriteItem with no
    unprocessed items and UpdateItem (the ledger) with a fresh claim; SQS SendMessage is accepted. Calls are
    counted by operation; ``last_ledger_update`` keeps the body of the last progress save (its counts).
    """

    def __init__(self) -> None:
        self.objects: dict[str, Path | bytes] = {}
        self.calls: dict[str, int] = {}
        self.last_ledger_update = b""

    def attach(self, client) -> None:
        client.meta.events.register_first("before-send", self.send, unique_id="bench-network")

    def send(self, request, event_name: str, **_):
        from botocore.awsrequest import AWSResponse

        operation = event_name.rsplit(".", 1)[-1]
        self.calls[operation] = self.calls.get(operation, 0) + 1
        headers = {"x-amzn-requestid": "bench", "date": "Wed, 01 May 2024 00:00:00 GMT"}
        if operation == "GetObject":
            source = self.objects[request.url.split("?")[0].rsplit("/", 1)[-1]]
            stream = open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)  # noqa: SIM115
            size = source.stat().st_size if isinstance(source, Path) else len(source)
            headers.update({"content-length": str(size), "content-type": "application/x-ndjson",
                            "etag": '"bench"', "x-amz-version-id": "v1"})
            return AWSResponse(request.url, 200, headers, RawBody(stream))
        if operation == "BatchWriteItem":
            body = b'{"UnprocessedItems":{}}'
        elif operation == "UpdateItem":
            if b"#completedAt" in request.body or b":processed" in request.body:
                self.last_ledger_update = bytes(request.body)
            body = json.dumps({"Attributes": {"startedAt": {"S": STARTED_AT}, "status": {"S": "IN_PROGRESS"},
                                              "attempts": {"N": "1"}}}).encode()
        elif operation == "SendMessage":
            body = b'{"MessageId":"bench","MD5OfMessageBody":"x"}'
        else:
            body = b"{}"
        headers.update({"content-type": "application/x-amz-json-1.0", "content-length": str(len(body)),
                        "x-amz-crc32": str(zlib.crc32(body))})
        return AWSResponse(request.url, 200, headers, RawBody.of(body))

    def ledger_counts(self) -> dict[str, int]:
        values = json.loads(self.last_ledger_update)["ExpressionAttributeValues"]
        return {name: int(values[f":{name}"]["N"]) for name in ("processed", "rejected", "records")}


def sqs_event(key: str, size: int) -> dict:
    record = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION, "eventName": "ObjectCreated:Put",
              "eventTime": STARTED_AT, "s3": {"bucket": {"name": BUCKET}, "object": {
                  "key": key, "size": size, "versionId": "v1", "eTag": "bench", "sequencer": "01"}}}
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "rh",
                         "body": json.dumps({"Records": [record]}), "attributes": {"ApproximateReceiveCount": "1"},
                         "eventSource": "aws:sqs", "awsRegion": REGION}]}


class Context:
    function_name = "tap-bench-processor"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:tap-bench-processor"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def network_for_handler() -> Network:
    """The stub, attached to the handler's own (shared, per-container) clients."""
    from handlers import clients

    network = Network()
    for make in (clients.s3, clients.dynamodb, clients.sqs):
        network.attach(make(REGION))
    return network


def run_handler(network: Network, key: str, size: int) -> dict[str, int]:
    """One invocation of the real handler for object ``key``; the ledger's final counts."""
    from handlers import processor

    with contextlib.redirect_stdout(io.StringIO()):  # the EMF metrics document
        result = processor.handler(sqs_event(key, size), Context())
    if result["batchItemFailures"]:
        raise RuntimeError(f"the handler asked for a retry: {result}")
    return network.ledger_counts()


# -- measurements --------------------------------------------------------------------------------------------
def cpu(fn, repeat: int) -> tuple[float, object]:
    """Best CPU seconds (``process_time``) of ``repeat`` calls of ``fn``, and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def chunks_of(data: bytes, size: int = 1 << 20):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def parse_floor(data: bytes, repeat: int) -> dict[str, float]:
    import orjson

    def plain() -> None:
        loads = json.loads
        for line in io.BytesIO(data):
            loads(line)

    def fast() -> None:
        loads = orjson.loads
        for line in io.BytesIO(data):
            loads(line)

    return {"json_loads_s": cpu(plain, repeat)[0], "orjson_loads_s": cpu(fast, repeat)[0]}


def record_path(data: bytes, repeat: int) -> tuple[float, dict[str, int]]:
    """The handler's reader -> parse -> validate -> item path over the file, as ``FileRun.process`` runs it."""
    from handlers import formats, items, schemas
    from handlers.pipeline import FileItems

    source = items.FileSource(BUCKET, "bench.jsonl", "v1", "FILE#" + "0" * 64, STARTED_AT, 1_800_000_000, REGION)

    def run(body: bytes) -> dict[str, int]:
        file_items = FileItems(items.ItemFactory(source, "sourceLine"), "jsonl", schemas.registry(), 20_000)
        records = formats.jsonl_records(formats.text_start(chunks_of(body)), 1 << 20)
        accepted = total = 0
        for outcome in file_items.outcomes(records):
            accepted += outcome[5]
            total += 1
        return {"records": total, "processed": accepted, "rejected": total - accepted}

    run(data[:100_000])  # warm: the schemas compiled (once per container)
    return cpu(lambda: run(data), repeat)  # type: ignore[return-value]


def whole_path(data: bytes, repeat: int) -> tuple[float, dict[str, int], int]:
    """``processor.handler`` on the file (inline writes: ``WRITE_CONCURRENCY=0``); CPU, counts, requests."""
    from handlers import settings

    os.environ["WRITE_CONCURRENCY"] = "0"
    settings.current.cache_clear()
    try:
        network = network_for_handler()
        network.objects["bench.jsonl"] = data
        run_handler(network, "bench.jsonl", len(data))  # warm: clients, schemas, first connection
        network.calls.clear()
        seconds, counts = cpu(lambda: run_handler(network, "bench.jsonl", len(data)), repeat)
        requests = network.calls.get("BatchWriteItem", 0) // repeat
        network.objects["thousand.jsonl"] = dataset(1000)
        network.calls.clear()
        run_handler(network, "thousand.jsonl", len(network.objects["thousand.jsonl"]))
        per_thousand = network.calls.get("BatchWriteItem", 0)
    finally:  # the RSS children run with the default settings
        del os.environ["WRITE_CONCURRENCY"]
        settings.current.cache_clear()
    return seconds, {**counts, "batch_write_requests": requests}, per_thousand  # type: ignore[dict-item]


def batch_writer_baseline(data: bytes, repeat: int, validation: bool = True) -> float:
    """The same items (the handler's, as plain Python values) through boto3's ``Table.batch_writer()`` from a
    default session (``validation=False``: with parameter validation off, for reference)."""
    import boto3
    import orjson
    from boto3.dynamodb.types import TypeDeserializer
    from botocore.config import Config

    from handlers import formats, items, schemas
    from handlers.pipeline import FileItems

    source = items.FileSource(BUCKET, "bench.jsonl", "v1", "FILE#" + "0" * 64, STARTED_AT, 1_800_000_000, REGION)
    file_items = FileItems(items.ItemFactory(source, "sourceLine"), "jsonl", schemas.registry(), 20_000)
    plain = TypeDeserializer().deserialize
    rows = [{name: plain(value) for name, value in orjson.loads(outcome[4]).items()}
            for outcome in file_items.outcomes(formats.jsonl_records(chunks_of(data), 1 << 20))]
    config = None if validation else Config(parameter_validation=False)
    table = boto3.session.Session().resource("dynamodb", region_name=REGION, config=config).Table(TABLE)
    network = Network()
    network.attach(table.meta.client)

    def run() -> None:
        with table.batch_writer() as batch:
            for row in rows:
                batch.put_item(Item=row)

    with table.batch_writer() as batch:  # warm: the client's first request
        for row in rows[:100]:
            batch.put_item(Item=row)
    return cpu(run, repeat)[0]


def rss_child(path: str) -> None:
    """In a fresh interpreter: run the handler (default settings) on the file at ``path``; print a JSON line."""
    start = time.perf_counter()
    network = network_for_handler()
    network.objects["file.jsonl"] = Path(path)
    counts = run_handler(network, "file.jsonl", Path(path).stat().st_size)
    status = Path("/proc/self/status")
    hwm = [line.split()[1] for line in status.read_text().splitlines() if line.startswith("VmHWM")] \
        if status.exists() else []
    from handlers import settings

    print(json.dumps({**counts, "seconds": time.perf_counter() - start, "vm_hwm_kb": int(hwm[0]) if hwm else None,
                      "write_concurrency": settings.current().write_concurrency}))


# Measures the child's peak from a small process: on Linux a child's ru_maxrss starts at the peak of the
# process it was spawned from (the memory it replaced at exec), so measured from this big one it would be ours.
LAUNCHER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")


def peak_rss(size: int, directory: Path) -> dict[str, float]:
    """Peak RSS (MB, the child's ``ru_maxrss``) of the handler processing a ``size``-byte file in a fresh child."""
    path = directory / f"bench-{size}.jsonl"
    try:
        written = write_file(path, size)
        env = {name: value for name, value in os.environ.items() if name != "WRITE_CONCURRENCY"}  # the default
        out = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, __file__, "--rss-child", str(path)],
                             capture_output=True, text=True, check=True, env=env)
        *_, report_line, rusage_line = out.stdout.strip().splitlines()
        maxrss_kb, code = (int(word) for word in rusage_line.split())
        if code != 0:
            raise RuntimeError(f"the RSS child failed on {size} bytes (exit {code}): {out.stderr[-2000:]}")
        report = json.loads(report_line)
        return {"file_mb": written / MB, "peak_rss_mb": maxrss_kb * 1024 / MB, "records": report["records"],
                "vm_hwm_mb": (report["vm_hwm_kb"] or 0) * 1024 / MB, "seconds": report["seconds"],
                "write_concurrency": report["write_concurrency"]}
    finally:
        path.unlink(missing_ok=True)


IMPORT_HANDLER = "import time; t = time.perf_counter(); import handlers.processor; print(time.perf_counter() - t)"
IMPORT_BOTO3 = ("import time; t = time.perf_counter(); import boto3; boto3.client('dynamodb', region_name='us-east-1');"
                " print(time.perf_counter() - t)")


def import_times(runs: int, tracing: bool = False) -> dict[str, float]:
    """Median wall seconds of the cold import of the handler module and of ``import boto3`` + one client,
    alternating fresh interpreters so both see the same machine state."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    if tracing:
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
    found: dict[str, list[float]] = {"handler": [], "boto3": []}
    for _ in range(runs):
        for name, code in (("handler", IMPORT_HANDLER), ("boto3", IMPORT_BOTO3)):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            found[name].append(float(out.stdout.split()[-1]))
    return {name: statistics.median(values) for name, values in found.items()}


# -- report --------------------------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> dict:
    data = dataset(args.records)
    n = data.count(b"\n")
    floor = parse_floor(data, args.repeat)
    record_s, record_counts = record_path(data, args.repeat)
    if record_counts["processed"] != n:
        raise RuntimeError(f"generated data should be valid: {record_counts}")
    whole_s, whole_counts, per_thousand = whole_path(data, args.repeat)
    if whole_counts["processed"] != n:
        raise RuntimeError(f"the handler did not write every record: {whole_counts}")
    baseline_s = batch_writer_baseline(data, args.baseline_repeat)
    unvalidated_s = batch_writer_baseline(data, 1, validation=False)
    with tempfile.TemporaryDirectory(prefix="tap-bench-") as tmp:
        rss = [peak_rss(size, Path(tmp)) for size in args.rss_sizes]
        at_rest = peak_rss(100_000, Path(tmp))
    imports = import_times(args.import_runs)
    imports_traced = import_times(args.import_runs, tracing=True) if args.import_tracing else None

    us = 1e6 / n
    small, large = rss[0], rss[-1]
    result = {
        "records": n, "bytes": len(data), "bytes_per_record": round(len(data) / n, 1), "repeat": args.repeat,
        "cpu_clock": "time.process_time (all threads), best of repeat", "import_clock": "time.perf_counter, median",
        "parse_floor": {"json_loads_us": floor["json_loads_s"] * us, "orjson_loads_us": floor["orjson_loads_s"] * us},
        "record_path": {"us": record_s * us, "json_loads_us": floor["json_loads_s"] * us,
                        "ratio": floor["json_loads_s"] / record_s, "target": TARGETS["record_path"], **record_counts},
        "whole_path": {"us": whole_s * us, "batch_writer_us": baseline_s * us, "ratio": baseline_s / whole_s,
                       "target": TARGETS["whole_path"], "batch_writer_no_validation_us": unvalidated_s * us,
                       "ratio_no_validation": unvalidated_s / whole_s, **whole_counts},
        "peak_rss": {"files": rss, "small_mb": small["peak_rss_mb"], "large_mb": large["peak_rss_mb"],
                     "ratio": large["peak_rss_mb"] / small["peak_rss_mb"], "target": TARGETS["rss"],
                     "at_rest_mb": at_rest["peak_rss_mb"]},
        "requests_per_1000": {"requests": per_thousand, "target": TARGETS["requests"],
                              "main_run": whole_counts["batch_write_requests"] * 1000 / n},
        "cold_import": {"handler_ms": imports["handler"] * 1000, "boto3_client_ms": imports["boto3"] * 1000,
                        "ratio": imports["handler"] / imports["boto3"], "target": TARGETS["import"],
                        "runs": args.import_runs, "tracing": False},
    }
    if imports_traced is not None:
        result["cold_import_tracing"] = {
            "handler_ms": imports_traced["handler"] * 1000, "boto3_client_ms": imports_traced["boto3"] * 1000,
            "ratio": imports_traced["handler"] / imports_traced["boto3"], "target": TARGETS["import"],
            "runs": args.import_runs, "tracing": True}
    result["pass"] = {
        "record_path": result["record_path"]["ratio"] >= TARGETS["record_path"],
        "whole_path": result["whole_path"]["ratio"] >= TARGETS["whole_path"],
        "peak_rss": result["peak_rss"]["ratio"] <= TARGETS["rss"],
        "requests_per_1000": per_thousand == TARGETS["requests"],
        "cold_import": result["cold_import"]["ratio"] <= TARGETS["import"],
    }
    if imports_traced is not None:
        result["pass"]["cold_import_tracing"] = result["cold_import_tracing"]["ratio"] <= TARGETS["import"]
    return result


def table(r: dict) -> str:
    ok = {True: "PASS", False: "FAIL"}
    f, p, w, m, q, c = (r[k] for k in ("parse_floor", "record_path", "whole_path", "peak_rss", "requests_per_1000",
                                       "cold_import"))
    small, large = m["files"][0], m["files"][-1]
    rows = [
        ("(1) parse floor, json.loads per line", f"{f['json_loads_us']:.2f} us/rec",
         f"orjson {f['orjson_loads_us']:.2f} us/rec", "", "", ""),
        ("(2) record path: read+parse+validate+item", f"{p['us']:.2f} us/rec", f"json.loads {p['json_loads_us']:.2f}",
         f"{p['ratio']:.2f}x", f">= {p['target']}x", ok[r["pass"]["record_path"]]),
        ("(3) whole handler, writes stubbed", f"{w['us']:.2f} us/rec", f"batch_writer {w['batch_writer_us']:.1f}",
         f"{w['ratio']:.2f}x", f">= {w['target']}x", ok[r["pass"]["whole_path"]]),
        ("(4) peak RSS", f"{large['peak_rss_mb']:.1f} MB @ {large['file_mb']:.0f} MB",
         f"{small['peak_rss_mb']:.1f} MB @ {small['file_mb']:.0f} MB", f"{m['ratio']:.2f}x", f"<= {m['target']}x",
         ok[r["pass"]["peak_rss"]]),
        ("(5) BatchWriteItem per 1,000 records", f"{q['requests']}", "", "", f"== {q['target']}",
         ok[r["pass"]["requests_per_1000"]]),
        ("(6) cold import handlers.processor", f"{c['handler_ms']:.1f} ms", f"boto3+client {c['boto3_client_ms']:.1f}",
         f"{c['ratio']:.2f}x", f"<= {c['target']}x", ok[r["pass"]["cold_import"]]),
    ]
    if "cold_import_tracing" in r:
        t = r["cold_import_tracing"]
        rows.append(("(6') same, X-Ray tracing on (as deployed)", f"{t['handler_ms']:.1f} ms",
                     f"boto3+client {t['boto3_client_ms']:.1f}", f"{t['ratio']:.2f}x", f"<= {t['target']}x",
                     ok[r["pass"]["cold_import_tracing"]]))
    head = ("measurement", "value", "reference", "ratio", "target", "result")
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    lines = [" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [head, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    notes = [
        f"{r['records']:,} generated records of {r['bytes_per_record']} bytes (70% sensor, 30% event, all valid); "
        f"CPU = time.process_time() (all threads), best of {r['repeat']}; import = wall clock, median of "
        f"{c['runs']} fresh interpreters.",
        "(2) = json.loads time / handler time, both over every line of the same file.",
        "(3) = Table.batch_writer() (default session, network stubbed the same way) / processor.handler with "
        f"WRITE_CONCURRENCY=0; with parameter validation off the baseline is {w['batch_writer_no_validation_us']:.1f}"
        f" us/rec ({w['ratio_no_validation']:.2f}x).",
        "(4) = ru_maxrss of a fresh child running processor.handler (default settings) on each file; "
        f"the same child on a 0.1 MB file: {m['at_rest_mb']:.1f} MB.",
        "(6) = import handlers.processor / import boto3 + boto3.client('dynamodb'), POWERTOOLS_TRACE_DISABLED=true; "
        "(6') without it, as the template deploys the function (Tracing Active).",
    ]
    return "\n".join([*lines, "", *notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds: 5,000 records, 1 repeat, 5 MB and 20 MB files, 3 import runs")
    parser.add_argument("--records", type=int, help="records in the timed file (default 100,000)")
    parser.add_argument("--repeat", type=int, help="timed runs of each CPU measurement, best kept (default 3)")
    parser.add_argument("--no-1gb", action="store_true", help="peak RSS at 10 MB and 100 MB instead of 100 MB and 1 GB")
    parser.add_argument("--import-runs", type=int, help="fresh interpreters per import measurement (default 7)")
    parser.add_argument("--no-tracing-import", action="store_true",
                        help="skip timing the import with X-Ray tracing on, as deployed (--quick skips it)")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child)
        return 0
    quick = args.quick
    args.records = args.records or (5_000 if quick else 100_000)
    args.repeat = args.repeat or (1 if quick else 3)
    args.baseline_repeat = 1 if quick else min(args.repeat, 2)
    args.import_runs = args.import_runs or (3 if quick else 7)
    args.import_tracing = not (quick or args.no_tracing_import)
    args.rss_sizes = [5 * MB, 20 * MB] if quick else [10 * MB, 100 * MB] if args.no_1gb else [100 * MB, 1000 * MB]
    result = measure(args)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
