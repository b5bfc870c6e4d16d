"""Changing the records table of a live deployment: more than one index change rolls out one index per StackSet
operation (new indexes first), the dry run says what each step does, a lower shard count is refused, and the
records table is created unprotected and protected right after.

The migration tested is the real one: from the two indexes the previous version of the templates had
(``ProcessingStatusIndex`` on ``processingStatus``, ``DataTypeIndex`` on ``dataType``) to ``TimeIndex``. The
emulator's global table applies index changes on update and refuses more than one per update, as DynamoDB does
(``local/patches/dynamodb.py``); what it cannot show: the backfill of a new index and its time (moto's index is
complete at once), CloudFormation waiting for the index to be ACTIVE, and replicas in other regions being updated
by DynamoDB rather than by the emulator's model.
"""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
from cfnlint.api import ManualArgs, lint

from tap_templates import naming
from tap_templates.commands import deploy as deploy_command
from tap_templates.config import load_config
from tap_templates.deploy import indexes, plan, stacksets, targets
from tap_templates.deploy.aws import connect
from tap_templates.errors import ConfigError
from tap_templates.render import Rendering, render, to_json
from tests.deploy.helpers import ACCOUNT

CFG = load_config("dev")
PRIMARY = CFG.primary_region
OLD_INDEXES = {"ProcessingStatusIndex": "processingStatus", "DataTypeIndex": "dataType"}


def old_layout(body: dict) -> dict:
    """A template as the previous version rendered it: the table's two indexes and their attribute definitions."""
    body = json.loads(json.dumps(body))
    table = body["Resources"]["RecordsTable"]["Properties"]
    table["GlobalSecondaryIndexes"] = [
        {"IndexName": name, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"},
                                          {"AttributeName": "timestamp", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}} for name, key in OLD_INDEXES.items()]
    table["AttributeDefinitions"] = [{"AttributeName": n, "AttributeType": "S"}
                                     for n in ("recordId", "timestamp", *OLD_INDEXES.values())]
    return body


def primary_template(rendering: Rendering):
    return next(t for t in rendering.templates if t.region == PRIMARY)


def gsis(body: dict) -> list[str]:
    return [i["IndexName"] for i in body["Resources"]["RecordsTable"]["Properties"]["GlobalSecondaryIndexes"]]


def test_the_migration_from_two_indexes_is_three_steps_new_index_first():
    new = primary_template(render(CFG))
    old_body = to_json(old_layout(json.loads(new.body))).decode()
    found = indexes.rollout(old_body, new, "tap reindex --env dev")
    assert [(c.action, c.name) for c in found.changes] == [
        ("create", "TimeIndex"), ("delete", "ProcessingStatusIndex"), ("delete", "DataTypeIndex")]
    steps = [json.loads(s.body) for s in found.steps]
    assert [gsis(s) for s in steps] == [["ProcessingStatusIndex", "DataTypeIndex", "TimeIndex"],
                                        ["DataTypeIndex", "TimeIndex"]]
    for step in steps:
        table = step["Resources"]["RecordsTable"]["Properties"]
        keys = {k["AttributeName"] for i in table["GlobalSecondaryIndexes"] for k in i["KeySchema"]} | {
            "recordId", "timestamp"}
        assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == keys, "exactly the keys in use"
        rest = {k: v for k, v in step["Resources"].items() if k != "RecordsTable"}
        assert rest == {k: v for k, v in json.loads(new.body)["Resources"].items() if k != "RecordsTable"}, \
            "every other change of the deploy goes with the first step"
        assert not lint(to_json(step).decode(), config=ManualArgs(regions=[PRIMARY]))
    chain = [gsis(json.loads(old_body)), *(gsis(s) for s in steps), gsis(json.loads(new.body))]
    assert all(len(set(a) ^ set(b)) == 1 for a, b in itertools.pairwise(chain)), "one index per step"
    assert any("run `tap reindex --env dev`" in note for note in found.notes)


