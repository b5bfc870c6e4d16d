"""One deployed environment as the operations tools see it: its regions, names, clients and recorded roles.

Every name comes from ``naming`` (resolved for the caller's account), every role from the StackSets, so the
tools agree with the templates and the deploy on what a region is called and whether it should process. A
region that cannot be reached (its endpoints time out or answer with server errors) raises ``Unreachable``
instead of a botocore error, so each tool can say so for that region and carry on with the others: a
failover must work precisely when one region is down.

The tools act on the stack instances in the caller's account (the deploy's default target): the ingest
queues, functions and tables they read are that account's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from tap_templates import cli, naming, regions
from tap_templates.config import PipelineConfig
from tap_templates.deploy import plan, stacksets
from tap_templates.deploy.aws import Aws, credentials_session
from tap_templates.errors import ConfigError

PROCESSING_PARAMETER = "ProcessingEnabled"
# Short timeouts and few retries: an unreachable region must cost seconds, not the SDK's minutes, because a
# failover runs exactly when one is down.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
# Who the caller is, asked of each region in turn until one answers: one retry each, not three.
IDENTITY_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})
TRANSPORT_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
SERVER_ERROR_CODES = frozenset({"InternalFailure", "InternalError", "InternalServerError", "ServiceUnavailable",
                                "ServiceUnavailableException", "ServiceException", "RequestTimeout",
                                "RequestTimeoutException"})
SETTLED_MAPPING_STATES = ("Enabled", "Disabled")


class Unreachable(Exception):
    """A region's endpoints did not answer (or answered with server errors): its state is unknown."""

    def __init__(self, region: str, reason: str) -> None:
        super().__init__(f"{region} unreachable: {reason}")
        self.region = region
        self.reason = reason


class OperationError(Exception):
    """An operation the tool had to complete failed; the message says which and what to do."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def reaching(region: str) -> Iterator[None]:
    """Turn "this region does not answer" into ``Unreachable``; every other error stays what it is."""
    try:
        yield
    except TRANSPORT_ERRORS as exc:
        raise Unreachable(region, str(exc)) from exc
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if error_code(exc) in SERVER_ERROR_CODES or status >= 500:
            raise Unreachable(region, f"{error_code(exc) or status}: {exc.response['Error'].get('Message', '')}")\
                from exc
        raise


@dataclass
class OperationsAws(Aws):
    """``Aws`` with the operations tools' client settings (short timeouts), usable by ``deploy``."""

    config: Config = CLIENT_CONFIG

    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self.clients:
            self.clients[service, region] = self.session.client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=self.config)
        return self.clients[service, region]


@dataclass(frozen=True)
class Recorded:
    """What the StackSet will apply to a region's ``ProcessingEnabled``, and where that value comes from."""

    enabled: bool
    source: str  # "override", "StackSet parameter" or "template default"


