"""Which region processes: the status of every region, ``promote`` and ``failback``.

A region processes when its event source mapping (SQS -> processor) is on. The StackSet records the intended
role as the instance's ``ProcessingEnabled`` override, which every later deploy keeps; promote changes both:

1. fence: turn off the event source of every other region that may still process (directly, through the
   Lambda API, so it takes seconds); an unreachable region is skipped with a warning, since its state cannot
   change until it answers again, and what it may still do is harmless (the file ledger lets only one
   invocation work on a file, and never twice);
2. turn the new region's event source on;
3. record the roles: ``ProcessingEnabled=true`` on the new region's instance, ``false`` on the others'
   (a StackSet operation each, administered from that region, so a dead region never blocks the others).

Every step is skipped when already done, so a promote interrupted half-way (or run while the old primary was
unreachable) is finished by running it again. Failback is a promote of the configured primary, refused
unless a reconcile over the outage finds nothing missing and the table replicas agreeing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from tap_templates import naming
from tap_templates.cli import duration
from tap_templates.deploy import stacksets
from tap_templates.errors import ConfigError
from tap_templates.operations import reconcile
from tap_templates.operations.environment import (
    Environment,
    OperationError,
    RegionState,
    Unreachable,
    active_region,
    reaching,
    read_states,
)

ROUTE53_REGION = "us-east-1"  # Route 53's API and its CloudWatch metrics live here
METRIC_WINDOW = dt.timedelta(minutes=15)


# --- status --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One status value, or "n/a" with the reason (printed under the table, never instead of it)."""

    text: str
    reason: str = ""

    @classmethod
    def na(cls, reason: str) -> Cell:
        return cls("n/a", reason)


@dataclass(frozen=True)
class StatusRow:
    state: RegionState
    event_source: Cell
    queue: Cell
    oldest: Cell
    dead_letters: Cell
    health: Cell
    s3_replication: Cell
    table_replication: Cell

    HEADER = ("region", "config", "role", "event source", "queue", "oldest", "DLQ", "health", "S3 replication",
              "table replication")

    def cells(self) -> list[Cell]:
        return [self.event_source, self.queue, self.oldest, self.dead_letters, self.health, self.s3_replication,
                self.table_replication]

    def row(self) -> list[str]:
        return [self.state.region, self.state.configured, self.state.role, *(c.text for c in self.cells())]

    def notes(self) -> list[str]:
        named = zip(self.HEADER[3:], self.cells(), strict=True)
        return [f"{self.state.region} {name}: {cell.reason}" for name, cell in named if cell.reason] + \
            [f"{self.state.region}: {p}" for p in self.state.problems]


def latest_metric(env: Environment, region: str, namespace: str, metric: str, dimensions: dict[str, str],
                  statistic: str) -> float | None:
    """The newest datapoint of the last 15 minutes, or None when CloudWatch has none."""
    now = dt.datetime.now(dt.UTC)
    with reaching(region):
        points = env.client("cloudwatch", region).get_metric_statistics(
            Namespace=namespace, MetricName=metric, StartTime=now - METRIC_WINDOW, EndTime=now, Period=60,
            Statistics=[statistic], Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        )["Datapoints"]
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])[statistic])


def _metric_cell(env: Environment, region: str, namespace: str, metric: str, dimensions: dict[str, str],
                 statistic: str, scale: float = 1.0) -> Cell:
    try:
        value = latest_metric(env, region, namespace, metric, dimensions, statistic)
    except Unreachable as exc:
        return Cell.na(f"CloudWatch in {region} unreachable: {exc.reason}")
    if value is None:
        return Cell.na(f"no {namespace} {metric} datapoints in {region} in the last 15 min")
    return Cell(duration(value * scale))


