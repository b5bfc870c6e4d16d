"""The model run: the real handler on a generated skewed mix, AWS answered locally, every table write costed.

``measure`` starts a child process (``python -m tap_templates.capacity.measure``) with the function's own
environment from the rendered template (so whatever settings the template gives the handler, it runs with),
fake credentials and the table read from the template. The child generates the files (``workload``), runs
``handlers.processor.handler`` on each, as Lambda would for its S3 event, with every request answered by
``stub``, and feeds every DynamoDB write the handler sent to ``table_model``. It reports:

- write units per valid record, per rejected record and per file (the ledger's own writes), in the table and
  in each index, in one region (each replica region pays the same again as replicated writes);
- the bytes stored per record in the table and each index (with DynamoDB's 100-byte overhead), and the write
  units a TTL delete costs per record in each replica region;
- the hottest partition key value of the table and each index: its share of the writes over the whole run
  (writes per record, which scales with any rate), and, on a timeline at the target rate with files in
  parallel (``timeline``), the most writes and write units one key value gets in one second;
- the log bytes the handler writes per file and its requests per file.

Writes are sent inline (``WRITE_CONCURRENCY=0``) so their order is the file's order; that changes how fast the
handler goes, not what it writes.
"""

from __future__ import annotations

import collections
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tap_templates.capacity import workload
from tap_templates.capacity.table_model import STORAGE_OVERHEAD, Cost, TableModel, units
from tap_templates.capacity.table_shape import TableShape, from_template
from tap_templates.capacity.timeline import hottest, schedule
from tap_templates.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_TYPE = "AWS::Lambda::Function"
KINDS = ("valid", "rejected", "file")


class MeasurementError(Exception):
    """The model run failed (the handler asked for a retry, or wrote what the model cannot read)."""


# -- the parent's side ---------------------------------------------------------------------------------------
def function_environment(template: dict[str, Any], region: str) -> tuple[dict[str, str], int]:
    """The processor's environment variables in a region's template (references replaced by stand-ins) and
    its memory size."""
    functions = [r for r in template.get("Resources", {}).values() if r.get("Type") == FUNCTION_TYPE]
    if len(functions) != 1:
        raise ConfigError(f"the template for {region} defines {len(functions)} Lambda functions; the capacity "
                          "model expects the one processor function")
    props = functions[0]["Properties"]
    variables = props.get("Environment", {}).get("Variables", {})
    env = {}
    for name, value in variables.items():
        if isinstance(value, str):
            env[name] = value
        elif name.endswith("_URL"):
            env[name] = f"https://sqs.{region}.amazonaws.com/123456789012/capacity-{name.lower()}"
        else:
            env[name] = f"capacity-{name.lower()}"
    return env, int(props.get("MemorySize", 128))


