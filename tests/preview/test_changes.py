"""The change preview on rendered templates: what is added, removed, changed and replaced (from cfn-lint's
resource schemas), parameters bound to their values, and the widening of IAM and network access."""

from __future__ import annotations

import copy
import json

from tap_templates import naming
from tap_templates.config import load_config, parse_config
from tap_templates.preview import access, changes, gate, schemas
from tap_templates.render import render
from tests.deploy.helpers import ROOT

CFG = load_config("dev")
REGION = CFG.primary_region


def template(cfg=CFG, region: str = REGION) -> dict:
    return next(json.loads(t.body) for t in render(cfg).templates if t.region == region)


def dev_with(text_from: str, text_to: str):
    """The dev config with one line changed, as a user would edit config/dev.toml."""
    import tomllib

    text = (ROOT / "config" / "dev.toml").read_text()
    assert text_from in text
    return parse_config(tomllib.loads(text.replace(text_from, text_to)), "dev")


def by_id(result: changes.TemplateChanges) -> dict[str, changes.ResourceChange]:
    return {r.logical_id: r for r in result.resources}


def test_the_same_template_has_no_changes():
    result = changes.compare("dev", REGION, "s", template(), template())
    assert result.status == "unchanged" and result.resources == () and result.widening == ()


def test_create_only_properties_come_from_the_schemas_cfn_lint_ships():
    assert ("QueueName",) in schemas.create_only("AWS::SQS::Queue")
    assert ("BucketName",) in schemas.create_only("AWS::S3::Bucket")
    assert schemas.create_only("AWS::KMS::Key") == ()  # a key is never replaced by a property change
    assert schemas.create_only("AWS::Nope::Nothing") is None
    assert schemas.replacing_paths("AWS::SQS::Queue", REGION, {"QueueName": "a", "DelaySeconds": 1},
                                   {"QueueName": "a", "DelaySeconds": 2}) == []


def test_renaming_the_project_in_a_test_config_replaces_every_named_data_resource():
    """``project`` is part of every name, and names are create-only: every data resource would be replaced."""
    renamed = dev_with('project = "tap"', 'project = "tapx"')
    result = changes.compare("dev", REGION, "s", template(), template(renamed))
    found = by_id(result)
    for logical_id, prop in (("IngestQueue", "QueueName"), ("DeadLetterQueue", "QueueName"),
                             ("IngestBucket", "BucketName"), ("RecordsTable", "TableName"),
                             ("PseudonymizationSecret", "Name")):
        assert found[logical_id].replaced, logical_id
        assert f"{prop} is create-only" in found[logical_id].reasons
        assert any(p.create_only and p.path == prop for p in found[logical_id].properties)
    assert not found["DataKey"].replaced, "KMS keys have no create-only property"
    # a bucket policy names its bucket with a create-only property: replaced with it
    assert "Bucket refers to replaced IngestBucket" in found["IngestBucketPolicy"].reasons
    blocked = {d.logical_id: d for d in gate.refused([result], [])}
    assert set(blocked) == {"IngestBucket", "AccessLogBucket", "IngestQueue", "DeadLetterQueue", "RecordsTable",
                            "PseudonymizationSecret"}
    assert blocked["RecordsTable"].reason.endswith("UpdateReplacePolicy Retain: the old one is kept, outside the "
                                                   "stack, with its data")
    assert blocked["IngestQueue"].reason.endswith("the old one is deleted")
    assert gate.refused([result], list(blocked)) == []


def test_a_memory_change_updates_the_function_in_place_and_publishes_a_version():
    result = changes.compare("dev", REGION, "s", template(), template(dev_with("memory_mb = 1024", "memory_mb = 2048")))
    found = by_id(result)
    function = found["ProcessorFunction"]
    assert function.action == "modify" and not function.replaced
    assert [p.describe() for p in function.properties] == ["MemorySize: 1024 -> 2048"]
    assert found["ProcessorVersion"].replaced and found["ProcessorVersion"].reasons == ("Description is create-only",)
    assert gate.destructive([result]) == []


def test_parameters_are_bound_to_their_values_on_each_side():
    t = template()
    old_params = {"CodeBucket": "artifacts", "CodeKey": "code/aaa.zip"}
    new_params = {"CodeBucket": "artifacts", "CodeKey": "code/bbb.zip"}
    result = changes.compare("dev", REGION, "s", t, t, old_params, new_params)
    assert [(p.name, p.old, p.new) for p in result.parameters] == [("CodeKey", "code/aaa.zip", "code/bbb.zip")]
    found = by_id(result)
    assert [p.describe() for p in found["ProcessorFunction"].properties] == [
        'Code.S3Key: "code/aaa.zip" -> "code/bbb.zip"']
    assert found["ProcessorVersion"].replaced, "new code publishes a new version"
    # what refers to the new version (the alias the event source invokes, the release alarm) is updated with it
    assert set(found) == {"ProcessorFunction", "ProcessorVersion", "ProcessorAlias", "ReleaseErrorsAlarm"}
    for logical_id in ("ProcessorAlias", "ReleaseErrorsAlarm"):
        assert not found[logical_id].replaced and found[logical_id].reasons == ("refers to replaced ProcessorVersion",)