def _queue_cells(env: Environment, region: str, name: str) -> tuple[Cell, Cell]:
    """Depth (visible, and in flight) and the age of the oldest message (CloudWatch: SQS has no such attribute,
    and receiving a message to look would count against its receive limit)."""
    try:
        url = env.queue_url(region, name)
        with reaching(region):
            attributes = env.client("sqs", region).get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    except Unreachable as exc:
        return Cell.na(f"SQS unreachable: {exc.reason}"), Cell.na("SQS unreachable")
    except ClientError as exc:
        return Cell.na(f"{name}: {exc.response['Error'].get('Message', exc)}"), Cell("-")
    visible = int(attributes["ApproximateNumberOfMessages"])
    in_flight = int(attributes["ApproximateNumberOfMessagesNotVisible"])
    depth = Cell(f"{visible}" + (f" (+{in_flight} in flight)" if in_flight else ""))
    if visible + in_flight == 0:
        return depth, Cell("-")
    return depth, _metric_cell(env, region, "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": name}, "Maximum")


def health_cell(env: Environment, region: str) -> Cell:
    """The region's calculated Route 53 health check, found by the stack output ``RegionHealthCheckId``.

    GetHealthCheckStatus refuses calculated checks, so their state comes from Route 53's ``HealthCheckStatus``
    metric (in us-east-1), and without datapoints from the child checks' own status."""
    try:
        check_id = env.outputs(region).get("RegionHealthCheckId")
    except Unreachable as exc:
        return Cell.na(f"stack outputs unreadable: {exc.reason}")
    except ConfigError as exc:
        return Cell.na(str(exc))
    if not check_id:
        return Cell.na(_no_health_output(env, region))
    try:
        value = latest_metric(env, ROUTE53_REGION, "AWS/Route53", "HealthCheckStatus", {"HealthCheckId": check_id},
                              "Minimum")
        if value is not None:
            return Cell("healthy" if value >= 1 else "UNHEALTHY")
        r53 = env.client("route53", ROUTE53_REGION)
        with reaching(ROUTE53_REGION):
            config = r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
            children = config.get("ChildHealthChecks") or []
            failing = [c for c in children if any(
                o.get("StatusReport", {}).get("Status", "").startswith("Failure")
                for o in r53.get_health_check_status(HealthCheckId=c)["HealthCheckObservations"])]
    except Unreachable as exc:
        return Cell.na(f"Route 53 or CloudWatch unreachable: {exc.reason}")
    except ClientError as exc:
        return Cell.na(f"health check {check_id}: {exc.response['Error'].get('Message', exc)}")
    if not children:
        return Cell.na(f"no HealthCheckStatus datapoints for {check_id}, and it lists no child checks to read")
    if failing:
        return Cell(f"UNHEALTHY ({len(failing)}/{len(children)} checks failing)")
    return Cell(f"healthy ({len(children)} checks)")


def _no_health_output(env: Environment, region: str) -> str:
    """Why the output is missing: the template has no health checks, or the stack disagrees with its template
    (which, on the emulator, is moto's known gap: it drops the output after a parameter update)."""
    try:
        deployed, _ = env.instance(region)
        declared = "RegionHealthCheckId" in json.loads(deployed.template_body or "{}").get("Outputs", {})
    except (ConfigError, Unreachable, ValueError):
        declared = False
    if not declared:
        return "the stack has no RegionHealthCheckId output (no health checks in this template)"
    if env.aws.endpoint_url:
        return ("the template declares RegionHealthCheckId but the stack has no such output: the emulator's gap "
                "(moto drops it after a parameter update, e.g. a promote); AWS keeps it")
    return ("the template declares RegionHealthCheckId but the stack has no such output: the stack is out of step "
            "with its template (see its status and events in the CloudFormation console)")


def _replication_cells(env: Environment, region: str, active: str | None) -> tuple[Cell, Cell]:
    """S3 replicates from the configured primary only; the table replicates from wherever it is written, the
    active region. Both metrics are published in the sending region."""
    primary = env.cfg.primary_region
    if region == primary:
        s3 = Cell("source")
    else:
        s3 = _metric_cell(env, primary, "AWS/S3", "ReplicationLatency", {
            "SourceBucket": env.bucket(primary), "DestinationBucket": env.bucket(region), "RuleId": f"to-{region}"},
            "Maximum")
    if active is None:
        table = Cell.na("no single active region to replicate from")
    elif region == active:
        table = Cell("source")
    else:
        table = _metric_cell(env, active, "AWS/DynamoDB", "ReplicationLatency",
                             {"TableName": env.table, "ReceivingRegion": region}, "Average", scale=0.001)
    return s3, table


