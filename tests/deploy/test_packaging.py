"""tap_templates.deploy.packaging and scripts/package.py: the Lambda zip is deterministic and holds exactly what
the runtime lacks.

Building downloads the locked wheels into .tmp/wheels on first use (PyPI access, which CI has); later
builds use the cache.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tap_templates.deploy import packaging as package

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "package.py"





@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path, sha256 = package.build_zip(tmp_path_factory.mktemp("first"))
    return path, sha256


def test_same_sources_build_the_same_bytes(built, tmp_path):
    first, sha = built
    second, sha_again = package.build_zip(tmp_path)
    assert sha == sha_again == hashlib.sha256(first.read_bytes()).hexdigest()
    assert first.read_bytes() == second.read_bytes()


def test_zip_holds_the_handler_and_its_schemas(built):
    names = set(zipfile.ZipFile(built[0]).namelist())
    modules = {f"handlers/{p.name}" for p in (ROOT / "handlers").glob("*.py")}
    schemas = {f"handlers/schemas/{p.name}" for p in (ROOT / "handlers" / "schemas").glob("*.json")}
    assert {"handlers/processor.py", "handlers/schemas/sensor.json", "handlers/schemas/event.json"} <= names
    assert modules | schemas == {n for n in names if n.startswith("handlers/")}
    assert "handlers/requirements.lock" not in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_zip_leaves_out_what_the_runtime_has_and_carries_the_rest(built):
    names = zipfile.ZipFile(built[0]).namelist()
    top = {n.split("/")[0] for n in names}
    assert not top & {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "jmespath"}
    for needed in ("aws_lambda_powertools", "fastjsonschema", "ijson", "orjson"):
        assert needed in top, needed
    for requirement in package.handler_requirements():
        assert package.requirement_name(requirement) in {p.name for p in package.read_lock()}


def test_compiled_dependencies_are_built_for_lambda_arm64_python313(built):
    binaries = [n for n in zipfile.ZipFile(built[0]).namelist() if n.endswith(".so")]
    assert binaries, "orjson and ijson ship compiled extensions"
    assert all(n.endswith(".cpython-313-aarch64-linux-gnu.so") for n in binaries), binaries
    wheels = [p.name for p in package.fetch(package.read_lock())]
    assert all(w.endswith("-none-any.whl") or ("cp313" in w and "aarch64" in w) for w in wheels), wheels


def test_entries_have_fixed_times_and_permissions(built):
    infos = zipfile.ZipFile(built[0]).infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {package.ZIP_DATE}
    assert {i.external_attr for i in infos} == {package.FILE_MODE}


def test_handler_sources_in_the_zip_compile(built):
    archive = zipfile.ZipFile(built[0])
    for name in archive.namelist():
        if name.startswith("handlers/") and name.endswith(".py"):
            compile(archive.read(name), name, "exec")


def test_a_lock_missing_a_requirement_is_an_error(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("orjson==3.13.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(package.ConfigError, match=r"not in requirements\.lock"):
        package.check_lock(package.read_lock(lock), ["orjson>=3.9", "ijson>=3.2"])
    lock.write_text("orjson>=3.9\n")
    with pytest.raises(package.ConfigError, match="expected `name==version"):
        package.read_lock(lock)


def test_bad_arguments_are_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--nope"], capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(blocker)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"package.py: error: --out {blocker} exists and is not a folder"


def test_the_script_prints_path_size_and_sha256(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    path = Path(lines["path"])
    assert path == tmp_path / "tap-processor.zip"
    assert int(lines["size"]) == path.stat().st_size
    assert lines["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
