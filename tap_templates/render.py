"""Rendering an environment to files: one template per region plus a manifest the deploy script reads.

Output is byte-for-byte deterministic (sorted keys, fixed indentation, no timestamps) because reviewers read
the rendered JSON in pull requests and ``--check`` compares it with what is committed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from troposphere import Template

from tap_templates import naming, regions, template
from tap_templates.config import PipelineConfig
from tap_templates.deploy import deployer, roles

MANIFEST = "manifest.json"
ROLES = "stackset-roles.json"
DEPLOYER = "deployer-policy.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class RenderedTemplate:
    region: str
    role: str
    file: str
    body: bytes
    resources: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Rendering:
    """Everything ``render.py`` writes for one environment, keyed by file name inside ``build/<env>/``."""

    environment: str
    templates: tuple[RenderedTemplate, ...]
    manifest: bytes
    # The StackSet roles and the roles' permissions boundary (deploy/roles.py), deployed once per account.
    roles: bytes = b""
    # The deploying identity's policy (deploy/deployer.py).
    deployer: bytes = b""

    def files(self) -> dict[str, bytes]:
        roles = {ROLES: self.roles} if self.roles else {}
        deployer_policy = {DEPLOYER: self.deployer} if self.deployer else {}
        return {**{t.file: t.body for t in self.templates}, **roles, **deployer_policy, MANIFEST: self.manifest}


def to_json(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def template_json(tpl: Template) -> bytes:
    return to_json(tpl.to_dict())


def _parameters(body: dict) -> dict[str, dict]:
    return body.get("Parameters", {})


def manifest(cfg: PipelineConfig, rendered: tuple[RenderedTemplate, ...], roles: bytes | None = None) -> bytes:
    by_region = {t.region: t for t in rendered}
    order = regions.deploy_order(cfg)
    entries = []
    for position, region in enumerate(order, start=1):
        t = by_region[region]
        params = _parameters(json.loads(t.body))
        entries.append({
            "region": region,
            "role": t.role,
            "file": t.file,
            "sha256": t.sha256,
            "bytes": len(t.body),
            "resources": t.resources,
            "deploy_order": position,
            "stack_set_name": naming.stack_set(cfg, region),
            "required_parameters": sorted(name for name, p in params.items() if "Default" not in p),
            "parameters": {name: {k: p[k] for k in ("Type", "Default", "AllowedValues") if k in p}
                           for name, p in sorted(params.items())},
        })
    return to_json({
        "manifest_version": MANIFEST_VERSION,
        "environment": cfg.environment,
        "project": cfg.project,
        "primary_region": cfg.primary_region,
        "secondary_regions": list(cfg.secondary_regions),
        "deploy_order": list(order),
        "deploy_order_reason": "secondaries first: the primary replicates into their buckets and creates "
                               "global-table replicas encrypted with their keys, which must exist already",
        "templates": entries,
        **({"stackset_roles": roles_entry(cfg, roles)} if roles else {}),
    })


def roles_entry(cfg: PipelineConfig, roles: bytes) -> dict:
    return {
        "file": ROLES,
        "sha256": hashlib.sha256(roles).hexdigest(),
        "stack_name": naming.stackset_roles_stack(cfg),
        "administration_role": naming.stackset_administration_role(cfg),
        "execution_role": naming.stackset_execution_role(cfg),
        "deploy_with": f"python scripts/deploy.py roles --env {cfg.environment}",
    }


def render(cfg: PipelineConfig) -> Rendering:
    rendered = []
    for region in cfg.regions:
        tpl = template.build(cfg, region)
        rendered.append(RenderedTemplate(region=region, role=regions.role(cfg, region), file=f"{region}.json",
                                         body=template_json(tpl), resources=len(tpl.resources)))
    ordered = tuple(rendered)
    roles_body = b"" if cfg.stacksets.permission_model == "SERVICE_MANAGED" else \
        template_json(roles.build(cfg, [json.loads(t.body) for t in ordered]))
    return Rendering(environment=cfg.environment, templates=ordered,
                     manifest=manifest(cfg, ordered, roles_body or None),
                     roles=roles_body, deployer=template_json(deployer.build(cfg)))


def write(rendering: Rendering, out_dir: Path) -> Path:
    target = out_dir / rendering.environment
    target.mkdir(parents=True, exist_ok=True)
    for name, body in rendering.files().items():
        (target / name).write_bytes(body)
    return target


def graphs(rendering: Rendering) -> dict[str, bytes]:
    """``<region>.svg`` and ``<region>.mmd`` per template: a picture of the region drawn from the rendered
    template itself (``tap_templates.graph``)."""
    from tap_templates.graph import mermaid, model, svg

    found = {}
    for t in rendering.templates:
        picture = model.build(json.loads(t.body), t.region, f"tap-pipeline {rendering.environment} {t.region} "
                                                            f"({t.role})")
        stem = t.file.removesuffix(".json")
        found[f"{stem}.svg"] = svg.svg(picture).encode()
        found[f"{stem}.mmd"] = mermaid.mermaid(picture).encode()
    return found


def write_graphs(rendering: Rendering, out_dir: Path) -> list[Path]:
    target = out_dir / rendering.environment
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in graphs(rendering).items():
        (target / name).write_bytes(body)
        written.append(target / name)
    return written


def differences(rendering: Rendering, out_dir: Path) -> list[str]:
    """Files under ``out_dir/<env>`` that are missing, stale, or not produced by the code any more."""
    target = out_dir / rendering.environment
    expected = rendering.files()
    stale = [name for name, body in expected.items()
             if not (target / name).is_file() or (target / name).read_bytes() != body]
    extra = sorted(p.name for p in target.glob("*.json") if p.name not in expected) if target.is_dir() else []
    return sorted(stale) + [f"{name} (no longer rendered)" for name in extra]