def _event_source_cell(state: RegionState) -> Cell:
    if state.mapping_state is None:
        return Cell.na("event source state unknown")
    drift = state.recorded is not None and (state.mapping_state == "Enabled") != state.recorded.enabled
    text = state.mapping_state + (" (!)" if drift else "")
    reason = (f"recorded {state.role} but the event source is {state.mapping_state}: finish the failover "
              f"(failover.py promote REGION again)") if drift else ""
    return Cell(text, reason)


def status(env: Environment) -> list[StatusRow]:
    """One row per region, primary first; nothing here raises for an unreachable region."""
    states = read_states(env)
    active = active_region(states)
    rows = []
    for region, state in states.items():
        queue, oldest = _queue_cells(env, region, naming.ingest_queue(env.cfg))
        dlq, _ = _queue_cells(env, region, naming.dead_letter_queue(env.cfg))
        s3, table = _replication_cells(env, region, active)
        rows.append(StatusRow(state, _event_source_cell(state), queue, oldest, dlq, health_cell(env, region), s3,
                              table))
    return rows


def summary(rows: list[StatusRow]) -> str:
    active = [r.state.region for r in rows if r.state.active]
    unknown = [r.state.region for r in rows if not r.state.reachable]
    if len(active) == 1:
        text = f"active region: {active[0]}"
    elif not active:
        text = "no region is active: nothing is being processed"
    else:
        text = f"{len(active)} regions are active ({', '.join(active)}): fence all but one (failover.py promote)"
    return text + (f"; unreachable: {', '.join(unknown)}" if unknown else "")


