"""Scanner findings that do not apply to this design, each skipped on its resource with a one-line reason.

The skips are written into the resources' Metadata (checkov's ``checkov.skip`` and cfn-lint's
``cfn-lint.config.ignore_checks``), never as blanket command-line skips, so a new resource is scanned in
full. docs/security.md lists every entry here; a test keeps the two in step.
"""

from __future__ import annotations

from troposphere import Template

# logical ID -> (check ID, reason)
SKIPS: dict[str, tuple[tuple[str, str], ...]] = {
    "ProcessorFunction": (
        ("CKV_AWS_116", "SQS-triggered: failed messages go to the ingest queue's redrive DLQ; a Lambda DLQ "
                        "only applies to asynchronous invocations"),
    ),
    "ProcessorEventSource": (
        ("ES1001", "SQS event sources do not support OnFailure destinations; the queue's redrive policy is "
                   "the failure destination"),
    ),
    "DeadLetterQueue": (
        ("ES6000", "this queue is the dead-letter queue; a DLQ of the DLQ would only move the problem"),
    ),
    "DataEventsTrail": (
        ("CKV_AWS_67", "a per-region data-event trail for this pipeline's bucket; the account-wide multi-region "
                       "management trail belongs to the organization's landing zone"),
    ),
    "AlarmEmailSubscription": (
        ("ES7000", "SNS retries e-mail delivery itself; a DLQ of undelivered alarm e-mails would have no reader"),
    ),
}


def tool(check_id: str) -> str:
    return "checkov" if check_id.startswith("CKV") else "cfn-lint"


def apply(template: Template) -> None:
    for logical_id, skips in SKIPS.items():
        resource = template.resources.get(logical_id)
        if resource is None:
            continue
        metadata = dict(getattr(resource, "Metadata", {}) or {})
        checkov = [{"id": check, "comment": reason} for check, reason in skips if tool(check) == "checkov"]
        lint = [check for check, _ in skips if tool(check) == "cfn-lint"]
        if checkov:
            metadata["checkov"] = {"skip": checkov}
        if lint:
            metadata["cfn-lint"] = {"config": {"ignore_checks": lint}}
        resource.Metadata = metadata
