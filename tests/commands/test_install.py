"""A regular (not editable) ``pip install '.[local]'`` into a new virtual environment, then ``tap`` used from an
empty directory with no checkout in reach: it finds the shipped configs, samples and handler schemas, renders
what the repository commits, reads the user's own ``config/<env>.toml``, and runs the whole simulation.

The project is copied first (without ``.git``, ``build/`` or caches), so the install needs nothing untracked
and leaves nothing in the checkout. The virtual environment sees the test's own site-packages
(``--system-site-packages``) so that the dependencies are already there and no download is needed: about a
minute on two cores, most of it the simulation. A fully isolated ``pip install '.[local]'`` (every
dependency downloaded) took over two minutes on the same machine, too long for the suite; the only
difference it would make is the dependency resolution, which ``.ci/run`` exercises on every run anyway.
That the copy under test is the installed one, not the editable install of the shared environment, is
asserted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.helpers import ROOT, subprocess_env

pytestmark = pytest.mark.slow
SKIPPED = (".git", ".tmp", ".venv*", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis", ".ruff_cache",
           "dist", "build")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``bin`` folder of a virtual environment with the project installed from a copy of its sources."""
    base = tmp_path_factory.mktemp("install")
    source = base / "tap-pipeline"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*SKIPPED))
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(base / "venv")], check=True,
                   timeout=120)
    bin_dir = base / "venv" / "bin"
    done = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", f"{source}[local]"],
                          capture_output=True, text=True, timeout=600, env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    shutil.rmtree(source)  # nothing may come from the sources from now on
    yield bin_dir


def clean_env() -> dict[str, str]:
    """A user's environment: fake AWS credentials, and no ``PYTHONPATH`` leading back to a checkout."""
    env = subprocess_env()
    env.pop("PYTHONPATH", None)
    return env


def run(venv: Path, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=clean_env())


def test_a_regular_install_works_from_any_directory(venv, tmp_path):
    """One test, so that the parallel runner builds one virtual environment, not one per worker."""
    imported = run(venv, "python", "-c", "import tap_templates, handlers; print(tap_templates.__file__); "
                   "print(handlers.__file__)", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    for line in imported.stdout.splitlines():
        assert Path(line).is_relative_to(venv.parent), line
    version = run(venv, "tap", "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == "tap 0.1.0"

    # render, from an empty directory, writes what the repository commits
    rendered = tmp_path / "render"
    rendered.mkdir()
    for env in ("dev", "prod"):
        done = run(venv, "tap", "render", "--env", env, "--out", "out", cwd=rendered)
        assert done.returncode == 0, done.stderr
        for committed in sorted((ROOT / "build" / env).glob("*.json")):  # graphs in build/ are not committed
            assert (rendered / "out" / env / committed.name).read_bytes() == committed.read_bytes(), committed.name
    missing = run(venv, "tap", "render", "--env", "staging", cwd=rendered)
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("pick one of dev, prod"), missing.stderr

    # a user's own environment in the working directory
    own = tmp_path / "own"
    (own / "config").mkdir(parents=True)
    shipped = run(venv, "python", "-c", "from tap_templates import config; print(config.CONFIG_DIR)", cwd=own)
    text = (Path(shipped.stdout.strip()) / "dev.toml").read_text()
    (own / "config" / "team.toml").write_text(text.replace('project = "tap"', 'project = "team"'))
    done = run(venv, "tap", "render", "--env", "team", "--out", "out", cwd=own)
    assert done.returncode == 0, done.stderr
    assert '"stack_set_name": "team-team-us-east-1"' in (own / "out" / "team" / "manifest.json").read_text()

    # completion, and package --lock refused without a checkout
    completion = run(venv, "tap", "completion", "bash", cwd=tmp_path)
    assert completion.returncode == 0 and "complete -F _tap tap" in completion.stdout
    lock = run(venv, "tap", "package", "--lock", cwd=own)
    assert lock.returncode == 2 and "run it in a checkout" in lock.stderr
    assert not (own / "dist").exists(), "the refusal came first"

    # the whole simulation of the shipped samples
    simulated = tmp_path / "simulate"
    simulated.mkdir()
    done = run(venv, "tap", "simulate", "--output", "run.jsonl", cwd=simulated)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "unaccounted records: 0" in done.stdout
    for sample in ("sensors-warehouse.jsonl", "events-lobby.json", "unsupported-format.xml"):
        assert f"\n{sample} " in done.stdout
    assert (simulated / "run.jsonl").read_text().count('"type": "file"') == 11
    assert sorted(os.listdir(simulated)) == ["run.jsonl"], "nothing else written to the working directory"
