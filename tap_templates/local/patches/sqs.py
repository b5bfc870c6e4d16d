"""SQS queues as a Lambda event source.

Gap: an SQS event source mapping makes moto invoke the function (in Docker) on every ``SendMessage``, through
a receive that counts towards the queue's ``maxReceiveCount``: without Docker every message fails there, so a
few uploads move messages to the DLQ before anything processed them. The patch turns moto's own delivery off
(the mapping and its state stay, as the Lambda API shows them); the local pipeline's poller
(``tap_templates.local.poller``) delivers instead, reading the mapping's state and batch size through the
Lambda API.
"""

from __future__ import annotations

from typing import Any

from tap_templates.local.patches.guard import Patch

EVENT_SOURCE_DELIVERY = Patch("sqs: no delivery to an event source mapping")


def patch_event_source_delivery() -> None:
    patch = EVENT_SOURCE_DELIVERY
    backend_cls = patch.require(patch.module("moto.awslambda.models"), "LambdaBackend")
    original = patch.require(backend_cls, "create_event_source_mapping", ("self", "spec"))
    sqs_backends = patch.require(patch.module("moto.sqs.models"), "sqs_backends")

    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        esm = original(self, spec)
        for queue in sqs_backends[self.account_id][self.region_name].queues.values():
            if queue.queue_arn == spec["EventSourceArn"]:
                queue.lambda_event_source_mappings.pop(esm.function_arn, None)
        return esm

    backend_cls.create_event_source_mapping = create_event_source_mapping
