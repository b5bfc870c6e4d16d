"""The contract between the handler and the rendered template, tested, not imported: names, environment,
permissions, runtime. A template change that breaks the handler fails here (and in the moto tests, whose
table is created from the same template)."""

from __future__ import annotations

import fnmatch
import importlib
import json

import pytest

from handlers import contracts, settings
from tests.handlers.helpers import ROOT

# Every AWS action the handler calls, and the resource each applies to in the template.
HANDLER_ACTIONS = {
    "s3:GetObject": "ingest objects", "s3:GetObjectVersion": "ingest objects",
    "dynamodb:BatchWriteItem": "table", "dynamodb:UpdateItem": "table", "dynamodb:GetItem": "table",
    "sqs:SendMessage": "dead-letter queue", "kms:Decrypt": "data key", "kms:GenerateDataKey": "data key",
    "xray:PutTraceSegments": "traces", "secretsmanager:GetSecretValue": "pseudonymization key",
}


def resources(template, kind):
    return [r["Properties"] for r in template.get("Resources", {}).values() if r["Type"] == kind]


def templates_with(kind):
    """The rendered templates (every environment and region) that hold a resource of ``kind``."""
    found = []
    for path in sorted((ROOT / "build").glob("*/*.json")):
        body = json.loads(path.read_text())
        if resources(body, kind):
            found.append(pytest.param(body, id=f"{path.parent.name}/{path.stem}"))
    assert found, f"no rendered template has an {kind}: run `python scripts/render.py --all`"
    return found


@pytest.fixture(params=templates_with("AWS::Lambda::Function"))
def template(request):
    return request.param


@pytest.fixture(params=templates_with("AWS::DynamoDB::GlobalTable"))
def table_template(request):
    return request.param


def test_the_handler_entry_point_exists(template):
    (function,) = resources(template, "AWS::Lambda::Function")
    module, name = function["Handler"].rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))
    assert function["Runtime"] == "python3.13" and function["Architectures"] == ["arm64"]


def test_the_template_environment_configures_the_handler(template):
    (function,) = resources(template, "AWS::Lambda::Function")
    env = {k: v if isinstance(v, str) else "resolved-by-cloudformation"
           for k, v in function["Environment"]["Variables"].items()}
    config = settings.load_settings({**env, "AWS_REGION": "us-east-1"})
    assert config.table_name == env["TABLE_NAME"]
    assert (config.data_type_shards, config.rejected_shards, config.index_data_types) == (
        int(env["DATA_TYPE_SHARDS"]), int(env["REJECTED_SHARDS"]), env["INDEX_DATA_TYPES"] == "true")
    assert env["POWERTOOLS_SERVICE_NAME"] and env["POWERTOOLS_METRICS_NAMESPACE"]


def test_the_table_has_the_keys_and_indexes_the_items_use(table_template):
    (table,) = resources(table_template, "AWS::DynamoDB::GlobalTable")
    keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
    assert keys == {"HASH": "recordId", "RANGE": "timestamp"}
    indexes = {i["IndexName"]: {k["KeyType"]: k["AttributeName"] for k in i["KeySchema"]}
               for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {"TimeIndex": {"HASH": contracts.TIME_SHARD, "RANGE": "timestamp"}}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert contracts.LEDGER_SORT_KEY == "LEDGER"


def test_the_role_allows_every_call_the_handler_makes(template):
    (function,) = resources(template, "AWS::Lambda::Function")
    role_id = function["Role"]["Fn::GetAtt"][0]
    role = template["Resources"][role_id]["Properties"]
    allowed = []
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                actions = statement["Action"]
                allowed += [actions] if isinstance(actions, str) else actions
    for action in HANDLER_ACTIONS:
        assert any(fnmatch.fnmatch(action, pattern) for pattern in allowed), f"{action} ({HANDLER_ACTIONS[action]})"
