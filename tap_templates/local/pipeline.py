"""The whole pipeline running locally on the AWS emulator (moto): deploy, upload, replicate, drain.

``start(cfg)`` deploys every region's rendered template with the deploy code used for AWS (StackSets,
secondaries first), applies what moto's CloudFormation skips (``skipped.apply_skipped_resources``) and yields
a ``LocalPipeline``. Objects uploaded to an ingestion bucket reach the ingest queue through the bucket's own
event notification; ``drain(region)`` then plays the region's Lambda event source mapping and invokes the real
``handlers.processor.handler`` in this process, and ``replicate()`` copies objects and table items between
regions. What the emulator cannot do is done by the pipeline's parts, each a documented stand-in, never a
change to a template or to the handler: the container (``container``), the poller (``poller``) and
replication (``replication``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_templates import cli
from tap_templates.config import PipelineConfig
from tap_templates.deploy import artifacts, kept, manifest, plan, preflight, stacksets, targets
from tap_templates.deploy.aws import Aws, connect
from tap_templates.errors import ConfigError
from tap_templates.local import state, uploads
from tap_templates.local.container import Container, restore_env
from tap_templates.local.deployment import Deployment
from tap_templates.local.patches import patch_moto
from tap_templates.local.poller import Poller
from tap_templates.local.replication import Replicator
from tap_templates.local.report import DrainReport
from tap_templates.local.skipped import apply_skipped_resources
from tap_templates.render import render

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing", "AWS_SECURITY_TOKEN": "testing"}
# Variables that would send boto3 to real credentials (or slow it down looking for them).
_CREDENTIAL_LOOKUPS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                       "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")


@dataclass
class LocalPipeline(Deployment):
    """A deployed pipeline in the emulator (its names and clients: ``Deployment``), and the moves of the AWS
    services moto does not make itself, each made by one part: the Lambda container (``runtime``), the event
    source mapping (``poller``) and replication (``replicator``)."""

    runtime: Container = field(init=False, repr=False)
    poller: Poller = field(init=False, repr=False)
    replicator: Replicator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.runtime = Container(self)
        self.poller = Poller(self, self.runtime)
        self.replicator = Replicator(self)

    def upload(self, region: str, key: str, body: bytes) -> str:
        """Put an object in the region's ingestion bucket; its own notification enqueues the event."""
        return uploads.upload(self, region, key, body)

    def notify(self, region: str, key: str, version_id: str | None = None) -> None:
        """Send an S3 event for an object to the region's ingest queue, as the bucket would: for objects the
        bucket's notification filter does not match (an unsupported suffix) and for re-deliveries."""
        uploads.notify(self, region, key, version_id)

    def drain(self, region: str, *, max_invocations: int = 1000, deadline_ms: int | None = None) -> DrainReport:
        """Act as the region's Lambda event source mapping until its queue is drained (``poller``)."""
        return self.poller.drain(region, max_invocations=max_invocations, deadline_ms=deadline_ms)

    def replicate(self) -> int:
        """Copy new object versions primary -> each secondary bucket (key and version ID kept; the replica's
        event reaches that region's queue) and changed table items to every other region's table. Returns the
        number of object versions copied."""
        copied = self.replicator.objects()
        self.replicator.table_items()
        return copied

    def clear(self) -> None:
        """Empty every region's queues, table and ingestion bucket: tests and drills sharing one deployed
        pipeline start from a clean state."""
        state.clear(self)
        self.replicator.forget()

    def empty_queue(self, region: str, dead_letter: bool = False) -> int:
        return state.empty_queue(self, region, dead_letter)

    def items(self, region: str) -> list[dict[str, Any]]:
        """Every item of the region's table, in DynamoDB's JSON (``{"S": ...}``)."""
        return list(state.scan(self, region).values())

    def dead_letters(self, region: str) -> list[dict[str, Any]]:
        return state.dead_letters(self, region)

    def queue_depth(self, region: str, dead_letter: bool = False) -> int:
        return state.queue_depth(self, region, dead_letter)

    def container(self, region: str) -> None:
        """Make this process the region's Lambda container. Tests that hook the handler's clients
        (``handlers.clients.s3(region)``) call this first."""
        self.runtime.enter(region)

    def close(self) -> None:
        """Leave the container: its environment goes, and the handler's clients (bound to this emulator)."""
        self.runtime.close()


