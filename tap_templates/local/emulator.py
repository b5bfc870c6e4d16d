"""Everything the AWS emulator (moto) cannot do from a rendered template, done through its APIs instead.

Used only by the tests and the local simulation, never by the deploy path for real AWS: a template is
never altered to suit the emulator. Each function names the gap it covers, and reads what it creates from
the rendered template itself, so a template change still reaches the tests.

Two kinds of fix. ``patch_moto`` corrects moto's own behaviour where it fails or lies, once, when the
emulator starts (in-process before ``mock_aws``, or in the server: ``python -m tap_templates.local.emulator -p PORT``
is ``moto_server`` with these fixes). ``apply_skipped_resources`` applies, after a deploy, the parts of a
template moto's CloudFormation silently skips, through the same AWS APIs a user would call.

Gaps covered:
- moto's CloudFormation does not create ``AWS::DynamoDB::GlobalTable``, and a stack whose outputs ``GetAtt``
  one fails to create at all: ``patch_moto`` registers a model that creates the table in every replica region,
  so the primary's stack, its outputs and the replicas in the secondaries exist as on AWS.
  ``create_table_from_template`` creates the table (key schema, attributes, GSIs, stream, TTL) with the
  DynamoDB API where no stack did; ``apply_skipped_resources`` calls it only when the table is missing.
- A stack whose outputs ``GetAtt`` a resource type moto does not model (the audit trail's ARN) fails to create:
  ``patch_moto`` leaves out the outputs of skipped resources, as moto already does for a ``Ref`` to one.
- ``AWS::KMS::Key`` with ``Tags`` fails (moto passes CloudFormation's ``Key``/``Value`` tags to the KMS API,
  which expects ``TagKey``/``TagValue``), and its ``KeyPolicy`` is kept as an object, so every KMS call that
  reads the policy (``DescribeKey``, encrypting, ...) fails: ``patch_moto`` converts both.
- ``AWS::Lambda::Function`` ignores ``Architectures`` and ``TracingConfig`` (every function is x86_64 without
  tracing): ``patch_moto`` sets both from the template.
- A stack update reaches only resources that ``Ref`` a changed parameter, not those depending on it through a
  condition (the event source's ``Enabled`` follows ``ProcessingEnabled`` through ``ProcessingIsEnabled``):
  ``patch_moto`` also updates resources that use a condition built from a changed parameter.
- ``DeletionPolicy: RetainExceptOnCreate`` (the data-holding resources) is not known: moto deletes those
  resources with their stack. ``patch_moto`` keeps them, as CloudFormation does on every deletion that is not
  the rollback of a failed first create.
- ``AWS::EC2::RouteTable`` is never deleted with its stack, so deleting the stack's VPC fails with
  ``DependencyViolation``: ``patch_moto`` deletes it like the other EC2 resources.
- StackSets: an instance's parameter overrides replace the StackSet's parameters instead of overriding them;
  ``UpdateStackSet`` and ``UpdateStackInstances`` record the new template and parameters but never update
  the instances' stacks (and ``UpdateStackSet`` with accounts wipes every override); a stack that fails to
  create raises out of ``CreateStackInstances`` instead of failing the operation with the instance's status
  reason (and a stack that fails to delete raises out of ``DeleteStackInstances``); ``ListStackInstances``
  returns a made-up stack ID; ``UpdateStackSet`` without ``OperationId`` has none. ``patch_moto`` makes
  instances merge overrides, updates their stacks, records failures as a FAILED operation with a
  ``StatusReason`` per instance (rolling a failed create back), and reports the real stack IDs.
- Bucket policies: moto evaluates only ``StringEquals`` conditions and takes every other condition as met, so
  a TLS-only ``Deny`` (``Bool aws:SecureTransport false``) denies every object request (403). ``patch_moto``
  lets a ``Deny`` apply only when moto can evaluate its condition: requests to the emulator count as TLS.
- S3 event notifications leave out the object's ``versionId`` and ``sequencer`` (S3 sends both for a versioned
  bucket, and the processor's file ledger is keyed by the version), and their ``eventTime`` is local time
  without a zone (S3's is UTC, ``2024-05-01T12:00:00.000Z``): ``patch_moto`` adds both and writes the time as S3.
- An SQS event source mapping makes moto invoke the function (in Docker) on every ``SendMessage``, through a
  receive that counts towards the queue's ``maxReceiveCount``: without Docker every message fails there, so a
  few uploads move messages to the DLQ before anything processed them. ``patch_moto`` turns moto's own
  delivery off (the mapping and its state stay, as the Lambda API shows them); the local simulation's
  ``drain`` is the poller, reading the mapping's state and batch size through the Lambda API.
- S3 replication is not emulated (moto keeps a bucket's ``ReplicationConfiguration`` and never copies), and
  no S3 API can create an object with a given version ID, which replication keeps. ``replicate_object``
  copies one version into another bucket through moto's backend, keeping key, version ID, content, metadata
  and encryption, and sends the destination bucket's own event notifications as S3 does for a replica.
  Against a server, ``patch_moto`` serves it at ``POST /moto-api/tap/replicate-object`` (JSON body: ``account``,
  ``sourceBucket``, ``key``, ``versionId``, ``targetBucket``); ``replicate_object_via`` calls either. The
  local simulation (``tap_templates.local.simulation``) decides what to replicate from the template's rules.
- ``AWS::SecretsManager::Secret`` is skipped (the pseudonymization key the processor reads):
  ``apply_skipped_resources`` creates it with the Secrets Manager API, with a value generated as its
  ``GenerateSecretString`` asks, its KMS key and its ``ReplicaRegions`` (moto replicates it), unless it exists.
- Bucket ``VersioningConfiguration``, ``NotificationConfiguration``, ``PublicAccessBlockConfiguration`` and
  ``OwnershipControls`` are ignored, and ``AWS::S3::BucketPolicy``, ``AWS::SQS::QueuePolicy`` and
  ``AWS::SNS::TopicPolicy`` are skipped: ``apply_skipped_resources`` applies them with the S3, SQS and SNS APIs.

And one for speed: moto parses every template with PyYAML's pure-Python loader (about 0.4 s for one of our
100 KB JSON templates, on every stack create and update); ``patch_moto`` parses JSON templates as JSON.

Not covered, checked on the rendered template by the template tests (and ``tests/deploy/test_emulator.py``
checks that they refer only to what the deploy created): CloudWatch alarms and composite alarms, network ACLs
and their entries and associations, the CloudTrail trail, Config rules and e-mail
subscriptions (skipped); bucket lifecycle, logging, metrics and replication, the function's logging
configuration and KMS key (ignored); the table's PITR, contributor insights and encryption (accepted, not
enforced).
"""

