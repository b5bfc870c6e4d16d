"""Where a pipeline deployed in the emulator is: its names in one account, and clients to reach them.

Every part of the local pipeline reads the deployment through the AWS APIs, as a user of the real one would:
names come from ``tap_templates.naming`` (the templates' own), state from the services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tap_templates import naming
from tap_templates.config import PipelineConfig


@dataclass
class Deployment:
    """One environment deployed to every region of the emulator, in one account."""

    cfg: PipelineConfig
    account: str
    session: Any
    endpoint_url: str | None
    templates: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            self._clients[service, region] = self.session.client(service, region_name=region,
                                                                 endpoint_url=self.endpoint_url)
        return self._clients[service, region]

    def bucket(self, region: str) -> str:
        return naming.resolve(naming.ingest_bucket(self.cfg, region), self.account)

    @property
    def table(self) -> str:
        return naming.table(self.cfg)

    def queue_url(self, region: str, dead_letter: bool = False) -> str:
        name = naming.dead_letter_queue(self.cfg) if dead_letter else naming.ingest_queue(self.cfg)
        return self.client("sqs", region).get_queue_url(QueueName=name)["QueueUrl"]

    def mapping(self, region: str) -> dict[str, Any]:
        """The event source mapping on the region's ingest queue, as the Lambda API returns it (found by its
        queue: it invokes the function's ``live`` alias, which a filter on the function's name would miss)."""
        queue = naming.ingest_queue(self.cfg)
        arn = self.client("sqs", region).get_queue_attributes(
            QueueUrl=self.queue_url(region), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        mine = self.client("lambda", region).list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
        if len(mine) != 1:
            raise RuntimeError(f"expected one event source mapping on {queue} in {region}, found {len(mine)}")
        return mine[0]

    def function_configuration(self, region: str) -> dict[str, Any]:
        """The configuration (environment, timeout) of the version the event source invokes: the one the
        ``live`` alias points at, as the Lambda API returns it."""
        return self.client("lambda", region).get_function_configuration(
            FunctionName=naming.function(self.cfg), Qualifier=naming.function_alias(self.cfg))
