"""StackSets and their instances.

Gaps: an instance's parameter overrides replace the StackSet's parameters instead of overriding them;
``UpdateStackSet`` and ``UpdateStackInstances`` record the new template and parameters but never update the
instances' stacks (and ``UpdateStackSet`` with accounts wipes every override; an empty ``ParameterOverrides``
list, which on AWS sets every overridden parameter back to the StackSet's value, changes nothing); a stack that
fails to create raises out of ``CreateStackInstances`` instead of failing the operation with the instance's status
reason (and a stack that fails to delete raises out of ``DeleteStackInstances``); ``ListStackInstances`` returns a
made-up stack ID; ``UpdateStackSet`` without ``OperationId`` has none.

Four patches: instances merge overrides into the StackSet's parameters and report their real stack IDs
(``patch_instance_overrides``); updates reach the instances' stacks, and an override list given, even empty,
replaces the instances' overrides (``patch_instance_updates``); deletes and
``ListStackSetOperationResults`` report per instance (``patch_operation_results``). A failure belongs to the
operation, not the call, as on AWS: every operation records a result per instance, so one failed instance makes
it FAILED with that instance's ``StatusReason`` (a failed create is rolled back first).

Service-managed instances: one does not say which organizational unit it was deployed through
(``OrganizationalUnitId``), so a re-deploy could not tell the OU is covered, and its stack is invisible to
``DescribeStacks`` in its own account; ``patch_instance_overrides`` records the OU and registers the stack
there. ``UpdateStackInstances`` and ``DeleteStackInstances`` ignore ``DeploymentTargets`` (OUs, and accounts
intersected with them) and act on every instance of the region: ``patch_deployment_targets`` selects the
instances the targets name.
"""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass, field
from typing import Any

from tap_templates.local.patches.cloudformation import ROLLING_BACK
from tap_templates.local.patches.guard import Patch

INSTANCE_OVERRIDES = Patch("stacksets: instances merge overrides")
INSTANCE_UPDATES = Patch("stacksets: updates reach the instances' stacks")
OPERATION_RESULTS = Patch("stacksets: failed instances fail the operation")
DEPLOYMENT_TARGETS = Patch("stacksets: deployment targets pick the instances")

INIT_PARAMETERS = ("self", "account_id", "region_name", "stackset_id", "stack_name", "name", "template",
                   "parameters", "permission_model")
CREATE_PARAMETERS = ("self", "accounts", "regions", "deployment_targets", "parameters")
UPDATE_PARAMETERS = ("self", "template", "description", "parameters", "tags", "admin_role", "execution_role",
                     "accounts", "regions", "operation_id")

Result = tuple[str, str, str | None]  # account, region, the failure's reason (None: succeeded)

# What the replacements call of moto: the originals they wrap and the classes they use, set by the patches.
_moto: dict[str, Any] = {}


@dataclass
class _Operation:
    """The StackSet whose operation is running and what happened to each instance it touched."""

    stack_set: Any
    results: list[Result] = field(default_factory=list)


_running: contextvars.ContextVar[_Operation | None] = contextvars.ContextVar("stack_set_operation", default=None)
# Whether the UpdateStackInstances call being answered named ParameterOverrides at all (moto passes [] either way).
_overrides_given: contextvars.ContextVar[bool] = contextvars.ContextVar("overrides_given", default=False)


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
    """As CloudFormation does after a failed create: delete what the failed stack had created, the resources kept
    by ``RetainExceptOnCreate`` included; what cannot be deleted (a protected table) stays, as after AWS's
    ROLLBACK_FAILED."""
    backend = _moto["cloudformation_backends"][account][region]
    for stack in list(backend.stacks.values()):
        if stack.name == _instance_stack_name(stack_set_name):
            token = ROLLING_BACK.set(True)
            try:
                backend.delete_stack(stack.stack_id)
            except Exception:  # best effort, like a rollback that leaves resources behind
                backend.stacks.pop(stack.stack_id, None)
            finally:
                ROLLING_BACK.reset(token)


def _finish(operation: dict[str, Any], results: list[Result]) -> dict[str, Any]:
    operation["Results"] = results
    operation["Instances"] = [{account: region} for account, region, _ in results]
    failed = [reason for _, _, reason in results if reason]
    operation["Status"] = "FAILED" if failed else "SUCCEEDED"
    if failed:
        operation["StatusReason"] = failed[0]
    return operation


