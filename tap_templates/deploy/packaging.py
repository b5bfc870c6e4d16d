"""Building the processor's Lambda zip deterministically (``python scripts/package.py`` is the command).

The zip holds ``handlers/`` (its modules and schemas) plus the third-party packages the Lambda runtime
lacks, taken as wheels built for the function's platform (arm64 Linux, CPython 3.13), never from the build
machine. boto3 and its dependencies are left out: the runtime has them, and a second copy would shadow it.

Same sources, same bytes: the dependency versions and wheel hashes are pinned in ``handlers/requirements.lock``
(written by ``--lock`` from the ``handler`` extra in setup.cfg), and the zip has sorted entries, a fixed
timestamp and fixed permissions. Downloaded wheels are kept in ``.tmp/wheels`` so later builds need no
network. ``build_zip`` is what ``scripts/package.py`` and the deploy script call.
"""

from __future__ import annotations

import configparser
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tap_templates import shipped
from tap_templates.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]  # the checkout, or site-packages once installed

HANDLER_DIR = ROOT / "handlers"
LOCK_FILE = HANDLER_DIR / "requirements.lock"
SETUP_CFG = ROOT / "setup.cfg"  # only in a checkout; an install reads the handler extra from its metadata
WHEEL_CACHE = shipped.cache_dir() / "wheels"
DEFAULT_OUT = ROOT / "dist" if shipped.is_checkout() else Path("dist")
DISTRIBUTION = "tap-pipeline"
_HANDLER_EXTRA = re.compile(r"""\s*;\s*extra\s*==\s*["']handler["']\s*$""")

PYTHON_VERSION = "3.13"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")  # Lambda's python3.13 runs glibc 2.34
ABI = "cp313"
# In the Lambda Python runtime already: boto3 and everything it depends on.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"})
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16
ZIP_NAME = "tap-processor.zip"
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;]+)\s+--hash=sha256:(?P<sha>[0-9a-f]{64})$")


@dataclass(frozen=True)
class Pin:
    """One locked dependency: exact version and the sha256 of its Lambda-platform wheel."""

    name: str
    version: str
    sha256: str

    def line(self) -> str:
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def handler_requirements(setup_cfg: Path = SETUP_CFG) -> list[str]:
    """The ``handler`` extra of setup.cfg: what the function needs beyond the runtime. Installed without the
    checkout, the same extra as the package's metadata states it."""
    if not setup_cfg.is_file():
        return installed_handler_requirements()
    parser = configparser.ConfigParser()
    parser.read(setup_cfg, encoding="utf-8")
    try:
        raw = parser["options.extras_require"]["handler"]
    except KeyError:
        raise ConfigError(f"{setup_cfg} has no [options.extras_require] handler extra") from None
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.strip().startswith("#")]


def installed_handler_requirements() -> list[str]:
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise ConfigError(f"neither {SETUP_CFG} nor an installed {DISTRIBUTION} states the handler's "
                          "dependencies") from None
    return [_HANDLER_EXTRA.sub("", r) for r in declared if _HANDLER_EXTRA.search(r)]


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0])