from __future__ import annotations

import contextvars
import json
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

GLOBAL_TABLE = "AWS::DynamoDB::GlobalTable"
_patched = False


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == resource_type}


def global_table(template: dict[str, Any]) -> dict[str, Any]:
    tables = resources_of_type(template, GLOBAL_TABLE)
    if len(tables) != 1:
        raise ValueError(f"expected one AWS::DynamoDB::GlobalTable in the template, found {len(tables)}")
    return next(iter(tables.values()))["Properties"]


def create_table_from_template(template: dict[str, Any], dynamodb_client: Any) -> str:
    """Create the global table's replica in the client's region as a plain table; return its name.

    Encryption, PITR, deletion protection and contributor insights are not applied: moto accepts but does
    not enforce them, and the template tests check them on the rendered JSON instead.
    """
    props = global_table(template)
    name = props["TableName"]
    dynamodb_client.create_table(
        TableName=name,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props["BillingMode"],
        GlobalSecondaryIndexes=[
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in props.get("GlobalSecondaryIndexes", [])
        ],
        StreamSpecification={"StreamEnabled": True, **props["StreamSpecification"]},
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb_client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return name


# --- patch_moto: fixes to moto's behaviour, applied once when the emulator starts -------------------------


def patch_moto() -> None:
    """Apply every fix below to the moto imported in this process. Idempotent; call before deploying."""
    global _patched
    if _patched:
        return
    _patch_kms_key_properties()
    _register_global_table_model()
    _patch_lambda_function_properties()
    _patch_condition_updates()
    _patch_outputs_of_skipped_resources()
    _patch_route_table_delete()
    _patch_retain_except_on_create()
    _patch_stack_sets()
    _patch_policy_conditions()
    _patch_template_parsing()
    _patch_s3_event_versions()
    _patch_sqs_event_source_delivery()
    _register_replication_route()
    _patched = True


def _replace_classmethod(cls: type, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(cls, name).__func__
    setattr(cls, name, classmethod(wrap(original)))


def _patch_kms_key_properties() -> None:
    """Gap: an ``AWS::KMS::Key``'s ``Tags`` and ``KeyPolicy`` reach KMS in CloudFormation's shape, not the API's."""
    from moto.kms.models import Key

    def wrap(create: Callable[..., Any]) -> Callable[..., Any]:
        def create_key(cls: type, name: str, cfn: dict[str, Any], account_id: str, region_name: str,
                       **kwargs: Any) -> Any:
            props = dict(cfn.get("Properties", {}))
            props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
            if isinstance(props.get("KeyPolicy"), dict):
                props["KeyPolicy"] = json.dumps(props["KeyPolicy"])
            return create(cls, name, {**cfn, "Properties": props}, account_id, region_name, **kwargs)
        return create_key

    _replace_classmethod(Key, "create_from_cloudformation_json", wrap)


def _table_properties(props: dict[str, Any], replica: dict[str, Any]) -> dict[str, Any]:
    """One replica of a global table, in the shape of ``AWS::DynamoDB::Table`` that moto understands."""
    sse = replica.get("SSESpecification", {})
    return {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "GlobalSecondaryIndexes": props.get("GlobalSecondaryIndexes", []),
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        "StreamSpecification": {"StreamEnabled": True, **props.get("StreamSpecification", {})},
        "SSESpecification": {"Enabled": True, "SSEType": "KMS",
                             **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {})},
        "DeletionProtectionEnabled": replica.get("DeletionProtectionEnabled", False),
        "Tags": replica.get("Tags", []),
    }


def _register_global_table_model() -> None:
    """Gap: no ``AWS::DynamoDB::GlobalTable`` model; a stack with outputs on the table cannot be created."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import Table

    class GlobalTableModel(CloudFormationModel):
        __module__ = "moto.dynamodb.global_tables"  # moto files every model under the service its module names

        def __init__(self, table: Table) -> None:
            self.table = table

        @staticmethod
        def cloudformation_name_type() -> str:
            return "TableName"

        @staticmethod
        def cloudformation_type() -> str:
            return GLOBAL_TABLE

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Arn", "StreamArn")

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            return self.table.get_cfn_attribute(attribute_name)

        @property
        def physical_resource_id(self) -> str:
            return self.table.name

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                            account_id: str, region_name: str, **kwargs: Any) -> GlobalTableModel:
            props = cloudformation_json["Properties"]
            here = None
            for replica in props["Replicas"]:
                table = Table.create_from_cloudformation_json(
                    resource_name, {"Properties": _table_properties(props, replica)}, account_id, replica["Region"])
                ttl = props.get("TimeToLiveSpecification")
                if ttl:
                    dynamodb_backends[account_id][replica["Region"]].update_time_to_live(resource_name, ttl)
                if replica["Region"] == region_name:
                    here = table
            if here is None:
                raise ValueError(f"global table {resource_name} has no replica in its stack's region {region_name}")
            return cls(here)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str,
                                            region_name: str) -> Any:
            return original_resource  # changes to a global table are not emulated; the table is kept

    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()


def _patch_lambda_function_properties() -> None:
    """Gap: ``Architectures`` and ``TracingConfig`` of ``AWS::Lambda::Function`` are ignored."""
    from moto.awslambda.models import LambdaFunction

    def apply(fn: Any, props: dict[str, Any]) -> Any:
        if "Architectures" in props:
            fn.architectures = list(props["Architectures"])
        if "TracingConfig" in props:
            fn.tracing_config = dict(props["TracingConfig"])
        return fn

    def wrap_create(create: Callable[..., Any]) -> Callable[..., Any]:
        def create_function(cls: type, name: str, cfn: dict[str, Any], account_id: str, region_name: str,
                            **kwargs: Any) -> Any:
            return apply(create(cls, name, cfn, account_id, region_name, **kwargs), cfn["Properties"])
        return create_function

    def wrap_update(update: Callable[..., Any]) -> Callable[..., Any]:
        def update_function(cls: type, original_resource: Any, new_resource_name: str,
                            cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
            updated = update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
            return apply(updated, cloudformation_json["Properties"])
        return update_function

    _replace_classmethod(LambdaFunction, "create_from_cloudformation_json", wrap_create)
    _replace_classmethod(LambdaFunction, "update_from_cloudformation_json", wrap_update)


def _references(node: Any, key: str) -> set[str]:
    """Names used under ``key`` anywhere in ``node`` (``Ref`` targets, ``Condition`` names, ``Fn::If`` tests)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                found.add(v)
            elif k == key == "Fn::If" and isinstance(v, list) and v:
                found.add(v[0])
            found |= _references(v, key)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item, key)
    return found