@contextlib.contextmanager
def _environment() -> Iterator[None]:
    """Fake credentials only (the simulation never talks to AWS), restored afterwards."""
    names = (*FAKE_CREDENTIALS, *_CREDENTIAL_LOOKUPS, "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION",
             "AWS_REGION", "POWERTOOLS_TRACE_DISABLED", "AWS_EC2_METADATA_DISABLED")
    saved = {name: os.environ.get(name) for name in names}
    for name in _CREDENTIAL_LOOKUPS:
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS, POWERTOOLS_TRACE_DISABLED="true", AWS_EC2_METADATA_DISABLED="true")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            restore_env(name, value)


def handler_zip(target: Path) -> tuple[Path, str]:
    """The stacks' ``CodeKey`` zip: the handler's own files (``packaging.build_source_zip``). The emulator stores
    it and never runs it, so the locked third-party wheels are not downloaded here."""
    from tap_templates.deploy.packaging import build_source_zip

    return build_source_zip(target)


def deploy_pipeline(cfg: PipelineConfig, aws: Aws, work_dir: Path) -> dict[str, dict[str, Any]]:
    """The deploy script's steps (roles, manifest check, what an earlier destroy kept, artifacts, StackSets in
    order), then what the emulator skipped; returns each region's template."""
    rendering = render(cfg)
    stacksets.deploy_roles(cfg, aws, rendering.roles, poll_seconds=0.05)
    manifest.check_manifest(cfg, rendering)
    chosen = targets.targets(cfg, aws.account)
    missing = preflight.stackset_roles(cfg, aws, chosen)
    if missing:
        raise ConfigError(missing[0])
    zip_path, code_sha = handler_zip(work_dir / "handler.zip")
    code = zip_path.read_bytes()
    plans = plan.plan(cfg, aws, rendering, code_sha, chosen)
    in_the_way = kept.blocking(rendering, aws, plans)  # on a long-running emulator server, after a destroy
    if in_the_way:
        raise kept.refusal(cfg, in_the_way, f"{cli.command('deploy')} purge --env {cfg.environment}"
                                            + (f" --endpoint-url {aws.endpoint_url}" if aws.endpoint_url else ""))
    who = artifacts.readers(aws, chosen)
    for p in plans:
        artifacts.upload_artifacts(aws, p.where, p.template, code, who)
        stacksets.apply(cfg, aws, p, lambda progress: None, poll_seconds=0.05)
    templates = {}
    for p in plans:
        templates[p.region] = json.loads(p.template.body)
        apply_skipped_resources(templates[p.region], p.region, aws.session, aws.endpoint_url, parameters=p.parameters)
    return templates


@contextlib.contextmanager
def start(cfg: PipelineConfig, endpoint_url: str | None = None) -> Iterator[LocalPipeline]:
    """Start the emulator (in this process, or use the server at ``endpoint_url``), deploy every region and
    yield the pipeline. The in-process emulator and its data end with the block."""
    with _environment(), contextlib.ExitStack() as stack:
        if endpoint_url is None:
            from moto import mock_aws

            patch_moto()
            stack.enter_context(mock_aws())
        aws = connect(cfg.primary_region, None, endpoint_url)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        templates = deploy_pipeline(cfg, aws, work)
        pipeline = LocalPipeline(cfg=cfg, account=aws.account, session=aws.session, endpoint_url=endpoint_url,
                                 templates=templates)
        try:
            yield pipeline
        finally:
            pipeline.close()
