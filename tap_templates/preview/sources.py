"""The two sides of a preview: the templates the current code renders, a directory of rendered templates (a
``build/`` folder), the code of a git ref rendered in a temporary copy, or what each region's StackSet holds.

A git ref is rendered by its own code (``git archive`` into a temporary folder, then that tree's
``scripts/render.py``), so the base of a pull request is what ``origin/main`` really produces, not its
committed ``build/``, which could be stale. An environment the ref has no config for is a new StackSet.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_templates import naming, regions
from tap_templates.config import PipelineConfig
from tap_templates.deploy.aws import Aws
from tap_templates.deploy.plan import StackSetPlan, read_deployed
from tap_templates.errors import ConfigError
from tap_templates.preview.changes import TemplateChanges, compare
from tap_templates.render import MANIFEST, Rendering

Key = tuple[str, str]  # (environment, region)
RENDER_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Side:
    """One side of a comparison: templates per environment and region, with parameter values when known."""

    label: str
    templates: dict[Key, dict[str, Any]]
    stack_sets: dict[Key, str] = field(default_factory=dict)
    parameters: dict[Key, dict[str, str]] | None = None


def rendered(renderings: Sequence[Rendering], configs: Sequence[PipelineConfig], label: str = "this code") -> Side:
    templates, names = {}, {}
    for rendering, cfg in zip(renderings, configs, strict=True):
        for t in rendering.templates:
            templates[cfg.environment, t.region] = json.loads(t.body)
            names[cfg.environment, t.region] = naming.stack_set(cfg, t.region)
    return Side(label, templates, names)


def directory(path: Path, environments: Sequence[str], label: str | None = None) -> Side:
    """``path/<env>/<region>.json`` for each environment (``path`` may also be one environment's folder)."""
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder of rendered templates (like build/)")
    templates, names = {}, {}
    for env in environments:
        folder = path / env
        if not folder.is_dir() and _manifest(path).get("environment") == env:
            folder = path
        manifest = _manifest(folder)
        by_file = {e["file"]: e for e in manifest.get("templates", [])}
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            if file.stem not in regions.KNOWN_REGIONS:
                continue
            try:
                templates[env, file.stem] = json.loads(file.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ConfigError(f"{file} is not JSON: {exc}") from None
            names[env, file.stem] = by_file.get(file.name, {}).get("stack_set_name", f"{env}-{file.stem}")
    return Side(label or str(path), templates, names)


def _manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, timeout=120, check=False)


def git_ref(ref: str, environments: Sequence[str], repo: Path) -> Side:
    """Render each environment with the code and config of ``ref`` (a branch, tag or commit)."""
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise ConfigError(f"{ref!r} is neither a folder nor a commit of the git repository at {repo} "
                          "(fetch it first, e.g. git fetch origin main)")
    commit = found.stdout.decode().strip()
    archive = _git(repo, "archive", "--format=tar", commit)
    if archive.returncode != 0:
        raise ConfigError(f"git archive {ref} failed: {archive.stderr.decode().strip().splitlines()[-1:]}")
    with tempfile.TemporaryDirectory(prefix="tap-preview-") as work:
        tree, out = Path(work) / "tree", Path(work) / "out"
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tree, filter="data")
        for env in environments:
            if not (tree / "config" / f"{env}.toml").is_file():
                continue  # the environment is new since ref: every template is a new StackSet
            _render_tree(tree, env, out, ref)
        return directory(out, environments, label=f"{ref} ({commit[:12]})") if out.is_dir() else \
            Side(f"{ref} ({commit[:12]})", {})


def _render_tree(tree: Path, env: str, out: Path, ref: str) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(tree),
                                                                                 "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "scripts/render.py", "--env", env, "--out", str(out)], cwd=tree,
                          env=environment, capture_output=True, text=True, timeout=RENDER_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise ConfigError(f"rendering {env} with the code of {ref} failed: {last}")


def deployed(cfg: PipelineConfig, aws: Aws) -> Side:
    """What each region's StackSet holds now: its template and its parameter values."""
    templates, names, parameters = {}, {}, {}
    for region in cfg.regions:
        name = naming.stack_set(cfg, region)
        names[cfg.environment, region] = name
        found = read_deployed(aws, name, region)
        if found is None:
            continue
        try:
            templates[cfg.environment, region] = json.loads(found.template_body)
        except ValueError:
            raise ConfigError(f"StackSet {name} holds a template that is not JSON; the preview reads JSON only") \
                from None
        parameters[cfg.environment, region] = found.parameters
    return Side(f"deployed ({aws.account})", templates, names, parameters)


def compare_sides(base: Side, head: Side, environments: Sequence[str], same_parameters: bool = False) \
        -> list[TemplateChanges]:
    """Every (environment, region) either side has, in the order of ``environments`` then region. With
    ``same_parameters`` the head is bound to the base's parameter values (a render has none of its own), so
    only template changes show."""
    keys = sorted(set(base.templates) | set(head.templates),
                  key=lambda k: (environments.index(k[0]) if k[0] in environments else len(environments), k[1]))
    found = []
    for key in keys:
        old_parameters = base.parameters.get(key) if base.parameters is not None else None
        new_parameters = head.parameters.get(key) if head.parameters is not None else \
            old_parameters if same_parameters else None
        if old_parameters is not None and new_parameters is None and not same_parameters:
            old_parameters = None
        name = head.stack_sets.get(key) or base.stack_sets.get(key) or f"{key[0]}-{key[1]}"
        found.append(compare(key[0], key[1], name, base.templates.get(key), head.templates.get(key),
                             old_parameters, new_parameters))
    return found


def planned(cfg: PipelineConfig, plans: Sequence[StackSetPlan]) -> list[TemplateChanges]:
    """What each StackSet of a deploy plan changes: its deployed template and parameters against this deploy's."""
    found = []
    for p in plans:
        old = None
        if p.deployed is not None:
            try:
                old = json.loads(p.deployed.template_body)
            except ValueError:
                raise ConfigError(f"StackSet {p.name} holds a template that is not JSON; the preview reads JSON "
                                  "only") from None
        found.append(compare(cfg.environment, p.region, p.name, old, json.loads(p.template.body),
                             p.deployed.parameters if p.deployed else None, p.parameters))
    return found