def _targets(stack_set: Any, accounts: list[str], regions: list[str]) -> list[Any]:
    return [i for i in stack_set.instances.stack_instances
            if (not accounts or i.account_id in accounts) and (not regions or i.region_name in regions)]


# --- instances merge overrides -----------------------------------------------------------------------------


def _instance_init(self: Any, account_id: str, region_name: str, stackset_id: str, stack_name: str, name: str,
                   template: str, parameters: Any, permission_model: str) -> None:
    """Create the instance's stack with the StackSet's parameters and the overrides on top; a stack that fails
    to create fails the instance (its status reason), not the call."""
    running = _running.get()
    overrides = parameters if isinstance(parameters, list) else []
    merged = {**_as_dict(running.stack_set.parameters), **_as_dict(overrides)} if running else parameters
    self.status_reason = None
    try:
        _moto["StackInstance.__init__"](self, account_id, region_name, stackset_id, stack_name, name, template,
                                        merged, permission_model)
    except Exception as exc:  # the failure is reported on the operation, as on AWS
        self.stack = None
        self.status_reason = _reason(exc)
        if permission_model == "SELF_MANAGED":
            _roll_back(account_id, region_name, name)
    self.parameters = overrides
    if self.stack is not None and permission_model == "SERVICE_MANAGED":  # AWS shows it in the member account
        _moto["cloudformation_backends"][account_id][region_name].stacks[self.stack.stack_id] = self.stack
    if running:
        running.results.append((account_id, region_name, self.status_reason))


def _create_stack_instances(self: Any, accounts: list[str], regions: list[str],
                            deployment_targets: dict[str, Any] | None, parameters: list[dict[str, Any]]) -> str:
    running = _Operation(self)
    token = _running.set(running)
    try:
        operation_id = _moto["StackSet.create_stack_instances"](self, accounts, regions, deployment_targets,
                                                                parameters)
    finally:
        _running.reset(token)
    _finish(self.get_operation(operation_id), running.results)
    _remember_organizational_units(self, (deployment_targets or {}).get("OrganizationalUnitIds", []))
    return operation_id


def _remember_organizational_units(stack_set: Any, requested: list[str]) -> None:
    """Each service-managed instance's OU: the requested OU that holds its account (or a parent of it)."""
    if not requested:
        return
    backend = stack_set.instances.org_backend
    parents = {ou.id: ou.parent_id for ou in backend.ou}
    accounts = {a.id: a.parent_id for a in backend.accounts}
    for instance in stack_set.instances.stack_instances:
        parent = accounts.get(instance.account_id)
        while parent and parent not in requested:
            parent = parents.get(parent)
        if parent and getattr(instance, "organizational_unit", None) is None:
            instance.organizational_unit = parent


def _instance_summary(self: Any) -> dict[str, Any]:
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
    if getattr(self, "organizational_unit", None):
        summary["OrganizationalUnitId"] = self.organizational_unit
    if failed:
        summary["StatusReason"] = self.status_reason
    return summary


def patch_instance_overrides() -> None:
    patch = INSTANCE_OVERRIDES
    models = patch.module("moto.cloudformation.models")
    stack_set_cls, instance_cls = patch.require(models, "StackSet"), patch.require(models, "StackInstance")
    _moto["cloudformation_backends"] = patch.require(models, "cloudformation_backends")
    _moto["StackInstance.__init__"] = patch.require(instance_cls, "__init__", INIT_PARAMETERS)
    patch.require(instance_cls, "to_dict", ("self",))
    _moto["StackSet.create_stack_instances"] = patch.require(stack_set_cls, "create_stack_instances",
                                                             CREATE_PARAMETERS)
    patch.require(stack_set_cls, "get_operation")
    patch.require(patch.require(models, "StackInstances"), "org_backend")
    instance_cls.__init__ = _instance_init
    instance_cls.to_dict = _instance_summary
    stack_set_cls.create_stack_instances = _create_stack_instances


# --- updates reach the instances' stacks -------------------------------------------------------------------


