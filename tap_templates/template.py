"""Composes one region's template from the components. Data flows one way: config -> names -> components.

This is the only module that knows which components a region has and how they are wired together.
"""

from __future__ import annotations

from troposphere import Equals, Ref, Template

from tap_templates import regions, tags
from tap_templates.components import (
    audit,
    function,
    health,
    kms,
    monitoring,
    network,
    queues,
    release,
    scanner_skips,
    secrets,
    storage,
    table,
)
from tap_templates.config import PipelineConfig
from tap_templates.deploy import roles

FORMAT_VERSION = "2010-09-09"


def build(cfg: PipelineConfig, region: str) -> Template:
    role = regions.role(cfg, region)
    template = Template(
        Description=f"tap-pipeline {cfg.environment}: {role} region {region} "
                    f"(ingestion bucket, queues, processor, monitoring)"
    )
    template.set_version(FORMAT_VERSION)
    # A region's template is rendered for that region only; refuse to create it anywhere else.
    template.add_rule("DeployedInItsRegion", {
        "Assertions": [{
            "Assert": Equals(Ref("AWS::Region"), region),
            "AssertDescription": f"This template is for {region}; deploy build/{cfg.environment}/<region>.json "
                                 "to its own region",
        }],
    })
    code = function.code_parameters(role)
    for parameter in code.parameters():
        template.add_parameter(parameter)
    template.add_condition(*function.enabled_condition(code))

    key = kms.build(cfg, region)
    q = queues.build(cfg, region, key)
    buckets = storage.build(cfg, region, key, q)
    is_primary = role == "primary"
    records = table.build(cfg, region, key) if is_primary else None
    secret = secrets.build(cfg, key) if is_primary and cfg.pseudonymization.enabled else None
    vpc = network.build(cfg, region, key) if cfg.network.isolated else None
    alarms = monitoring.build(cfg, region, key)
    shifts = release.build(cfg, region, alarms.topic)
    fn = function.build(cfg, region, key, q, code, network=vpc, depends_on=(records.table,) if records else (),
                        release=shifts)
    governance = audit.build(cfg, region, key, buckets.access_logs, alarms.topic)
    checks = health.build(cfg, region, alarms)

    if records is not None:
        for parameter in records.parameters():
            template.add_parameter(parameter)
        for name, condition in records.conditions().items():
            template.add_condition(name, condition)
    optional = [c for c in (records, secret, vpc) if c is not None]
    components = [key, q, buckets, *optional, fn, shifts, alarms, checks, governance]
    for component in components:
        for resource in component.resources():
            template.add_resource(resource)
        for output in component.outputs():
            template.add_output(output)
    if cfg.stacksets.permission_model == "SERVICE_MANAGED":  # no roles template: the boundary travels with the roles
        template.add_resource(roles.boundary_policy(cfg, [template.to_dict()], region))
    tags.apply(template, cfg)
    scanner_skips.apply(template)
    return template
