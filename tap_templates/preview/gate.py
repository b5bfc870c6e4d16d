"""The destructive-change gate: a deploy refuses to replace or remove a resource that holds data unless the
operator names each one (``--allow-replacement NAME``, the logical ID).

Replacing a bucket, the table, the key, the secret or a queue does not move its contents: CloudFormation creates
a new, empty resource and then deletes the old one, or, with ``UpdateReplacePolicy: Retain`` (the pipeline's
data resources, ``tap_templates/retention.py``), leaves it outside the stack with the data in it while the
pipeline switches to the empty one (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/
aws-attribute-updatereplacepolicy.html). Either way the pipeline loses sight of its data, so the deploy stops
and says which resource, in which StackSet, and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tap_templates.preview.changes import TemplateChanges
from tap_templates.preview.report import on_replace

# Resource types that hold the pipeline's data, by what an operator calls them.
DATA_TYPES: dict[str, str] = {
    "AWS::S3::Bucket": "bucket",
    "AWS::DynamoDB::GlobalTable": "table",
    "AWS::DynamoDB::Table": "table",
    "AWS::KMS::Key": "key",
    "AWS::SecretsManager::Secret": "secret",
    "AWS::SQS::Queue": "queue",
}


@dataclass(frozen=True)
class Destructive:
    stack_set: str
    region: str
    logical_id: str
    resource_type: str
    action: str  # "replaced" or "removed"
    reason: str

    def describe(self) -> str:
        kind = DATA_TYPES.get(self.resource_type, self.resource_type)
        return f"{self.stack_set} ({self.region}): {kind} {self.logical_id} would be {self.action}: {self.reason}"


def destructive(changes: Iterable[TemplateChanges]) -> list[Destructive]:
    """Every data resource a change replaces (or may replace: no schema) or removes."""
    found = []
    for t in changes:
        for r in t.resources:
            if r.resource_type not in DATA_TYPES:
                continue
            if r.action == "remove":
                found.append(Destructive(t.stack_set, t.region, r.logical_id, r.resource_type, "removed",
                                         f"no longer in the template; {on_replace(r)}"))
            elif r.replacement in ("yes", "unknown"):
                found.append(Destructive(t.stack_set, t.region, r.logical_id, r.resource_type,
                                         "replaced" if r.replaced else "replaced (schema unknown)",
                                         f"{'; '.join(r.reasons)}; {on_replace(r)}"))
    return found


def refused(changes: Iterable[TemplateChanges], allowed: Sequence[str]) -> list[Destructive]:
    """The destructive changes not named by ``--allow-replacement``."""
    return [d for d in destructive(changes) if d.logical_id not in set(allowed)]


class Refused(Exception):
    """A deploy stopped by the gate; the message is one line."""


def refusal(blocked: Sequence[Destructive]) -> str:
    """The one-line reason a deploy stops (each resource is listed, with its reason, above it)."""
    names = sorted({d.logical_id for d in blocked})
    flags = " ".join(f"--allow-replacement {n}" for n in names)
    return (f"refusing to replace or remove data resource(s) {', '.join(names)} (listed above); once their data "
            f"is copied or no longer needed, deploy again with {flags}")
