"""The destructive-change gate of ``deploy.py`` on the emulator: a deploy that would replace or remove a data
resource refuses, lists each one with its reason and starts no StackSet operation, unless
``--allow-replacement NAME`` names each; the same preview is what ``--dry-run`` and the confirmation show."""

from __future__ import annotations

import json

from tap_templates import naming
from tap_templates.config import load_config
from tap_templates.render import render
from tests.deploy.helpers import ROOT, one_line

CFG = load_config("dev")
PRIMARY = CFG.primary_region


def operations(aws, region: str) -> list[str]:
    cf = aws.client("cloudformation", region_name=region)
    return [o["Action"] for o in cf.list_stack_set_operations(StackSetName=naming.stack_set(CFG, region))["Summaries"]]


def without_pseudonymization(tmp_path):
    """A test config that turns pseudonymization off: the primary's secret leaves the template."""
    text = (ROOT / "config" / "dev.toml").read_text().replace("[tags]", "[pseudonymization]\nenabled = false\n\n[tags]")
    path = tmp_path / "dev.toml"
    path.write_text(text)
    return path


def deploy(cli, code_zip, *extra: str):
    assert cli("roles", "--env", "dev").code == 0
    result = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes", *extra)
    assert result.code == 0, result.err
    return result


def test_removing_a_data_resource_is_refused_until_it_is_named(aws, cli, code_zip, tmp_path):
    deploy(cli, code_zip)
    config = str(without_pseudonymization(tmp_path))
    refused = cli("--env", "dev", "--config", config, "--code-zip", str(code_zip[0]), "--yes")
    assert refused.code == 1
    assert "blocked: tap-dev-us-east-1 (us-east-1): secret PseudonymizationSecret would be removed: no longer in " \
           "the template; DeletionPolicy RetainExceptOnCreate: the old one is kept, outside the stack, with its " \
           "data" in refused.out
    assert one_line(refused) == ("deploy.py: refusing to replace or remove data resource(s) PseudonymizationSecret "
                                 "(listed above); once their data is copied or no longer needed, deploy again with "
                                 "--allow-replacement PseudonymizationSecret")
    # the first deploy's two: the create, and turning the table's deletion protection on
    assert operations(aws, PRIMARY) == ["CREATE", "UPDATE"], "nothing was started"
    dry = cli("--env", "dev", "--config", config, "--code-zip", str(code_zip[0]), "--dry-run")
    assert dry.code == 1 and "the deploy would be refused" in dry.out and "blocked: " in dry.out
    allowed = cli("--env", "dev", "--config", config, "--code-zip", str(code_zip[0]), "--yes",
                  "--allow-replacement", "PseudonymizationSecret")
    assert allowed.code == 0, allowed.err
    assert "blocked:" not in allowed.out and operations(aws, PRIMARY) == ["CREATE", "UPDATE", "UPDATE"]


def test_a_create_only_change_of_a_queue_is_refused_with_its_reason(aws, cli, code_zip):
    """The deployed StackSet's dead-letter queue has another name (an earlier template): the deploy would
    replace it (``QueueName`` is create-only in the queue's schema), so it refuses."""
    deploy(cli, code_zip)
    template = next(t for t in render(CFG).templates if t.region == PRIMARY)
    older = json.loads(template.body)
    older["Resources"]["DeadLetterQueue"]["Properties"]["QueueName"] = "tap-dev-ingest-dlq-v1"
    cf = aws.client("cloudformation", region_name=PRIMARY)
    current = cf.describe_stack_set(StackSetName=naming.stack_set(CFG, PRIMARY))["StackSet"]
    cf.update_stack_set(StackSetName=naming.stack_set(CFG, PRIMARY), TemplateBody=json.dumps(older),
                        Parameters=current["Parameters"], Capabilities=["CAPABILITY_IAM"],
                        AdministrationRoleARN=current["AdministrationRoleARN"],
                        ExecutionRoleName=current["ExecutionRoleName"])
    refused = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes")
    assert refused.code == 1
    assert "! DeadLetterQueue" in refused.out and "REPLACED: QueueName is create-only" in refused.out
    assert "blocked: tap-dev-us-east-1 (us-east-1): queue DeadLetterQueue would be replaced: QueueName is " \
           "create-only; the old one is deleted" in refused.out
    assert "--allow-replacement DeadLetterQueue" in one_line(refused)
    allowed = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes", "--allow-replacement", "DeadLetterQueue")
    assert allowed.code == 0, allowed.err