def test_added_and_removed_resources_say_what_happens_to_the_old_one():
    old, new = template(), template()
    del new["Resources"]["PseudonymizationSecret"]
    new["Resources"]["Extra"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "extra"}}
    result = changes.compare("dev", REGION, "s", old, new)
    found = by_id(result)
    assert found["Extra"].action == "add" and found["PseudonymizationSecret"].action == "remove"
    (blocked,) = gate.refused([result], [])
    assert blocked.action == "removed" and blocked.logical_id == "PseudonymizationSecret"
    assert "DeletionPolicy RetainExceptOnCreate" in blocked.reason


def test_an_unknown_type_is_never_reported_as_safe():
    old = {"Resources": {"Thing": {"Type": "Custom::Thing", "Properties": {"A": 1}}}}
    new = {"Resources": {"Thing": {"Type": "Custom::Thing", "Properties": {"A": 2}}}}
    (change,) = changes.compare("dev", REGION, "s", old, new).resources
    assert change.replacement == "unknown"


def _role(statements: list) -> dict:
    return {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
        {"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]}}}}


def allow(action, resource, condition=None) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource,
            **({"Condition": condition} if condition else {})}


def test_a_new_action_resource_or_dropped_condition_widens_access():
    old = _role([allow("s3:GetObject", "arn:aws:s3:::b/*", {"Bool": {"aws:SecureTransport": "true"}})])
    cases = {
        "new action": [allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::b/*",
                             {"Bool": {"aws:SecureTransport": "true"}})],
        "new resource": [allow("s3:GetObject", ["arn:aws:s3:::b/*", "arn:aws:s3:::c/*"],
                               {"Bool": {"aws:SecureTransport": "true"}})],
        "condition dropped": [allow("s3:GetObject", "arn:aws:s3:::b/*")],
    }
    for name, statements in cases.items():
        found = access.widening(old["Resources"], _role(statements)["Resources"])
        assert len(found) == 1 and found[0].kind == "iam" and found[0].where == "policy p", name
    narrower = _role([allow("s3:GetObject", "arn:aws:s3:::b/x/*", {"Bool": {"aws:SecureTransport": "true"}})])
    assert access.widening(old["Resources"], narrower["Resources"]) == []
    wildcard = _role([allow("s3:*", "arn:aws:s3:::*")])
    assert access.widening(wildcard["Resources"], _role(cases["new action"])["Resources"]) == [], "covered"


def test_a_removed_deny_widens_access():
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    (found,) = access.widening(_role([deny])["Resources"], _role([])["Resources"])
    assert found.what.startswith("removed: deny * may s3:* on arn:aws:s3:::b/*")


def _group(rule: dict) -> dict:
    return {"Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"SecurityGroupEgress": [rule]}}}


def test_a_wider_cidr_or_port_range_widens_network_access():
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/16"}
    assert access.widening(_group(https), _group({**https, "CidrIp": "10.0.1.0/24"})) == []
    (wider,) = access.widening(_group(https), _group({**https, "CidrIp": "0.0.0.0/0"}))
    assert wider.kind == "network" and wider.what == "new: allow egress tcp port 443 to 0.0.0.0/0"
    (ports,) = access.widening(_group(https), _group({**https, "FromPort": 0, "ToPort": 65535}))
    assert "all ports" in ports.what
    (protocol,) = access.widening(_group(https), _group({**https, "IpProtocol": "-1"}))
    assert "allow egress all" in protocol.what


def test_the_processor_leaving_its_vpc_widens_network_access():
    isolated, open_ = template(), template(dev_with("[tags]", "[network]\nisolated = false\n\n[tags]"))
    result = changes.compare("dev", REGION, "s", isolated, open_)
    assert any(w.what.startswith("the function leaves its VPC") for w in result.widening)


def test_deployed_names_resolve_the_same_way_as_rendered_ones():
    """A template read back from a StackSet compares equal to the render it came from."""
    t = template()
    assert changes.compare("dev", REGION, naming.stack_set(CFG, REGION), t, copy.deepcopy(t)).status == "unchanged"