def _conditions_using(conditions: dict[str, Any], parameters: set[str]) -> set[str]:
    """Conditions that depend on any of ``parameters``, directly or through other conditions."""
    affected: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, body in conditions.items():
            if name not in affected and (_references(body, "Ref") & parameters
                                         or _references(body, "Condition") & affected):
                affected.add(name)
                changed = True
    return affected


def _patch_condition_updates() -> None:
    """Gap: a parameter change does not update resources that depend on it only through a condition."""
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.build_resource_diff

    def build_resource_diff(self: Any, other_template: dict[str, Any],
                            parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        diff = original(self, other_template, parameters)
        if not parameters:
            return diff
        changed = {p for p in parameters if self.input_parameters.get(p) != parameters[p]}
        conditions = _conditions_using(other_template.get("Conditions", {}), changed)
        for name, resource in other_template["Resources"].items():
            uses = _references(resource, "Fn::If") | _references(resource, "Condition")
            if name in self._resource_json_map and name not in diff["Modify"] and uses & conditions:
                diff["Modify"].append(name)
        return diff

    ResourceMap.build_resource_diff = build_resource_diff


def _patch_policy_conditions() -> None:
    """Gap: a ``Deny`` whose condition moto cannot evaluate denies everything."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
    from moto.iam.policy_conditions import CONDITION_OPERATIONS

    original = IAMPolicyStatement.is_action_permitted

    def evaluable(condition: dict[str, dict[str, Any]], values: dict[str, str] | None) -> bool:
        return all(operator in CONDITION_OPERATIONS and all(key in (values or {}) for key in keys)
                   for operator, keys in condition.items())

    def is_action_permitted(self: Any, action: str, resource: str = "*", principal: str | None = None,
                            incoming_condition_values: dict[str, str] | None = None) -> Any:
        result = original(self, action, resource, principal, incoming_condition_values)
        condition = self._statement.get("Condition")
        if (result == PermissionResult.DENIED and self._statement.get("Effect") == "Deny" and condition
                and not evaluable(condition, incoming_condition_values)):
            return PermissionResult.NEUTRAL
        return result

    IAMPolicyStatement.is_action_permitted = is_action_permitted


def _patch_outputs_of_skipped_resources() -> None:
    """Gap: an output on a resource moto skips fails the stack instead of being left out."""
    from moto.cloudformation import parsing

    validate, parse_output = parsing.ResourceMap.validate_outputs, parsing.parse_output

    def on_skipped_resource(resource_map: Any, output: dict[str, Any]) -> bool:
        names = _references(output, "Ref") | {a[0] for a in _get_atts(output) if isinstance(a, list) and a}
        names |= {n.split(".")[0] for n in _SUB_VARIABLE.findall(json.dumps(output))}
        resources = resource_map._resource_json_map
        return any(name in resources and parsing.resource_class_from_type(resources[name]["Type"]) is None
                   for name in names)

    def validate_outputs(self: Any) -> None:
        outputs = self._template.get("Outputs") or {}
        template = self._template
        self._template = {**template, "Outputs": {k: v for k, v in outputs.items()
                                                  if not on_skipped_resource(self, v)}}
        try:
            validate(self)
        finally:
            self._template = template

    def parse_output_unless_skipped(output_logical_id: str, output_json: Any, resources_map: Any) -> Any:
        if on_skipped_resource(resources_map, output_json):
            return None
        return parse_output(output_logical_id, output_json, resources_map)

    parsing.ResourceMap.validate_outputs = validate_outputs
    parsing.parse_output = parse_output_unless_skipped


def _get_atts(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "Fn::GetAtt"] + [a for v in node.values() for a in _get_atts(v)]
    if isinstance(node, list):
        return [a for item in node for a in _get_atts(item)]
    return []


def _patch_route_table_delete() -> None:
    """Gap: a route table created by a stack is left behind when the stack is deleted."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.route_tables import RouteTable

    def delete(self: Any, account_id: str, region_name: str) -> None:
        ec2_backends[account_id][region_name].delete_route_table(self.id)

    RouteTable.delete = delete


def _patch_retain_except_on_create() -> None:
    """Gap: moto keeps a resource on stack deletion only for ``DeletionPolicy: Retain`` and deletes those with
    ``RetainExceptOnCreate`` (which keeps them on every deletion except a failed first create's rollback)."""
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.delete

    def delete(self: Any) -> None:
        for resource in self._resource_json_map.values():
            if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
                resource["DeletionPolicy"] = "Retain"
        original(self)

    ResourceMap.delete = delete


def _patch_template_parsing() -> None:
    """Speed: JSON templates are parsed as JSON; YAML ones still go through moto's YAML loader."""
    from moto.cloudformation.models import Stack

    parse_yaml = Stack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        if isinstance(template, str) and template.lstrip().startswith("{"):
            try:
                return json.loads(template)
            except ValueError:
                pass
        return parse_yaml(template)

    Stack.parse_template = staticmethod(parse_template)


@dataclass
class _Operation:
    """The StackSet whose operation is running and what happened to each instance it touched."""

    stack_set: Any
    results: list[tuple[str, str, str | None]] = field(default_factory=list)


_running: contextvars.ContextVar[_Operation | None] = contextvars.ContextVar("stack_set_operation", default=None)


def _as_dict(parameters: Any) -> dict[str, str]:
    if isinstance(parameters, dict):
        return dict(parameters)
    return {p["ParameterKey"]: p["ParameterValue"] for p in parameters or [] if "ParameterValue" in p}


def _as_list(parameters: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())]


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or getattr(exc, "description", None) or str(exc)
    return f"{getattr(exc, 'code', None) or getattr(exc, 'error_type', None) or type(exc).__name__}: {message}"