def _create_instance_stack(stack_set: Any, instance: Any, parameters: dict[str, str]) -> Any:
    if instance.permission_model == "SELF_MANAGED":
        backend = _moto["cloudformation_backends"][instance.account_id][instance.region_name]
        return backend.create_stack(name=_instance_stack_name(stack_set.name), template=stack_set.template,
                                    parameters=parameters)
    stack = _moto["Stack"](stack_id=str(uuid.uuid4()), name=stack_set.name, template=stack_set.template,
                           parameters=parameters, account_id=instance.account_id, region_name=instance.region_name)
    stack.create_resources()
    return stack


def _update_instance(stack_set: Any, instance: Any) -> Result:
    """Bring one instance's stack to the StackSet's template and its merged parameters."""
    parameters = {**_as_dict(stack_set.parameters), **_as_dict(instance.parameters)}
    instance.template = stack_set.template
    try:
        if instance.stack is None:
            instance.stack = _create_instance_stack(stack_set, instance, parameters)
        else:
            instance.stack.update(stack_set.template, parameters=parameters)
        instance.status_reason = None
    except Exception as exc:  # any failure of the emulated stack is the instance's failure
        instance.status_reason = _reason(exc)
        if instance.stack is None and instance.permission_model == "SELF_MANAGED":
            _roll_back(instance.account_id, instance.region_name, stack_set.name)
    return instance.account_id, instance.region_name, instance.status_reason


def _update(self: Any, template: str, description: str, parameters: dict[str, str], tags: dict[str, str],
            admin_role: str, execution_role: str, accounts: list[str], regions: list[str],
            operation_id: str | None) -> dict[str, Any]:
    """Record the update without moto's own instance update (which wipes the overrides), then update each
    targeted instance's stack."""
    operation = _moto["StackSet.update"](self, template, description, parameters, tags, admin_role,
                                         execution_role, [], [], operation_id or str(uuid.uuid4()))
    return _finish(operation, [_update_instance(self, i) for i in _targets(self, accounts, regions)])


def _update_instances(self: Any, accounts: list[str], regions: list[str],
                      parameters: list[dict[str, Any]]) -> dict[str, Any]:
    operation = self._create_operation(str(uuid.uuid4()), "UPDATE", "SUCCEEDED", accounts, regions)
    results = []
    for instance in _targets(self, accounts, regions):
        if parameters or _overrides_given.get():  # AWS: a given list replaces the overrides, except keys marked
            # UsePreviousValue (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html)
            previous = _as_dict(instance.parameters)
            kept = {p["ParameterKey"]: previous[p["ParameterKey"]] for p in parameters
                    if p.get("UsePreviousValue") in (True, "true") and p["ParameterKey"] in previous}
            instance.parameters = _as_list({**_as_dict(parameters), **kept})
        results.append(_update_instance(self, instance))
    return _finish(operation, results)


def _noting_overrides(original: Any) -> Any:
    def call(self: Any) -> Any:
        token = _overrides_given.set(self._get_param("ParameterOverrides") is not None)
        try:
            return original(self)
        finally:
            _overrides_given.reset(token)
    return call


def patch_instance_updates() -> None:
    patch = INSTANCE_UPDATES
    response_cls = patch.require(patch.module("moto.cloudformation.responses"), "CloudFormationResponse")
    response_cls.update_stack_instances = _noting_overrides(patch.require(response_cls, "update_stack_instances",
                                                                          ("self",)))
    models = patch.module("moto.cloudformation.models")
    stack_set_cls = patch.require(models, "StackSet")
    stack_cls = patch.require(models, "Stack")
    for name in ("create_resources", "update"):
        patch.require(stack_cls, name)
    backend_cls = patch.require(models, "CloudFormationBackend")
    for name in ("create_stack", "delete_stack"):
        patch.require(backend_cls, name)
    _moto["Stack"] = stack_cls
    _moto["cloudformation_backends"] = patch.require(models, "cloudformation_backends")
    _moto["StackSet.update"] = patch.require(stack_set_cls, "update", UPDATE_PARAMETERS)
    patch.require(stack_set_cls, "update_instances", ("self", "accounts", "regions", "parameters"))
    patch.require(stack_set_cls, "_create_operation")
    stack_set_cls.update = _update
    stack_set_cls.update_instances = _update_instances