def read_lock(lock: Path = LOCK_FILE) -> list[Pin]:
    if not lock.is_file():
        raise ConfigError(f"{lock} is missing: run `python scripts/package.py --lock`")
    pins = []
    for number, line in enumerate(lock.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if not match:
            raise ConfigError(f"{lock}:{number}: expected `name==version --hash=sha256:HEX`, got {line!r}")
        pins.append(Pin(canonical(match["name"]), match["version"], match["sha"]))
    return pins


def check_lock(pins: Sequence[Pin], requirements: Sequence[str]) -> None:
    """Every requirement of the handler extra must be locked: otherwise the zip would silently lack it."""
    locked = {p.name for p in pins}
    missing = sorted({requirement_name(r) for r in requirements} - locked - RUNTIME_PROVIDED)
    if missing:
        raise ConfigError(f"{', '.join(missing)} not in {LOCK_FILE.name}: run `python scripts/package.py --lock`")


def _pip_download(args: Iterable[str], dest: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
        "--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_VERSION, "--abi", ABI,
        *[f"--platform={p}" for p in PLATFORMS], "--dest", str(dest), *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        lines = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("ERROR")] or lines
        raise ConfigError(f"pip download failed: {errors[0] if errors else result.returncode}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wheels(directory: Path) -> dict[tuple[str, str], Path]:
    found = {}
    for path in sorted(directory.glob("*.whl")):
        match = _WHEEL.match(path.name)
        if match:
            found[(canonical(match["name"]), match["version"])] = path
    return found


def lock(requirements: Sequence[str] | None = None, lock_file: Path = LOCK_FILE,
         cache: Path = WHEEL_CACHE) -> list[Pin]:
    """Resolve the handler extra for the Lambda platform and pin every wheel it needs (needs PyPI)."""
    requirements = list(requirements if requirements is not None else handler_requirements())
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        _pip_download(requirements, Path(scratch))
        pins = []
        for (name, version), path in sorted(_wheels(Path(scratch)).items()):
            if name in RUNTIME_PROVIDED:
                continue
            target = cache / path.name
            if not target.exists():
                target.write_bytes(path.read_bytes())
            pins.append(Pin(name, version, _sha256(path)))
    header = [
        "# Dependencies of the Lambda zip (scripts/package.py), for CPython "
        f"{PYTHON_VERSION} on {', '.join(PLATFORMS)}.",
        "# Generated by `python scripts/package.py --lock` from the `handler` extra in setup.cfg; "
        "do not edit by hand.",
        f"# Left out, the runtime has them: {', '.join(sorted(RUNTIME_PROVIDED))}.",
    ]
    lock_file.write_text("\n".join(header + [p.line() for p in pins]) + "\n", encoding="utf-8")
    return pins


def fetch(pins: Sequence[Pin], cache: Path = WHEEL_CACHE) -> list[Path]:
    """The wheel of every pin, from the cache or else downloaded; each checked against its hash."""
    cache.mkdir(parents=True, exist_ok=True)
    cached = _wheels(cache)
    missing = [p for p in pins if (p.name, p.version) not in cached]
    if missing:
        # Hash-pinned lines are requirements-file syntax; pip 24+ refuses them as command-line arguments.
        with tempfile.TemporaryDirectory() as scratch:
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text("".join(f"{p.line()}\n" for p in missing), encoding="utf-8")
            _pip_download(["--no-deps", "--require-hashes", "-r", str(requirements)], cache)
        cached = _wheels(cache)
    paths = []
    for pin in pins:
        path = cached.get((pin.name, pin.version))
        if path is None:
            raise ConfigError(f"no wheel of {pin.name}=={pin.version} for {PLATFORMS[0]} was downloaded")
        if _sha256(path) != pin.sha256:
            raise ConfigError(f"{path} does not match the sha256 in {LOCK_FILE.name}: delete it and build again")
        paths.append(path)
    return paths


def handler_files(handler_dir: Path = HANDLER_DIR) -> dict[str, bytes]:
    """The handler package's own files: its modules and its schemas, nothing else (no caches, no lock)."""
    files = {}
    for path in sorted(handler_dir.rglob("*")):
        relative = path.relative_to(handler_dir.parent).as_posix()
        if "__pycache__" in path.parts or not path.is_file():
            continue
        if path.suffix == ".py" or (path.suffix == ".json" and path.parent.name == "schemas"):
            files[relative] = path.read_bytes()
    return files


def wheel_files(wheel: Path) -> dict[str, bytes]:
    """A wheel's installed files (a wheel is a zip laid out as site-packages), without byte code."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            info.filename: archive.read(info)
            for info in archive.infolist()
            if not info.is_dir() and "__pycache__/" not in info.filename and not info.filename.endswith(".pyc")
        }


def write_zip(files: dict[str, bytes], path: Path) -> str:
    """Write ``files`` as a zip whose bytes depend only on the names and contents; return its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = FILE_MODE
            archive.writestr(info, files[name], compresslevel=9)
    return _sha256(path)


def build_source_zip(target: Path, handler_dir: Path = HANDLER_DIR) -> tuple[Path, str]:
    """The handler's own files without dependencies, for the emulator: it stores a function's code but never
    runs it (the local simulation invokes the handler in-process), so no wheels need downloading."""
    return target, write_zip(handler_files(handler_dir), target)


def build_zip(out_dir: Path = DEFAULT_OUT, cache: Path = WHEEL_CACHE, lock_file: Path = LOCK_FILE) -> tuple[Path, str]:
    """Build ``<out_dir>/tap-processor.zip``; return its path and sha256 (the deploy script calls this)."""
    pins = read_lock(lock_file)
    check_lock(pins, handler_requirements())
    files: dict[str, bytes] = {}
    for wheel in fetch(pins, cache):
        for name, data in wheel_files(wheel).items():
            if name in files and files[name] != data:
                raise ConfigError(f"{wheel.name} and another wheel both ship {name}")
            files[name] = data
    own = handler_files()
    clash = sorted(set(own) & set(files))
    if clash:
        raise ConfigError(f"a dependency ships {clash[0]}, which is the handler's own file")
    files.update(own)
    path = Path(out_dir) / ZIP_NAME
    return path, write_zip(files, path)
