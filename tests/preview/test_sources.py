"""Where the two sides of a preview come from (a render, a folder, a git ref rendered by its own code) and the
three forms of the report."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tap_templates.config import load_config
from tap_templates.errors import ConfigError
from tap_templates.preview import report, sources
from tap_templates.render import render, write
from tests.deploy.helpers import ROOT

CFG = load_config("dev")


def head() -> sources.Side:
    return sources.rendered([render(CFG)], [CFG])


def changed_folder(tmp_path, memory: int = 2048):
    """build/ of dev written by this code, then one template edited as a reviewer's base would differ."""
    write(render(CFG), tmp_path)
    path = tmp_path / "dev" / "us-east-1.json"
    body = json.loads(path.read_text())
    body["Resources"]["ProcessorFunction"]["Properties"]["MemorySize"] = memory
    path.write_text(json.dumps(body))
    return tmp_path


def test_a_folder_against_this_render(tmp_path):
    base = sources.directory(changed_folder(tmp_path), ["dev"])
    assert base.stack_sets[("dev", "us-east-1")] == "tap-dev-us-east-1", "names come from the folder's manifest"
    found = sources.compare_sides(base, head(), ["dev"])
    assert [(t.region, t.status) for t in found] == [("us-east-1", "changed"), ("us-west-2", "unchanged")]
    assert "      MemorySize: 2048 -> 1024" in report.text(found)


def test_a_git_ref_is_rendered_with_its_own_code():
    """HEAD rendered from its archive is what HEAD committed in build/ (CI's render --check keeps them equal)."""
    base = sources.git_ref("HEAD", ["dev"], ROOT)
    for region in CFG.regions:
        committed = subprocess.run(["git", "show", f"HEAD:build/dev/{region}.json"], cwd=ROOT, capture_output=True,
                                   text=True, check=True).stdout
        assert base.templates[("dev", region)] == json.loads(committed), region
    assert base.label.startswith("HEAD (")


def test_an_environment_the_ref_does_not_have_is_a_new_stackset(tmp_path):
    base = sources.git_ref("HEAD", ["qa"], ROOT)
    assert base.templates == {}


def test_unknown_refs_and_folders_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="'no-such-ref' is neither a folder nor a commit"):
        sources.git_ref("no-such-ref", ["dev"], ROOT)
    with pytest.raises(ConfigError, match="is not a folder of rendered templates"):
        sources.directory(tmp_path / "missing", ["dev"])
    bad = tmp_path / "dev"
    bad.mkdir()
    (bad / "us-east-1.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"us-east-1\.json is not JSON"):
        sources.directory(tmp_path, ["dev"])


def test_markdown_and_json_say_what_the_text_says(tmp_path):
    found = sources.compare_sides(sources.directory(changed_folder(tmp_path), ["dev"]), head(), ["dev"])
    markdown = report.render(found, "markdown", "PR preview")
    assert markdown.startswith("## PR preview\n")
    assert "### dev us-east-1 (`tap-dev-us-east-1`): 0 to add, 0 to remove, 1 to change\n" in markdown
    assert "| ~ | `ProcessorFunction` | AWS::Lambda::Function | `MemorySize: 2048 -> 1024` |" in markdown
    assert "### dev us-west-2 (`tap-dev-us-west-2`): no changes" in markdown
    data = json.loads(report.render(found, "json"))
    assert data["summary"] == {"add": 0, "remove": 0, "modify": 1, "replace": 0, "widening": 0}
    (function,) = data["templates"][0]["resources"]
    assert function["replacement"] == "no" and function["properties"] == [
        {"path": "MemorySize", "old": 2048, "new": 1024, "create_only": False}]


def test_a_new_stackset_is_summarized_by_type(tmp_path):
    empty = sources.Side("nothing", {})
    text = report.text(sources.compare_sides(empty, head(), ["dev"]))
    resources = render(CFG).templates[0].resources
    assert text[0] == f"dev us-east-1 (tap-dev-us-east-1): new StackSet: {resources} to add, 0 to remove, 0 to change"
    assert "  + 1 AWS::DynamoDB::GlobalTable" in text


def test_the_git_ref_is_rendered_without_this_checkout_on_the_path(tmp_path):
    """A ref whose render fails says so in one line (here: a ref without scripts/render.py)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "config").mkdir()
    shutil.copy(ROOT / "config" / "dev.toml", repo / "config" / "dev.toml")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "c"], cwd=repo,
                   check=True)
    with pytest.raises(ConfigError, match=r"rendering dev with the code of HEAD failed: .*scripts/render\.py"):
        sources.git_ref("HEAD", ["dev"], repo)