# --- failed instances fail the operation -------------------------------------------------------------------


def _delete_stack_instances(self: Any, accounts: list[str], regions: list[str]) -> None:
    operation = self._create_operation(str(uuid.uuid4()), "DELETE", "SUCCEEDED", accounts, regions)
    results: list[Result] = []
    for instance in _targets(self, accounts, regions):
        try:
            if instance.stack is not None:
                _moto["StackInstance.delete"](instance)
            self.instances.stack_instances.remove(instance)
            results.append((instance.account_id, instance.region_name, None))
        except Exception as exc:  # a stack that cannot be deleted fails its instance, as on AWS
            instance.status_reason = _reason(exc)
            results.append((instance.account_id, instance.region_name, instance.status_reason))
    _finish(operation, results)


def _list_stack_set_operation_results(self: Any) -> Any:
    """The results recorded per instance (with each failure's reason), else moto's own answer."""
    operation = self.cloudformation_backend.list_stack_set_operation_results(
        self._get_param("StackSetName"), self._get_param("OperationId"))
    if "Results" not in operation:
        return _moto["CloudFormationResponse.list_stack_set_operation_results"](self)
    return _moto["ActionResult"]({"Summaries": [
        {"Account": account, "Region": region, "Status": "FAILED" if reason else "SUCCEEDED",
         **({"StatusReason": reason} if reason else {})}
        for account, region, reason in operation["Results"]
    ]})


def patch_operation_results() -> None:
    patch = OPERATION_RESULTS
    models, responses = patch.module("moto.cloudformation.models"), patch.module("moto.cloudformation.responses")
    stack_set_cls = patch.require(models, "StackSet")
    response_cls = patch.require(responses, "CloudFormationResponse")
    patch.require(stack_set_cls, "delete_stack_instances", ("self", "accounts", "regions"))
    patch.require(stack_set_cls, "_create_operation")
    patch.require(patch.require(models, "CloudFormationBackend"), "list_stack_set_operation_results")
    _moto["StackInstance.delete"] = patch.require(patch.require(models, "StackInstance"), "delete", ("self",))
    _moto["CloudFormationResponse.list_stack_set_operation_results"] = patch.require(
        response_cls, "list_stack_set_operation_results", ("self",))
    _moto["ActionResult"] = patch.require(patch.module("moto.core.responses"), "ActionResult")
    stack_set_cls.delete_stack_instances = _delete_stack_instances
    response_cls.list_stack_set_operation_results = _list_stack_set_operation_results


# --- deployment targets pick the instances --------------------------------------------------------------------


def _targeted_accounts(response: Any) -> list[str]:
    """The accounts ``Accounts`` or ``DeploymentTargets`` name among the StackSet's instances."""
    accounts = response._get_param("Accounts", []) or []
    targets = response._get_param("DeploymentTargets") or {}
    if accounts or not targets:
        return accounts
    stack_set = response.cloudformation_backend.describe_stack_set(response._get_param("StackSetName"))
    units = set(targets.get("OrganizationalUnitIds", []))
    found = [i.account_id for i in stack_set.instances.stack_instances
             if not units or getattr(i, "organizational_unit", None) in units]
    if targets.get("Accounts") and targets.get("AccountFilterType") == "INTERSECTION":
        found = [a for a in found if a in targets["Accounts"]]
    return sorted(set(found)) or ["none"]


def _with_targets(original: Any) -> Any:
    def call(self: Any) -> Any:
        accounts = _targeted_accounts(self)
        real = self._get_param

        def param(name: str, default: Any = None) -> Any:
            return accounts if name == "Accounts" else real(name, default)

        self._get_param = param
        try:
            return original(self)
        finally:
            self._get_param = real
    return call


def patch_deployment_targets() -> None:
    patch = DEPLOYMENT_TARGETS
    response_cls = patch.require(patch.module("moto.cloudformation.responses"), "CloudFormationResponse")
    patch.require(patch.require(patch.module("moto.cloudformation.models"), "CloudFormationBackend"),
                  "describe_stack_set")
    for name in ("update_stack_instances", "delete_stack_instances"):
        setattr(response_cls, name, _with_targets(patch.require(response_cls, name, ("self",))))