# --- promote and failback ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One change; ``required`` steps (on the region being promoted) stop the promote when they fail, the
    others (fencing the old regions) are skipped with a warning when their region does not answer."""

    region: str
    action: str  # "disable", "enable" or "record"
    enabled: bool
    required: bool
    mapping_uuid: str | None = None

    def describe(self, env: Environment) -> str:
        if self.action == "disable":
            return (f"fence {self.region}: turn off the event source "
                    f"{self.mapping_uuid or '(state unknown: try anyway)'} of {env.function}")
        if self.action == "enable":
            return f"turn on the event source {self.mapping_uuid} of {env.function} in {self.region}"
        return (f"record {self.region} as {'active' if self.enabled else 'passive'}: ProcessingEnabled="
                f"{'true' if self.enabled else 'false'} override on StackSet {env.stack_set(self.region)}")


@dataclass
class Outcome:
    done: list[str]
    warnings: list[str]
    states: dict[str, RegionState]


def plan(env: Environment, target: str, states: dict[str, RegionState] | None = None) -> list[Step]:
    """The steps that make ``target`` the only active region, skipping what is already so. ``ConfigError``
    when it already is, or cannot be promoted; ``OperationError`` when it cannot be reached."""
    states = states or read_states(env)
    chosen = states[target]
    if chosen.deployed is False:
        raise ConfigError(f"cannot promote {target}: {chosen.problems[0]}")
    if not chosen.reachable:
        raise OperationError(f"cannot promote {target}: {'; '.join(chosen.problems)}")
    if chosen.mapping_uuid is None:
        raise OperationError(f"cannot promote {target}: no event source mapping for {env.function} there "
                             f"(is its stack complete? python scripts/deploy.py --env {env.cfg.environment})")
    others = [s for r, s in states.items() if r != target]
    if chosen.active and all(s.passive for s in others):
        raise ConfigError(f"{target} is already the active region of {env.cfg.environment}: nothing to do")
    steps = []
    for other in others:
        if other.deployed is False:
            continue
        if other.mapping_state != "Disabled":
            steps.append(Step(other.region, "disable", False, required=False, mapping_uuid=other.mapping_uuid))
    if chosen.mapping_state != "Enabled":
        steps.append(Step(target, "enable", True, required=True, mapping_uuid=chosen.mapping_uuid))
    if not (chosen.recorded and chosen.recorded.enabled and chosen.recorded.source == "override"):
        steps.append(Step(target, "record", True, required=True))
    for other in others:
        if other.deployed is not False and not (other.recorded and not other.recorded.enabled
                                                and other.recorded.source == "override"):
            steps.append(Step(other.region, "record", False, required=False))
    return steps


def _perform(env: Environment, step: Step, on_progress: Callable[[stacksets.OperationProgress], None],
             poll_seconds: float) -> str:
    if step.action == "record":
        env.record(step.region, step.enabled, on_progress, poll_seconds)
        return f"{step.region}: recorded ProcessingEnabled={'true' if step.enabled else 'false'}"
    uuid = step.mapping_uuid
    if uuid is None:  # unknown when planned (unreachable then): look again
        mapping = env.mapping(step.region)
        if mapping is None:
            return f"{step.region}: no event source mapping to turn off"
        uuid = mapping["UUID"]
    state = env.set_mapping(step.region, uuid, step.enabled, poll_seconds=min(poll_seconds, 2.0))
    return f"{step.region}: event source {uuid} {state}"


def execute(env: Environment, target: str, steps: list[Step], on_line: Callable[[str], None],
            on_progress: Callable[[stacksets.OperationProgress], None], poll_seconds: float = 5.0) -> Outcome:
    """Run the steps in order; a fence that cannot reach its region becomes a warning, anything else that
    fails stops here (``OperationError``) with what was done so far said."""
    done: list[str] = []
    warnings: list[str] = []
    for step in steps:
        try:
            line = _perform(env, step, on_progress, poll_seconds)
        except Unreachable as exc:
            if step.required:
                raise OperationError(f"{step.describe(env)}: {step.region} unreachable ({exc.reason}); "
                                     f"done so far: {'; '.join(done) or 'nothing'}") from exc
            warnings.append(f"{step.region} unreachable, not done: {step.describe(env)}; run failover.py promote "
                            f"{target} again once it answers")
            on_line(f"WARNING: {warnings[-1]}")
            continue
        except (stacksets.OperationFailed, OperationError, ClientError) as exc:
            raise OperationError(f"{step.describe(env)} failed: {str(exc).splitlines()[0]}; done so far: "
                                 f"{'; '.join(done) or 'nothing'}") from exc
        done.append(line)
        on_line(line)
    return Outcome(done, warnings, read_states(env))


def promote(env: Environment, target: str, on_line: Callable[[str], None],
            on_progress: Callable[[stacksets.OperationProgress], None], poll_seconds: float = 5.0) -> Outcome:
    """Plan and execute in one call (the drill and automation); the script shows the plan and asks first."""
    return execute(env, target, plan(env, target), on_line, on_progress, poll_seconds)


class FailbackRefused(OperationError):
    """The reconcile found discrepancies: failing back now could strand files only the active region has."""

    def __init__(self, report: reconcile.Report) -> None:
        super().__init__(f"failback refused: reconcile found {len(report.discrepancies)} discrepancy(ies); fix them "
                         f"(python scripts/reconcile.py --backfill, docs/runbooks.md) or pass --force")
        self.report = report


def failback(env: Environment, since: dt.datetime, until: dt.datetime, force: bool = False,
             sample: int = 20) -> tuple[list[Step], reconcile.Report]:
    """The steps that make the configured primary active again, once a reconcile over ``since``..``until``
    shows the regions agree (or ``force``). ``ConfigError`` when the primary is already the active region."""
    steps = plan(env, env.cfg.primary_region)
    report = reconcile.run(env, since, until, sample=sample)
    if report.discrepancies and not force:
        raise FailbackRefused(report)
    return steps, report