def test_one_index_change_is_one_operation_and_no_change_is_none():
    new = primary_template(render(CFG))
    body = json.loads(new.body)
    one = json.loads(new.body)
    table = one["Resources"]["RecordsTable"]["Properties"]
    table["GlobalSecondaryIndexes"] = []
    table["AttributeDefinitions"] = [a for a in table["AttributeDefinitions"] if a["AttributeName"] != "timeShard"]
    found = indexes.rollout(to_json(one).decode(), new)
    assert [(c.action, c.name) for c in found.changes] == [("create", "TimeIndex")] and found.steps == ()
    assert indexes.rollout(to_json(body).decode(), new).changes == ()
    assert indexes.rollout(None, new).changes == (), "a new table gets every index at once"


def test_a_lower_shard_count_is_refused_and_turning_data_types_on_again_says_to_reindex():
    new = primary_template(render(CFG))
    deployed = json.loads(new.body)
    variables = deployed["Resources"]["ProcessorFunction"]["Properties"]["Environment"]["Variables"]
    variables["DATA_TYPE_SHARDS"] = "256"
    with pytest.raises(ConfigError, match=r"table\.data_type_shards would go from 256 down to 128: the records"):
        indexes.rollout(to_json(deployed).decode(), new)
    variables["DATA_TYPE_SHARDS"] = "64"  # growing is fine
    variables["INDEX_DATA_TYPES"] = "false"
    (note,) = indexes.rollout(to_json(deployed).decode(), new, "tap reindex --env dev").notes
    assert "turned on again" in note and "run `tap reindex --env dev`" in note


def deploy_rendering(aws_session, rendering: Rendering, code: bytes, code_sha: str) -> list:
    """Plan and apply a rendering as the deploy command does (upload included); the plans."""
    aws = connect(PRIMARY)
    chosen = targets.targets(CFG, aws.account, [], [])
    plans = plan.plan(CFG, aws, rendering, code_sha, chosen)
    deploy_command.apply(CFG, aws, chosen, plans, code)
    return plans


def with_old_table(rendering: Rendering) -> Rendering:
    templates = tuple(dataclasses.replace(t, body=to_json(old_layout(json.loads(t.body))))
                      if t.region == PRIMARY else t for t in rendering.templates)
    return dataclasses.replace(rendering, templates=templates)


def table_indexes(aws_session, region: str) -> list[str]:
    table = aws_session.client("dynamodb", region_name=region).describe_table(TableName=naming.table(CFG))["Table"]
    return sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", []))


def test_the_deploy_migrates_a_live_table_one_index_per_operation(aws, cli, code_zip):
    assert cli("roles", "--env", "dev").code == 0
    zip_path, zip_sha = code_zip
    deploy_rendering(aws, with_old_table(render(CFG)), zip_path.read_bytes(), zip_sha)
    for region in CFG.regions:
        assert table_indexes(aws, region) == sorted(OLD_INDEXES)
    dry = cli("--env", "dev", "--code-zip", str(zip_path), "--dry-run")
    assert dry.code == 0, dry.err
    assert ("tap-dev-us-east-1 (us-east-1): DynamoDB creates or deletes one index per table update, so this update "
            "runs as 3 StackSet operations, one index change each:") in dry.out
    assert "  1. create TimeIndex, with every other change of this deploy" in dry.out
    assert "  3. delete DataTypeIndex (this deploy's template)" in dry.out
    assert "create index TimeIndex (timeShard, timestamp; projection ALL): DynamoDB backfills it" in dry.out
    assert "run `python scripts/reindex.py --env dev` to add them" in dry.out
    result = cli("--env", "dev", "--code-zip", str(zip_path), "--yes")
    assert result.code == 0, result.err
    for action in ("update 1 of 3 (create index TimeIndex)", "update 2 of 3 (delete index ProcessingStatusIndex)",
                   "update 3 of 3 (delete index DataTypeIndex)"):
        assert f"tap-dev-us-east-1: {action} SUCCEEDED" in result.out
    for region in CFG.regions:
        assert table_indexes(aws, region) == ["TimeIndex"]
    again = cli("--env", "dev", "--code-zip", str(zip_path))
    assert "nothing to deploy" in again.out


