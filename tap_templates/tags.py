"""The cost-allocation tags, applied to every taggable resource of a template from this one place.

Components never set tags themselves; the composer calls ``apply`` once on the finished template, so a new
resource is tagged without anyone remembering to do it (a test walks the rendered JSON to check).
"""

from __future__ import annotations

from troposphere import AWSObject, Tags, Template, dynamodb, route53

from tap_templates.config import PipelineConfig

SERVICE = "tap-pipeline"


def values(cfg: PipelineConfig) -> dict[str, str]:
    return {
        "Environment": cfg.environment,
        "Project": cfg.project,
        "Service": SERVICE,
        **cfg.tags,
    }


def is_taggable(resource: AWSObject) -> bool:
    return "Tags" in resource.props


def apply(template: Template, cfg: PipelineConfig) -> None:
    tags = values(cfg)
    for resource in template.resources.values():
        if isinstance(resource, route53.HealthCheck):
            resource.HealthCheckTags = Tags(**tags)  # Route 53 names the property differently
        elif isinstance(resource, dynamodb.GlobalTable):
            # A global table has no Tags of its own; each replica carries them.
            for replica in resource.Replicas:
                replica.Tags = Tags(**tags)
        elif is_taggable(resource):
            expected = resource.props["Tags"][0]
            resource.Tags = dict(tags) if expected is dict else Tags(**tags)
