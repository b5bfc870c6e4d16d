"""The rendered manifest as the deploy reads it: refused when the deploy could not honour it, and the
templates in their deploy order with the parameters each StackSet gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tap_templates import regions
from tap_templates.config import PipelineConfig
from tap_templates.deploy import artifacts
from tap_templates.deploy.artifacts import RegionArtifacts
from tap_templates.errors import ConfigError
from tap_templates.render import Rendering, differences

# Parameters the deploy fills itself; any other required template parameter is a manifest error.
PROVIDED_PARAMETERS = ("CodeBucket", "CodeKey")
TEMPLATE_URL_MAX_BYTES = 1_000_000


def check_manifest(cfg: PipelineConfig, rendering: Rendering, build_dir: Path | None = None) -> list[str]:
    """Refuse a manifest the deploy cannot honour; return notes worth printing (e.g. a stale build/)."""
    manifest = json.loads(rendering.manifest)
    bodies = {t.file: t.body for t in rendering.templates}
    if manifest["environment"] != cfg.environment:
        raise ConfigError(f"manifest is for environment {manifest['environment']!r}, not {cfg.environment!r}")
    if manifest["deploy_order"] != list(regions.deploy_order(cfg)):
        raise ConfigError(f"manifest deploy order {manifest['deploy_order']} differs from the config's "
                          f"{list(regions.deploy_order(cfg))}: re-render")
    for entry in manifest["templates"]:
        body = bodies.get(entry["file"])
        if body is None or artifacts.sha256_of(body) != entry["sha256"]:
            raise ConfigError(f"manifest entry {entry['file']} does not match the rendered template: re-render")
        unknown = sorted(set(entry["required_parameters"]) - set(PROVIDED_PARAMETERS))
        if unknown:
            raise ConfigError(f"{entry['file']} requires parameter(s) {', '.join(unknown)} that the deploy does "
                              f"not provide (it fills {', '.join(PROVIDED_PARAMETERS)}); give them defaults")
        if len(body) > TEMPLATE_URL_MAX_BYTES:
            raise ConfigError(f"{entry['file']} is {len(body)} bytes; CloudFormation accepts at most "
                              f"{TEMPLATE_URL_MAX_BYTES} by URL")
    notes = []
    if build_dir is not None and differences(rendering, build_dir):
        notes.append(f"note: {build_dir / cfg.environment} differs from what the code and config render; deploying "
                     f"the fresh rendering (run python scripts/render.py --all and commit build/)")
    return notes


def manifest_entries(rendering: Rendering) -> list[dict[str, Any]]:
    """The manifest's templates in deploy order."""
    return sorted(json.loads(rendering.manifest)["templates"], key=lambda e: e["deploy_order"])


def desired_parameters(entry: dict[str, Any], where: RegionArtifacts) -> dict[str, str]:
    """Every template parameter with a value at StackSet level: instances can only override those."""
    provided = {"CodeBucket": where.bucket, "CodeKey": where.code_key}
    return {name: provided[name] if name in provided else str(spec.get("Default", ""))
            for name, spec in entry["parameters"].items()}