def test_the_emulator_refuses_more_than_one_index_change_in_one_update(aws, cli, code_zip):
    """The control of the test above: applied in one operation, the same migration fails as on AWS."""
    assert cli("roles", "--env", "dev").code == 0
    zip_path, zip_sha = code_zip
    deploy_rendering(aws, with_old_table(render(CFG)), zip_path.read_bytes(), zip_sha)
    connection = connect(PRIMARY)
    chosen = targets.targets(CFG, connection.account, [], [])
    plans = plan.plan(CFG, connection, render(CFG), zip_sha, chosen)
    primary = next(p for p in plans if p.region == PRIMARY)
    with pytest.raises(stacksets.OperationFailed, match="Only 1 online index can be created or deleted"):
        deploy_command.apply(CFG, connection, chosen, [dataclasses.replace(primary, rollout=indexes.Rollout())],
                             zip_path.read_bytes())
    assert table_indexes(aws, PRIMARY) == sorted(OLD_INDEXES)


def test_a_new_account_gets_an_unprotected_table_then_a_protected_one(aws, cli, code_zip):
    """An account added to a deployed environment: its instance is created with the deletion protection off (an
    override) and the override removed once the create succeeded."""
    other = "210987654321"
    assert cli("roles", "--env", "dev").code == 0
    assert cli("--env", "dev", "--code-zip", str(code_zip[0]), "--yes").code == 0
    result = cli("--env", "dev", "--code-zip", str(code_zip[0]), "--accounts", ACCOUNT, other, "--yes")
    assert result.code == 0, result.err
    out = result.out
    assert out.index("tap-dev-us-east-1: create instances SUCCEEDED") < out.index(
        "tap-dev-us-east-1: turn on the records table's deletion protection SUCCEEDED")
    cf = aws.client("cloudformation", region_name=PRIMARY)
    instance = cf.describe_stack_instance(StackSetName=naming.stack_set(CFG, PRIMARY), StackInstanceAccount=other,
                                          StackInstanceRegion=PRIMARY)["StackInstance"]
    assert instance.get("ParameterOverrides", []) == [], "back to the StackSet's value, true"


@pytest.mark.parametrize("protected", ["true", "false"])
def test_the_rollback_of_a_failed_first_create_deletes_the_table_only_unprotected(aws, code_zip, protected):
    """What the parameter is for. On AWS a failed first create is rolled back and ``RetainExceptOnCreate`` asks
    CloudFormation to delete the new table, which deletion protection refuses (ROLLBACK_FAILED, and the empty
    table blocks the retry). The emulator deletes on rollback and honours deletion protection as AWS does: the
    primary's stack is created with the parameter as the deploy sets it, and rolled back."""
    from tap_templates.local.patches.stacksets import _roll_back

    template = primary_template(render(CFG)).body.decode()
    aws.client("s3", region_name=PRIMARY).create_bucket(Bucket="code-bucket")
    aws.client("s3", region_name=PRIMARY).put_object(Bucket="code-bucket", Key="code/x.zip",
                                                     Body=code_zip[0].read_bytes())
    cf = aws.client("cloudformation", region_name=PRIMARY)
    cf.create_stack(StackName=f"StackSet:{naming.stack_set(CFG, PRIMARY)}", TemplateBody=template,
                    Parameters=[{"ParameterKey": "CodeBucket", "ParameterValue": "code-bucket"},
                                {"ParameterKey": "CodeKey", "ParameterValue": "code/x.zip"},
                                {"ParameterKey": "TableDeletionProtection", "ParameterValue": protected}],
                    Capabilities=["CAPABILITY_NAMED_IAM"])
    dynamodb = aws.client("dynamodb", region_name=PRIMARY)
    assert dynamodb.describe_table(TableName=naming.table(CFG))["Table"]["DeletionProtectionEnabled"] is (
        protected == "true")
    _roll_back(ACCOUNT, PRIMARY, naming.stack_set(CFG, PRIMARY))
    tables = dynamodb.list_tables()["TableNames"]
    assert (naming.table(CFG) in tables) is (protected == "true"), "protected: the empty table blocks a retry"