def _instance_stack_name(stack_set_name: str) -> str:
    return f"StackSet:{stack_set_name}"  # moto's name for a self-managed instance's stack


def _roll_back(account: str, region: str, stack_set_name: str) -> None:
    """As CloudFormation does after a failed create: delete what the failed stack had created."""
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[account][region]
    for stack in list(backend.stacks.values()):
        if stack.name == _instance_stack_name(stack_set_name):
            try:
                backend.delete_stack(stack.stack_id)
            except Exception:  # best effort, like a rollback that leaves resources behind
                backend.stacks.pop(stack.stack_id, None)


def _finish(operation: dict[str, Any], results: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    operation["Results"] = results
    operation["Instances"] = [{account: region} for account, region, _ in results]
    failed = [reason for _, _, reason in results if reason]
    operation["Status"] = "FAILED" if failed else "SUCCEEDED"
    if failed:
        operation["StatusReason"] = failed[0]
    return operation


def _update_instance(stack_set: Any, instance: Any) -> tuple[str, str, str | None]:
    """Bring one instance's stack to the StackSet's template and its merged parameters."""
    from moto.cloudformation.models import Stack, cloudformation_backends

    parameters = {**_as_dict(stack_set.parameters), **_as_dict(instance.parameters)}
    instance.template = stack_set.template
    try:
        if instance.stack is None:
            if instance.permission_model == "SELF_MANAGED":
                backend = cloudformation_backends[instance.account_id][instance.region_name]
                instance.stack = backend.create_stack(name=_instance_stack_name(stack_set.name),
                                                      template=stack_set.template, parameters=parameters)
            else:
                instance.stack = Stack(stack_id=str(uuid.uuid4()), name=stack_set.name, template=stack_set.template,
                                       parameters=parameters, account_id=instance.account_id,
                                       region_name=instance.region_name)
                instance.stack.create_resources()
        else:
            instance.stack.update(stack_set.template, parameters=parameters)
        instance.status_reason = None
    except Exception as exc:  # any failure of the emulated stack is the instance's failure
        instance.status_reason = _reason(exc)
        if instance.stack is None and instance.permission_model == "SELF_MANAGED":
            _roll_back(instance.account_id, instance.region_name, stack_set.name)
    return instance.account_id, instance.region_name, instance.status_reason


def _targets(stack_set: Any, accounts: list[str], regions: list[str]) -> list[Any]:
    return [i for i in stack_set.instances.stack_instances
            if (not accounts or i.account_id in accounts) and (not regions or i.region_name in regions)]


def _patch_stack_sets() -> None:
    """Gaps: StackSet instances ignore overrides semantics, never update, and cannot fail an operation."""
    from moto.cloudformation import models, responses
    from moto.core.responses import ActionResult

    stack_set_cls, instance_cls = models.StackSet, models.StackInstance
    create_instances, update_stack_set = stack_set_cls.create_stack_instances, stack_set_cls.update
    init_instance, delete_instance = instance_cls.__init__, instance_cls.delete
    original_results = responses.CloudFormationResponse.list_stack_set_operation_results

    def instance_init(self: Any, account_id: str, region_name: str, stackset_id: str, stack_name: str, name: str,
                      template: str, parameters: Any, permission_model: str) -> None:
        running = _running.get()
        overrides = parameters if isinstance(parameters, list) else []
        merged = {**_as_dict(running.stack_set.parameters), **_as_dict(overrides)} if running else parameters
        self.status_reason = None
        try:
            init_instance(self, account_id, region_name, stackset_id, stack_name, name, template, merged,
                          permission_model)
        except Exception as exc:  # the failure is reported on the operation, as on AWS
            self.stack = None
            self.status_reason = _reason(exc)
            if permission_model == "SELF_MANAGED":
                _roll_back(account_id, region_name, name)
        self.parameters = overrides
        if running:
            running.results.append((account_id, region_name, self.status_reason))

    def create_stack_instances(self: Any, accounts: list[str], regions: list[str],
                               deployment_targets: dict[str, Any] | None, parameters: list[dict[str, Any]]) -> str:
        running = _Operation(self)
        token = _running.set(running)
        try:
            operation_id = create_instances(self, accounts, regions, deployment_targets, parameters)
        finally:
            _running.reset(token)
        _finish(self.get_operation(operation_id), running.results)
        return operation_id

    def update(self: Any, template: str, description: str, parameters: dict[str, str], tags: dict[str, str],
               admin_role: str, execution_role: str, accounts: list[str], regions: list[str],
               operation_id: str | None) -> dict[str, Any]:
        operation = update_stack_set(self, template, description, parameters, tags, admin_role, execution_role,
                                     [], [], operation_id or str(uuid.uuid4()))
        return _finish(operation, [_update_instance(self, i) for i in _targets(self, accounts, regions)])

    def update_instances(self: Any, accounts: list[str], regions: list[str],
                         parameters: list[dict[str, Any]]) -> dict[str, Any]:
        operation = self._create_operation(str(uuid.uuid4()), "UPDATE", "SUCCEEDED", accounts, regions)
        results = []
        for instance in _targets(self, accounts, regions):
            if parameters:  # AWS: the given list replaces the overrides, except keys marked UsePreviousValue
                previous = _as_dict(instance.parameters)
                kept = {p["ParameterKey"]: previous[p["ParameterKey"]] for p in parameters
                        if p.get("UsePreviousValue") in (True, "true") and p["ParameterKey"] in previous}
                instance.parameters = _as_list({**_as_dict(parameters), **kept})
            results.append(_update_instance(self, instance))
        return _finish(operation, results)

    def delete_stack_instances(self: Any, accounts: list[str], regions: list[str]) -> None:
        operation = self._create_operation(str(uuid.uuid4()), "DELETE", "SUCCEEDED", accounts, regions)
        results: list[tuple[str, str, str | None]] = []
        for instance in _targets(self, accounts, regions):
            try:
                if instance.stack is not None:
                    delete_instance(instance)
                self.instances.stack_instances.remove(instance)
                results.append((instance.account_id, instance.region_name, None))
            except Exception as exc:  # a stack that cannot be deleted fails its instance, as on AWS
                instance.status_reason = _reason(exc)
                results.append((instance.account_id, instance.region_name, instance.status_reason))
        _finish(operation, results)

    def to_dict(self: Any) -> dict[str, Any]:
        failed = self.status_reason is not None
        summary = {
            "StackSetId": self.stackset_id,
            "Region": self.region_name,
            "Account": self.account_id,
            "Status": "OUTDATED" if failed else "CURRENT",
            "ParameterOverrides": _as_list(_as_dict(self.parameters)),
            "StackInstanceStatus": {"DetailedStatus": "FAILED" if failed else "SUCCEEDED"},
        }
        if self.stack is not None:
            summary["StackId"] = self.stack.stack_id
        if failed:
            summary["StatusReason"] = self.status_reason
        return summary

    def list_stack_set_operation_results(self: Any) -> Any:
        operation = self.cloudformation_backend.list_stack_set_operation_results(
            self._get_param("StackSetName"), self._get_param("OperationId"))
        if "Results" not in operation:
            return original_results(self)
        return ActionResult({"Summaries": [
            {"Account": account, "Region": region, "Status": "FAILED" if reason else "SUCCEEDED",
             **({"StatusReason": reason} if reason else {})}
            for account, region, reason in operation["Results"]
        ]})

    instance_cls.__init__ = instance_init
    instance_cls.to_dict = to_dict
    stack_set_cls.create_stack_instances = create_stack_instances
    stack_set_cls.update = update
    stack_set_cls.update_instances = update_instances
    stack_set_cls.delete_stack_instances = delete_stack_instances
    responses.CloudFormationResponse.list_stack_set_operation_results = list_stack_set_operation_results


def _patch_s3_event_versions() -> None:
    """Gap: S3 event records lack ``versionId`` and ``sequencer``, and their ``eventTime`` has no zone."""
    from moto.s3 import notifications

    original = notifications._get_s3_event

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = original(event_name, bucket, key, notification_id)
        for record in event["Records"]:
            obj = record["s3"]["object"]
            if key.version_id and key.version_id != "null":
                obj["versionId"] = key.version_id
            obj["sequencer"] = f"{time.time_ns():016X}"  # increases per key, as S3's does
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            record["eventTime"] = f"{stamp}.{int(now * 1000) % 1000:03d}Z"
        return event

    notifications._get_s3_event = get_s3_event


def _patch_sqs_event_source_delivery() -> None:
    """Gap: moto delivers SQS messages to a mapped function itself, failing without Docker."""
    from moto.awslambda.models import LambdaBackend

    original = LambdaBackend.create_event_source_mapping

    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        from moto.sqs.models import sqs_backends

        esm = original(self, spec)
        for queue in sqs_backends[self.account_id][self.region_name].queues.values():
            if queue.queue_arn == spec["EventSourceArn"]:
                queue.lambda_event_source_mappings.pop(esm.function_arn, None)
        return esm

    LambdaBackend.create_event_source_mapping = create_event_source_mapping


REPLICATE_PATH = "/moto-api/tap/replicate-object"


def replicate_object(account: str, source_bucket: str, key: str, version_id: str, target_bucket: str,
                     partition: str = "aws") -> bool:
    """Gap: no S3 replication. Copy one object version as replication does (same key and version ID); return
    False when the target already holds that version (replication never copies a version twice)."""
    from moto.s3 import notifications
    from moto.s3.models import s3_backends

    backend = s3_backends[account][partition]
    source = backend.get_object(source_bucket, key, version_id=version_id)
    if source is None:
        raise KeyError(f"s3://{source_bucket}/{key} has no version {version_id}")
    target = backend.get_bucket(target_bucket)
    if any(v.version_id == version_id for v in target.keys.getlist(key, [])):
        return False
    encryption = target.encryption["Rule"]["ApplyServerSideEncryptionByDefault"] if target.encryption else {}
    replica = backend.put_object(
        target_bucket, key, source.value, storage=source.storage_class,
        encryption=encryption.get("SSEAlgorithm", source.encryption),
        kms_key_id=encryption.get("KMSMasterKeyID", source.kms_key_id),
        bucket_key_enabled=source.bucket_key_enabled, disable_notification=True)
    replica._version_id = version_id
    replica.set_metadata(source.metadata)  # (moto has no ReplicationStatus to set on either copy)
    notifications.send_event(account, notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT, target, replica)
    return True


def replicate_object_via(endpoint_url: str | None, account: str, source_bucket: str, key: str, version_id: str,
                         target_bucket: str) -> bool:
    """``replicate_object`` in this process (``mock_aws``), or in the emulator server at ``endpoint_url``."""
    if endpoint_url is None:
        return replicate_object(account, source_bucket, key, version_id, target_bucket)
    import urllib.request

    body = json.dumps({"account": account, "sourceBucket": source_bucket, "key": key, "versionId": version_id,
                       "targetBucket": target_bucket}).encode()
    request = urllib.request.Request(endpoint_url.rstrip("/") + REPLICATE_PATH, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bool(json.loads(response.read())["copied"])


def _register_replication_route() -> None:
    """Serve ``replicate_object`` from the emulator server, where moto's backends live."""
    from moto.moto_api._internal import urls

    def replicate(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        raw = request.data if hasattr(request, "data") else request.body
        args = json.loads(raw or b"{}")
        try:
            copied = replicate_object(args["account"], args["sourceBucket"], args["key"], args["versionId"],
                                      args["targetBucket"])
        except (KeyError, TypeError) as exc:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": str(exc)})
        return 200, {"Content-Type": "application/json"}, json.dumps({"copied": copied})

    urls.url_paths["{0}" + REPLICATE_PATH] = replicate


# --- apply_skipped_resources: what moto's CloudFormation skips, applied through the AWS APIs -------------


@dataclass(frozen=True)
class _Context:
    """What intrinsic functions resolve against: one account and region, and the template's own names."""

    template: dict[str, Any]
    account: str
    region: str
    partition: str
    parameters: dict[str, str]
    clients: Callable[[str], Any]

    def physical_id(self, logical_id: str) -> str:
        """The name the resource has in AWS, from its own name property (every pipeline resource has one)."""
        resource = self.template["Resources"][logical_id]
        props, kind = resource.get("Properties", {}), resource["Type"]
        if kind == "AWS::S3::Bucket":
            return resolve(props["BucketName"], self)
        if kind == "AWS::SQS::Queue":
            return self.clients("sqs").get_queue_url(QueueName=resolve(props["QueueName"], self))["QueueUrl"]
        if kind == "AWS::SNS::Topic":
            return f"arn:{self.partition}:sns:{self.region}:{self.account}:{resolve(props['TopicName'], self)}"
        if kind == "AWS::KMS::Key":
            return self.key_metadata(logical_id)["KeyId"]
        raise ValueError(f"the emulator cannot resolve Ref {logical_id} ({kind})")

    def attribute(self, logical_id: str, name: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        if (kind, name) == ("AWS::SQS::Queue", "Arn"):
            props = self.template["Resources"][logical_id]["Properties"]
            return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{resolve(props['QueueName'], self)}"
        if (kind, name) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:{self.partition}:s3:::{self.physical_id(logical_id)}"
        if (kind, name) == ("AWS::KMS::Key", "Arn"):
            return self.key_metadata(logical_id)["Arn"]
        raise ValueError(f"the emulator cannot resolve GetAtt {logical_id}.{name} ({kind})")

    def key_metadata(self, logical_id: str) -> dict[str, Any]:
        """A key has no name: find it through the alias the template points at it."""
        for alias in resources_of_type(self.template, "AWS::KMS::Alias").values():
            if alias["Properties"].get("TargetKeyId") == {"Ref": logical_id}:
                name = resolve(alias["Properties"]["AliasName"], self)
                return self.clients("kms").describe_key(KeyId=name)["KeyMetadata"]
        raise ValueError(f"no alias names key {logical_id}")

    def condition(self, name: str) -> bool:
        return bool(resolve(self.template.get("Conditions", {})[name], self))


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def _is_intrinsic(value: dict[str, Any]) -> bool:
    if len(value) != 1:
        return False
    (key, argument), = value.items()
    return key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(argument, str))


def resolve(value: Any, ctx: _Context) -> Any:
    """The concrete value of a template fragment in one account and region (the intrinsics our templates use);
    ``Ref AWS::NoValue`` removes the property, as in CloudFormation."""
    if isinstance(value, list):
        return [v for v in (resolve(item, ctx) for item in value) if v is not None]
    if not isinstance(value, dict):
        return value
    if not _is_intrinsic(value):
        return {k: v for k, v in ((k, resolve(v, ctx)) for k, v in value.items()) if v is not None}
    (function, argument), = value.items()
    if function == "Ref":
        return _ref(argument, ctx)
    if function == "Condition":
        return ctx.condition(argument)
    if function == "Fn::GetAtt":
        return ctx.attribute(*argument)
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        return _SUB_VARIABLE.sub(lambda m: _sub_variable(m.group(1), variables, ctx), text)
    if function == "Fn::If":
        return resolve(argument[1] if ctx.condition(argument[0]) else argument[2], ctx)
    if function == "Fn::Join":
        return argument[0].join(str(v) for v in resolve(argument[1], ctx))
    if function == "Fn::Equals":
        left, right = resolve(argument, ctx)
        return left == right
    if function in ("Fn::And", "Fn::Or"):
        results = [bool(resolve(a, ctx)) for a in argument]
        return all(results) if function == "Fn::And" else any(results)
    if function == "Fn::Not":
        return not resolve(argument[0], ctx)
    raise ValueError(f"the emulator cannot resolve {function}")


def _ref(name: str, ctx: _Context) -> Any:
    pseudo = {"AWS::AccountId": ctx.account, "AWS::Region": ctx.region, "AWS::Partition": ctx.partition,
              "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
    if name in pseudo:
        return pseudo[name]
    if name in ctx.parameters:
        return ctx.parameters[name]
    if name in ctx.template.get("Parameters", {}):
        return ctx.template["Parameters"][name].get("Default")
    return ctx.physical_id(name)


def _sub_variable(name: str, variables: dict[str, Any], ctx: _Context) -> str:
    if name in variables:
        return str(resolve(variables[name], ctx))
    if "." in name and not name.startswith("AWS::"):
        return str(ctx.attribute(*name.split(".", 1)))
    return str(_ref(name, ctx))


def _notification(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in the shape of S3's PutBucketNotificationConfiguration."""
    def one(entry: dict[str, Any], target_key: str, arn_key: str) -> dict[str, Any]:
        rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        return {arn_key: entry[target_key], "Events": [entry["Event"]],
                **({"Filter": {"Key": {"FilterRules": rules}}} if rules else {})}
    return {
        **({"QueueConfigurations": [one(e, "Queue", "QueueArn") for e in config["QueueConfigurations"]]}
           if "QueueConfigurations" in config else {}),
        **({"TopicConfigurations": [one(e, "Topic", "TopicArn") for e in config["TopicConfigurations"]]}
           if "TopicConfigurations" in config else {}),
        **({"LambdaFunctionConfigurations": [one(e, "Function", "LambdaFunctionArn")
                                             for e in config["LambdaConfigurations"]]}
           if "LambdaConfigurations" in config else {}),
    }


def _apply_bucket(ctx: _Context, props: dict[str, Any]) -> list[str]:
    s3, bucket, done = ctx.clients("s3"), resolve(props["BucketName"], ctx), []
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=resolve(props["VersioningConfiguration"], ctx))
        done.append(f"versioning of {bucket}")
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=resolve(props["PublicAccessBlockConfiguration"], ctx))
        done.append(f"public access block of {bucket}")
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=resolve(props["OwnershipControls"], ctx))
        done.append(f"ownership controls of {bucket}")
    if "NotificationConfiguration" in props:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=_notification(resolve(props["NotificationConfiguration"], ctx)))
        done.append(f"notifications of {bucket}")
    return done


def _apply_policy(ctx: _Context, kind: str, props: dict[str, Any]) -> list[str]:
    policy = json.dumps(resolve(props["PolicyDocument"], ctx))
    if kind == "AWS::S3::BucketPolicy":
        bucket = resolve(props["Bucket"], ctx)
        ctx.clients("s3").put_bucket_policy(Bucket=bucket, Policy=policy)
        return [f"policy of bucket {bucket}"]
    if kind == "AWS::SQS::QueuePolicy":
        queues = resolve(props["Queues"], ctx)
        for url in queues:
            ctx.clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        return [f"policy of queue {url.rsplit('/', 1)[-1]}" for url in queues]
    topics = resolve(props["Topics"], ctx)
    for arn in topics:
        ctx.clients("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=policy)
    return [f"policy of topic {arn.rsplit(':', 1)[-1]}" for arn in topics]


def _apply_secret(ctx: _Context, props: dict[str, Any]) -> list[str]:
    client, name = ctx.clients("secretsmanager"), resolve(props["Name"], ctx)
    replicas = [{k: v for k, v in r.items() if k in ("Region", "KmsKeyId")}
                for r in resolve(props.get("ReplicaRegions", []), ctx)]
    done = [f"secret {name}" + (f" (replicas in {', '.join(r['Region'] for r in replicas)})" if replicas else "")]
    try:
        client.describe_secret(SecretId=name)
        return done  # its value stays: a new one would break what was pseudonymized with it
    except client.exceptions.ResourceNotFoundException:
        pass
    generate = {k: v for k, v in resolve(props.get("GenerateSecretString", {}), ctx).items()
                if k in ("PasswordLength", "ExcludeCharacters", "ExcludeNumbers", "ExcludePunctuation",
                         "ExcludeUppercase", "ExcludeLowercase", "IncludeSpace", "RequireEachIncludedType")}
    value = client.get_random_password(**generate)["RandomPassword"]
    client.create_secret(Name=name, SecretString=value, Description=props.get("Description", ""),
                         **({"KmsKeyId": resolve(props["KmsKeyId"], ctx)} if "KmsKeyId" in props else {}),
                         **({"AddReplicaRegions": replicas} if replicas else {}))
    return done


def apply_skipped_resources(template: dict[str, Any], region: str, session: Any, endpoint_url: str | None = None,
                            parameters: dict[str, str] | None = None) -> list[str]:
    """After a deploy to the emulator: apply what moto's CloudFormation skipped; return what was applied.

    Gaps: bucket versioning, public access block, ownership controls and notifications (ignored), bucket,
    queue and topic policies and the secret (skipped), and the global table when no stack created it (a
    template deployed without ``patch_moto``). Idempotent: running it twice applies the same configuration again.
    """
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, region_name=region, endpoint_url=endpoint_url)
        return clients[service]

    identity = client("sts").get_caller_identity()
    ctx = _Context(template=template, account=identity["Account"], region=region,
                   partition=identity["Arn"].split(":")[1], parameters=dict(parameters or {}), clients=client)
    applied: list[str] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if "Condition" in resource and not ctx.condition(resource["Condition"]):
            continue
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            applied += _apply_bucket(ctx, props)
        elif kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            applied += _apply_policy(ctx, kind, props)
        elif kind == "AWS::SecretsManager::Secret":
            applied += _apply_secret(ctx, props)
        elif kind == GLOBAL_TABLE and props["TableName"] not in client("dynamodb").list_tables()["TableNames"]:
            applied.append(f"table {create_table_from_template(template, client('dynamodb'))} ({logical_id})")
    return applied


def main(argv: list[str] | None = None) -> None:
    """``python -m tap_templates.local.emulator [-H HOST] [-p PORT]``: moto's server with ``patch_moto`` applied."""
    from moto import server

    patch_moto()
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