@dataclass
class Environment:
    """One environment in one account: names resolved, clients cached, StackSet reads in each region.

    ``stack_sets`` is where the StackSets live when that is another account (the deploying one): the pipeline's
    resources are read and switched with ``aws``, the instance's recorded role with ``stack_sets``."""

    cfg: PipelineConfig
    aws: Aws
    _queue_urls: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    stack_sets: Aws | None = None

    @property
    def administrator(self) -> Aws:
        return self.stack_sets or self.aws

    @property
    def account(self) -> str:
        return self.aws.account

    def client(self, service: str, region: str) -> Any:
        return self.aws.client(service, region)

    def role(self, region: str) -> regions.Role:
        return regions.role(self.cfg, region)

    # names, concrete for this account
    def bucket(self, region: str) -> str:
        return naming.resolve(naming.ingest_bucket(self.cfg, region), self.account, self.aws.partition)

    @property
    def table(self) -> str:
        return naming.table(self.cfg)

    @property
    def function(self) -> str:
        return naming.function(self.cfg)

    def stack_set(self, region: str) -> str:
        return naming.stack_set(self.cfg, region)

    def queue_arn(self, region: str, queue: str) -> str:
        return naming.resolve(naming.queue_arn(region, queue), self.account, self.aws.partition)

    def queue_url(self, region: str, queue: str) -> str:
        """By GetQueueUrl, so an emulator's URLs work as well as AWS's."""
        if (region, queue) not in self._queue_urls:
            with reaching(region):
                url = self.client("sqs", region).get_queue_url(QueueName=queue, QueueOwnerAWSAccountId=self.account)
            self._queue_urls[region, queue] = url["QueueUrl"]
        return self._queue_urls[region, queue]

    def ingest_queue_url(self, region: str) -> str:
        return self.queue_url(region, naming.ingest_queue(self.cfg))

    def dead_letter_queue_url(self, region: str) -> str:
        return self.queue_url(region, naming.dead_letter_queue(self.cfg))

    # the deployed state
    def instance(self, region: str) -> tuple[plan.Deployed, plan.Instance]:
        """This account's stack instance of the region's StackSet; ``ConfigError`` when it is not deployed."""
        with reaching(region):
            deployed = plan.read_deployed(self.administrator, self.stack_set(region), region)
        if deployed is None:
            raise ConfigError(f"StackSet {self.stack_set(region)} does not exist in {region}: deploy the environment "
                              f"first ({cli.command('deploy')} --env {self.cfg.environment})")
        for instance in deployed.instances:
            if instance.account == self.account and instance.region == region:
                return deployed, instance
        raise ConfigError(f"StackSet {self.stack_set(region)} has no instance in account {self.account}: deploy "
                          f"to this account first ({cli.command('deploy')} --env {self.cfg.environment})")

    def recorded(self, region: str) -> Recorded:
        """The instance override if any, else the StackSet's value, else the template's default by role."""
        deployed, instance = self.instance(region)
        if PROCESSING_PARAMETER in instance.overrides:
            return Recorded(instance.overrides[PROCESSING_PARAMETER] == "true", "override")
        if PROCESSING_PARAMETER in deployed.parameters:
            return Recorded(deployed.parameters[PROCESSING_PARAMETER] == "true", "StackSet parameter")
        return Recorded(self.role(region) == "primary", "template default")

    def outputs(self, region: str) -> dict[str, str]:
        """The outputs of this account's instance stack in the region (empty when it has none)."""
        _, instance = self.instance(region)
        if not instance.stack_id:
            return {}
        with reaching(region):
            stacks = self.client("cloudformation", region).describe_stacks(StackName=instance.stack_id)["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])} if stacks else {}

    def mapping(self, region: str) -> dict[str, Any] | None:
        """The processor's event source mapping on the region's ingest queue (None if the function has none)."""
        queue_arn = self.queue_arn(region, naming.ingest_queue(self.cfg))
        with reaching(region):
            try:
                # By queue: the mapping invokes the function's ``live`` alias, which a name filter would miss.
                pages = self.client("lambda", region).get_paginator("list_event_source_mappings").paginate(
                    EventSourceArn=queue_arn)
                found = [m for page in pages for m in page["EventSourceMappings"]]
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return None
                raise
        matching = [m for m in found if m.get("EventSourceArn") == queue_arn] or found
        return matching[0] if matching else None

    def set_mapping(self, region: str, uuid: str, enabled: bool, poll_seconds: float = 2.0,
                    timeout_seconds: float = 120.0) -> str:
        """Turn the mapping on or off and wait until Lambda says it is: "Disabling" still delivers batches."""
        lam = self.client("lambda", region)
        wanted = "Enabled" if enabled else "Disabled"
        started = time.monotonic()

        def waited(state: str, until: tuple[str, ...]) -> str:
            """Poll until the mapping is in one of ``until`` (it passes through Enabling, Disabling, ...)."""
            while state not in until:
                if time.monotonic() - started > timeout_seconds:
                    raise OperationError(f"event source mapping {uuid} in {region} is still {state} after "
                                         f"{timeout_seconds:.0f} s, not {wanted}")
                time.sleep(poll_seconds)
                state = lam.get_event_source_mapping(UUID=uuid)["State"]
            return state

        with reaching(region):
            try:
                state = lam.update_event_source_mapping(UUID=uuid, Enabled=enabled)["State"]
            except ClientError as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise
                # mid-transition (another change, or a deploy updating it): let it settle, then ask again
                waited(lam.get_event_source_mapping(UUID=uuid)["State"], SETTLED_MAPPING_STATES)
                state = lam.update_event_source_mapping(UUID=uuid, Enabled=enabled)["State"]
            return waited(state, (wanted,))

    def record(self, region: str, enabled: bool, on_progress: Callable[[stacksets.OperationProgress], None],
               poll_seconds: float = 5.0) -> None:
        """Record the region's role as a ``ProcessingEnabled`` instance override, which later deploys keep."""
        with reaching(region):
            stacksets.set_overrides(self.cfg, self.administrator, region, [self.account],
                                 {PROCESSING_PARAMETER: "true" if enabled else "false"}, on_progress, poll_seconds)


def check_region(cfg: PipelineConfig, region: str) -> str:
    """A region argument must be one of the environment's: one line naming them otherwise."""
    if region not in cfg.regions:
        known = ", ".join(f"{r} ({regions.role(cfg, r)})" for r in cfg.regions)
        raise ConfigError(f"region {region!r} is not part of environment {cfg.environment}: its regions are {known}")
    return region


def from_session(cfg: PipelineConfig, session: boto3.Session, endpoint_url: str | None = None) -> Environment:
    """An environment on these credentials. The caller's identity comes from STS in the first region that
    answers, primary first: the tools must start while any one region is down."""
    reasons = []
    for region in (cfg.primary_region, *cfg.secondary_regions):
        sts = session.client("sts", region_name=region, endpoint_url=endpoint_url, config=IDENTITY_CONFIG)
        try:
            with reaching(region):
                identity = sts.get_caller_identity()
            break
        except ClientError as exc:
            raise ConfigError(f"AWS rejected the credentials: {exc.response['Error'].get('Message', exc)}") from None
        except Unreachable as exc:
            reasons.append(f"{region}: {exc.reason}")
        except BotoCoreError as exc:
            reasons.append(f"{region}: {exc}")
    else:
        raise ConfigError(f"cannot reach AWS to check the credentials ({'; '.join(reasons)})")
    aws = OperationsAws(session=session, account=identity["Account"], partition=identity["Arn"].split(":")[1],
                        endpoint_url=endpoint_url)
    return Environment(cfg, aws)


def connect(cfg: PipelineConfig, profile: str | None = None, endpoint_url: str | None = None) -> Environment:
    """Check the endpoint and credentials, each failing as one ``ConfigError`` line (as the deploy does)."""
    return from_session(cfg, credentials_session(profile, endpoint_url), endpoint_url)


@dataclass(frozen=True)
class RegionState:
    """A region's recorded role and its event source's actual state; ``None`` where it could not be read,
    with the reason in ``problems``."""

    region: str
    configured: str
    deployed: bool | None
    recorded: Recorded | None
    mapping_uuid: str | None
    mapping_state: str | None
    problems: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Recorded as processing and its event source really on."""
        return bool(self.recorded and self.recorded.enabled and self.mapping_state == "Enabled")

    @property
    def passive(self) -> bool:
        """Known to be fenced: recorded as passive (or not deployed) and its event source off."""
        if self.deployed is False:
            return True
        return bool(self.recorded and not self.recorded.enabled and self.mapping_state == "Disabled")

    @property
    def reachable(self) -> bool:
        return not any(p.startswith("unreachable") for p in self.problems)

    @property
    def role(self) -> str:
        """What the StackSet records: active, passive, or why it is unknown."""
        if self.deployed is False:
            return "not deployed"
        if self.recorded is None:
            return "unknown"
        return "active" if self.recorded.enabled else "passive"


def read_state(env: Environment, region: str) -> RegionState:
    """Read what can be read; an unreachable service leaves its part ``None`` and says why."""
    problems: list[str] = []
    deployed: bool | None = None
    recorded = None
    try:
        recorded = env.recorded(region)
        deployed = True
    except Unreachable as exc:
        problems.append(f"unreachable (CloudFormation): {exc.reason}")
    except ConfigError as exc:
        deployed = False
        problems.append(str(exc))
    uuid = state = None
    if deployed is not False:
        try:
            mapping = env.mapping(region)
            if mapping is None:
                problems.append(f"no event source mapping for {env.function} in {region}")
            else:
                uuid, state = mapping["UUID"], mapping["State"]
        except Unreachable as exc:
            problems.append(f"unreachable (Lambda): {exc.reason}")
    return RegionState(region, env.role(region), deployed, recorded, uuid, state, tuple(problems))


def read_states(env: Environment) -> dict[str, RegionState]:
    """Every region's state, primary first."""
    return {region: read_state(env, region) for region in (env.cfg.primary_region, *env.cfg.secondary_regions)}


def active_region(states: dict[str, RegionState]) -> str | None:
    """The one region recorded active with its event source on; else the one recorded active; else None."""
    for test in (lambda s: s.active, lambda s: bool(s.recorded and s.recorded.enabled)):
        found = [r for r, s in states.items() if test(s)]
        if len(found) == 1:
            return found[0]
    return None