def _child_environment(template: dict[str, Any], region: str) -> dict[str, str]:
    function_env, _ = function_environment(template, region)
    paths = [str(ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {
        "PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(paths), "PYTHONHASHSEED": "0",
        **function_env,
        "AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": "capacity",
        "AWS_SECRET_ACCESS_KEY": "capacity", "AWS_SESSION_TOKEN": "capacity", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_TRACE_DISABLED": "true", "WRITE_CONCURRENCY": "0",
        "AWS_LAMBDA_FUNCTION_NAME": "capacity-model",
    }


def measure(template: dict[str, Any], region: str, mix: workload.Mix, files: int, concurrency: int,
            records_per_file: int | None = None, timeout: float = 1800) -> dict[str, Any]:
    """Run the model in a child process on ``files`` files of ``mix``; its report (see the module docstring)."""
    if importlib.util.find_spec("handlers") is None or importlib.util.find_spec("aws_lambda_powertools") is None:
        raise ConfigError("the capacity model runs the handler: install it with its dependencies "
                          "(pip install -e '.[handler]')")
    shape = from_template(template, region)
    _, memory = function_environment(template, region)
    spec = {"table": shape.to_dict(), "mix": asdict(mix), "files": files, "concurrency": concurrency,
            "records_per_file": records_per_file, "memory_mb": memory}
    done = subprocess.run([sys.executable, "-m", "tap_templates.capacity.measure"], input=json.dumps(spec),
                          capture_output=True, text=True, env=_child_environment(template, region), cwd=ROOT,
                          timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeasurementError(f"the model run failed: {last}")
    return json.loads(done.stdout)


# -- the child's side ----------------------------------------------------------------------------------------
class _Counting:
    """Stands for stdout in the child: the handler's log lines (what CloudWatch Logs ingests), kept to count
    their bytes and the metrics its EMF documents publish."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    @property
    def bytes(self) -> int:
        return sum(len(part.encode()) for part in self.parts)

    def metrics(self) -> list[str]:
        """Every distinct metric the EMF documents published: namespace, name and dimension values."""
        found = set()
        for line in "".join(self.parts).splitlines():
            if '"_aws"' not in line:
                continue
            document = json.loads(line)
            for directive in document["_aws"].get("CloudWatchMetrics", []):
                for dimensions in directive.get("Dimensions", [[]]):
                    values = ",".join(f"{d}={document.get(d)}" for d in dimensions)
                    for metric in directive.get("Metrics", []):
                        found.add(f"{directive.get('Namespace')}/{metric['Name']}[{values}]")
        return sorted(found)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Context:
    def __init__(self, memory: int) -> None:
        self.function_name = "capacity-model"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:capacity-model"
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _event(region: str, generated: workload.GeneratedFile) -> dict[str, Any]:
    from handlers import contracts

    record = contracts.s3_event_record(
        bucket="capacity-ingest", key=generated.key, region=region, size=len(generated.body), etag="capacity",
        version_id="v1", when=workload.START + dt.timedelta(seconds=generated.arrives), principal="capacity",
        configuration_id="capacity")
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "capacity",
                         "body": json.dumps(contracts.s3_event(record)),
                         "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs",
                         "awsRegion": region}]}


class Tally:
    """Sums over the run, per kind of write (valid record, rejected record, file bookkeeping)."""

    def __init__(self) -> None:
        self.units: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in KINDS}
        self.writes: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in KINDS}
        self.items: collections.Counter[str] = collections.Counter()
        self.key_writes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.key_units: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.read_units = 0.0
        self.kind_of: dict[tuple[str, ...], str] = {}

    def add(self, kind: str, cost: Cost) -> None:
        self.units[kind].update(cost.units)
        self.writes[kind].update(cost.writes)
        self.items[kind] += 1
        for name, key in cost.keys.items():
            self.key_writes[name][key] += cost.writes[name]
            self.key_units[name][key] += cost.units[name]


def _file_writes(calls: list[Any], generated: workload.GeneratedFile, model: TableModel, tally: Tally
                 ) -> list[tuple[float, Cost]]:
    """Cost every DynamoDB call the handler made for one file; (fraction of the file done, cost) per write."""
    timed: list[tuple[float, Cost]] = []
    done = 0
    n = generated.records
    for call in calls:
        body = call.body
        if call.operation == "BatchWriteItem":
            for requests in body["RequestItems"].values():
                for request in requests:
                    if "PutRequest" not in request:
                        raise MeasurementError(f"the handler sent a BatchWriteItem {sorted(request)}: only puts "
                                               "are modelled")
                    if done >= n:
                        raise MeasurementError(f"the handler wrote more record items than {generated.key} has "
                                               f"records ({n}): the model assumes one item per record")
                    item = request["PutRequest"]["Item"]
                    kind = generated.kinds[done]
                    done += 1
                    cost = model.put(item)
                    tally.kind_of[model.key(item)] = kind
                    tally.add(kind, cost)
                    timed.append((done / n, cost))
        elif call.operation in ("UpdateItem", "PutItem"):
            if call.operation == "PutItem":
                cost = model.put(body["Item"])
                key = model.key(body["Item"])
            else:
                cost = model.update(body["Key"], body["UpdateExpression"], body.get("ExpressionAttributeNames", {}),
                                    body.get("ExpressionAttributeValues", {}))
                key = model.key(body["Key"])
            tally.kind_of.setdefault(key, "file")
            tally.add("file", cost)
            timed.append((done / n, cost))
        elif call.operation in ("GetItem", "Query", "BatchGetItem"):
            tally.read_units += 1.0 if body.get("ConsistentRead") else 0.5
        else:
            raise MeasurementError(f"the handler called DynamoDB {call.operation}, which the model does not cost")
    if done != n:
        raise MeasurementError(f"{generated.key}: {n} records but {done} record items written")
    return timed


def _ledger_counts(calls: list[Any]) -> tuple[int, int] | None:
    """(processed, rejected) of the file's last ledger save, as the handler counted them."""
    for call in reversed(calls):
        values = call.body.get("ExpressionAttributeValues", {})
        if ":processed" in values and ":rejected" in values and ":status" in values:
            return int(values[":processed"]["N"]), int(values[":rejected"]["N"])
    return None


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """The model run, in this process (the child): generate, process, cost, summarize."""
    from handlers import clients, processor, settings
    from tap_templates.capacity.stub import Stub

    shape = TableShape.from_dict(spec["table"])
    mix = workload.Mix(**spec["mix"])
    generated = workload.files(mix, spec["files"], spec.get("records_per_file"))
    region = os.environ["AWS_REGION"]
    settings.current.cache_clear()
    clients.reset()
    stub = Stub()
    for make in (clients.s3, clients.dynamodb, clients.sqs, clients.secretsmanager):
        stub.attach(make(region))
    model, tally = TableModel(shape), Tally()
    per_file: list[tuple[int, list[tuple[float, Cost]]]] = []
    for file in generated:
        stub.objects[file.key] = file.body
        stub.current = file.key
        stub.started_at[file.key] = workload._iso(file.arrives)
        first = len(stub.calls)
        result = processor.handler(_event(region, file), _Context(spec["memory_mb"]))
        if result["batchItemFailures"]:
            raise MeasurementError(f"the handler asked to retry {file.key}; see its log")
        calls = stub.calls[first:]
        counted = _ledger_counts(calls)
        expected = (file.kinds.count("valid"), file.kinds.count("rejected"))
        if counted is not None and counted != expected:
            raise MeasurementError(f"{file.key}: the handler counted {counted} (processed, rejected), the "
                                   f"generator meant {expected}")
        per_file.append((file.records, _file_writes(calls, file, model, tally)))
        del stub.objects[file.key]
    return _summary(spec, shape, generated, model, tally, per_file, stub.counts)


def _per(counter: collections.Counter[str], names: list[str], count: int) -> dict[str, float]:
    per = {name: counter.get(name, 0) / count if count else 0.0 for name in names}
    return {**per, "total": sum(per.values())}


def _summary(spec: dict[str, Any], shape: TableShape, generated: list[workload.GeneratedFile], model: TableModel,
             tally: Tally, per_file: list[tuple[int, list[tuple[float, Cost]]]], requests: dict[str, int]
             ) -> dict[str, Any]:
    names = [index.name for index in shape.all]
    records = sum(f.records for f in generated)
    counts = {"valid": tally.items["valid"], "rejected": tally.items["rejected"], "file": len(generated)}
    storage: collections.Counter[str] = collections.Counter()
    ttl_units: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in KINDS}
    for key, item in model.items.items():
        kind = tally.kind_of.get(key, "file")
        for index in shape.all:
            size = model.entry_size(key, index) if index is not shape.table else model.sizes[key]
            if size:
                storage[index.name] += size + STORAGE_OVERHEAD
                if shape.ttl_attribute and shape.ttl_attribute in item:
                    ttl_units[kind][index.name] += units(size)
    rate = spec["mix"]["records_per_second"]
    timed = hottest(schedule(per_file, rate, spec["concurrency"]))
    hot = {}
    for name in names:
        writes, spent = tally.key_writes.get(name), tally.key_units.get(name)
        if not writes:
            hot[name] = None
            continue
        key, count = writes.most_common(1)[0]
        top = timed[name]
        hot[name] = {"key": key, "writes_per_record": count / records, "units_per_record": spent[key] / records,
                     "distinct_keys": len(writes), "timeline_writes_per_second": top.writes_per_second,
                     "timeline_key": top.key, "timeline_units_per_second": top.units_per_second}
    valid_bytes = [len(line) for f in generated for line, kind in zip(f.body.splitlines(), f.kinds, strict=True)
                   if kind == "valid"]
    return {
        "records": records, "valid": counts["valid"], "rejected": counts["rejected"], "files": len(generated),
        "input_bytes": sum(len(f.body) for f in generated),
        "valid_record_bytes": sum(valid_bytes) / len(valid_bytes) if valid_bytes else 0.0,
        "table": shape.to_dict(), "indexes": names,
        "units_per_valid_record": _per(tally.units["valid"], names, counts["valid"]),
        "units_per_rejected_record": _per(tally.units["rejected"], names, counts["rejected"]),
        "units_per_file": _per(tally.units["file"], names, counts["file"]),
        "writes_per_valid_record": _per(tally.writes["valid"], names, counts["valid"]),
        "writes_per_rejected_record": _per(tally.writes["rejected"], names, counts["rejected"]),
        "ttl_delete_units_per_record": _per(ttl_units["valid"] + ttl_units["rejected"], names, records),
        "ttl_delete_units_per_file": _per(ttl_units["file"], names, counts["file"]),
        "storage_bytes_per_record": _per(storage, names, records),
        "read_units_per_file": tally.read_units / len(generated),
        "requests_per_file": {op: n / len(generated) for op, n in sorted(requests.items())},
        "hot_keys": hot,
        "timeline": {"records_per_second": rate, "concurrency": spec["concurrency"],
                     "seconds": records / rate},
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    real, counting = sys.stdout, _Counting()
    sys.stdout = counting  # before the handler is imported: its logger writes to the stdout it finds then
    try:
        result = run(spec)
    finally:
        sys.stdout = real
    result["log_bytes_per_file"] = counting.bytes / max(1, result["files"])
    result["emf_metric_names"] = counting.metrics()
    result["emf_metrics"] = len(result["emf_metric_names"])
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
