"""Deploying the rendered templates as CloudFormation StackSets: plan, create or update, wait, summarize, destroy.

One StackSet per region template, administered from that region itself: a region's outage then never blocks
managing the others (a failover flips the secondary's ``ProcessingEnabled`` while the primary is down). Each
StackSet has one stack instance per target account, in its own region only. StackSets are deployed in the
manifest's order, secondaries first, and each waits for the one before: the primary replicates into the
secondaries' buckets and creates global-table replicas with their keys, which must exist already.

The code location (``CodeBucket``/``CodeKey``) is a StackSet parameter: every instance of a region reads the same
content-addressed zip from the deploying account's artifacts bucket there, so a new template and new code
reach each instance in one operation. Per-instance overrides are reserved for per-instance state, such as a
promoted secondary's ``ProcessingEnabled``: a deploy never passes overrides, which keeps them (AWS applies a
StackSet update on top of each instance's overrides), and ``set_overrides`` changes them explicitly.

Nothing here knows about the emulator: the same calls go to AWS or, with an endpoint URL, to moto.
"""

from __future__ import annotations

import difflib
import json
import re
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from tap_templates import artifacts, naming, regions
from tap_templates.config import PipelineConfig
from tap_templates.errors import ConfigError
from tap_templates.render import RenderedTemplate, Rendering, differences

# Parameters the deploy fills itself; any other required template parameter is a manifest error.
PROVIDED_PARAMETERS = ("CodeBucket", "CodeKey")
TEMPLATE_URL_MAX_BYTES = 1_000_000
ACCOUNT_ID = re.compile(r"^\d{12}$")
OU_ID = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
DONE = ("SUCCEEDED", "FAILED", "STOPPED")
FAILED_INSTANCE = ("FAILED", "CANCELLED")
STACK_DONE = re.compile(r"_(COMPLETE|FAILED)$")


class OperationFailed(Exception):
    """A StackSet operation ended without success; each line names an instance and why it failed."""

    def __init__(self, stack_set: str, action: str, status: str, failures: Sequence[str]) -> None:
        self.lines = [f"{stack_set}: {action} {status}", *(f"  {line}" for line in failures)]
        super().__init__("\n".join(self.lines))


@dataclass
class Aws:
    """One set of credentials, the account they belong to, and clients per service and region."""

    session: Any
    account: str
    partition: str
    endpoint_url: str | None = None
    clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self.clients:
            self.clients[service, region] = self.session.client(service, region_name=region,
                                                                  endpoint_url=self.endpoint_url)
        return self.clients[service, region]


def credentials_session(profile: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 session with credentials, checked without calling AWS: one ``ConfigError`` line otherwise
    (the operations tools share it and then ask STS in whichever region answers)."""
    if endpoint_url and not re.match(r"^https?://[^\s/]+", endpoint_url):
        raise ConfigError(f"--endpoint-url {endpoint_url!r} is not an http(s) URL, e.g. http://127.0.0.1:5000")
    try:
        session = boto3.Session(profile_name=profile)
    except ProfileNotFound:
        raise ConfigError(f"AWS profile {profile!r} not found in your AWS config") from None
    if session.get_credentials() is None:
        raise ConfigError("no AWS credentials found: set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY, or run on a machine with an instance role")
    return session


def connect(region: str, profile: str | None = None, endpoint_url: str | None = None) -> Aws:
    """Fail fast, in one line, when there are no usable credentials."""
    session = credentials_session(profile, endpoint_url)
    try:
        identity = session.client("sts", region_name=region, endpoint_url=endpoint_url).get_caller_identity()
    except ClientError as exc:
        raise ConfigError(f"AWS rejected the credentials: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"cannot reach AWS to check the credentials: {exc}") from None
    return Aws(session=session, account=identity["Account"], partition=identity["Arn"].split(":")[1],
               endpoint_url=endpoint_url)


@dataclass(frozen=True)
class Targets:
    """Where stack instances go: accounts (self-managed) or organizational units (service-managed)."""

    permission_model: str
    accounts: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()

    @property
    def service_managed(self) -> bool:
        return self.permission_model == "SERVICE_MANAGED"

    def instance_targets(self, accounts: Sequence[str] | None = None) -> dict[str, Any]:
        """The Accounts= or DeploymentTargets= arguments of the stack instance calls."""
        if self.service_managed:
            return {"DeploymentTargets": {"OrganizationalUnitIds": list(self.organizational_units)}}
        return {"Accounts": list(self.accounts if accounts is None else accounts)}


def check_account_id(value: str) -> str:
    if not ACCOUNT_ID.match(value):
        raise ConfigError(f"account ID {value!r} is not 12 digits")
    return value


def targets(cfg: PipelineConfig, caller_account: str, accounts: Sequence[str] = (),
            organizational_units: Sequence[str] = ()) -> Targets:
    """Command line first, then ``[stacksets]``; a self-managed deploy defaults to the caller's account."""
    model = cfg.stacksets.permission_model
    if model == "SERVICE_MANAGED":
        if accounts:
            raise ConfigError("--accounts applies to SELF_MANAGED StackSets; this environment is SERVICE_MANAGED "
                              "and targets organizational units (--organizational-units)")
        ous = tuple(dict.fromkeys(organizational_units or cfg.stacksets.organizational_units))
        if not ous:
            raise ConfigError("stacksets.permission_model is SERVICE_MANAGED but no organizational unit is given: "
                              "set stacksets.organizational_units or pass --organizational-units")
        for ou in ous:
            if not OU_ID.match(ou):
                raise ConfigError(f"organizational unit {ou!r} is not an OU or root ID (ou-xxxx-xxxxxxxx or r-xxxx)")
        return Targets(model, organizational_units=ous)
    if organizational_units:
        raise ConfigError("--organizational-units needs stacksets.permission_model = \"SERVICE_MANAGED\"")
    chosen = tuple(dict.fromkeys(accounts or cfg.stacksets.accounts or (caller_account,)))
    for account in chosen:
        check_account_id(account)
    return Targets(model, accounts=chosen)


def operation_preferences(cfg: PipelineConfig, region: str) -> dict[str, Any]:
    s = cfg.stacksets
    if s.max_concurrent_count > s.failure_tolerance_count + 1:
        raise ConfigError(f"stacksets.max_concurrent_count ({s.max_concurrent_count}) may be at most "
                          f"failure_tolerance_count + 1 ({s.failure_tolerance_count + 1}), as StackSets requires")
    return {"RegionConcurrencyType": s.region_concurrency, "RegionOrder": [region],
            "FailureToleranceCount": s.failure_tolerance_count, "MaxConcurrentCount": s.max_concurrent_count}


def administration_role_arn(cfg: PipelineConfig, aws: Aws) -> str:
    return f"arn:{aws.partition}:iam::{aws.account}:role/{naming.stackset_administration_role(cfg)}"


# --- the manifest and the artifacts --------------------------------------------------------------------


def check_manifest(cfg: PipelineConfig, rendering: Rendering, build_dir: Path | None = None) -> list[str]:
    """Refuse a manifest the deploy cannot honour; return notes worth printing (e.g. a stale build/)."""
    manifest = json.loads(rendering.manifest)
    bodies = {t.file: t.body for t in rendering.templates}
    if manifest["environment"] != cfg.environment:
        raise ConfigError(f"manifest is for environment {manifest['environment']!r}, not {cfg.environment!r}")
    if manifest["deploy_order"] != list(regions.deploy_order(cfg)):
        raise ConfigError(f"manifest deploy order {manifest['deploy_order']} differs from the config's "
                          f"{list(regions.deploy_order(cfg))}: re-render")
    for entry in manifest["templates"]:
        body = bodies.get(entry["file"])
        if body is None or artifacts.sha256_of(body) != entry["sha256"]:
            raise ConfigError(f"manifest entry {entry['file']} does not match the rendered template: re-render")
        unknown = sorted(set(entry["required_parameters"]) - set(PROVIDED_PARAMETERS))
        if unknown:
            raise ConfigError(f"{entry['file']} requires parameter(s) {', '.join(unknown)} that the deploy does "
                              f"not provide (it fills {', '.join(PROVIDED_PARAMETERS)}); give them defaults")
        if len(body) > TEMPLATE_URL_MAX_BYTES:
            raise ConfigError(f"{entry['file']} is {len(body)} bytes; CloudFormation accepts at most "
                              f"{TEMPLATE_URL_MAX_BYTES} by URL")
    notes = []
    if build_dir is not None and differences(rendering, build_dir):
        notes.append(f"note: {build_dir / cfg.environment} differs from what the code and config render; deploying "
                     f"the fresh rendering (run python scripts/render.py --all and commit build/)")
    return notes


def manifest_entries(rendering: Rendering) -> list[dict[str, Any]]:
    """The manifest's templates in deploy order."""
    return sorted(json.loads(rendering.manifest)["templates"], key=lambda e: e["deploy_order"])


def load_code_zip(path: Path | None, work_dir: Path) -> tuple[Path, str]:
    """The handler zip to deploy: ``path`` as given, or built now by ``tap_templates.packaging``."""
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"--code-zip {path} does not exist")
        if not zipfile.is_zipfile(path):
            raise ConfigError(f"--code-zip {path} is not a zip file")
        return path, artifacts.sha256_of(path.read_bytes())
    try:
        from tap_templates import packaging  # built by scripts/package.py's library; optional here
    except ImportError as exc:
        raise ConfigError(f"cannot build the handler zip ({exc}): pass --code-zip PATH "
                          "(e.g. the output of python scripts/package.py)") from None
    zip_path, sha256 = packaging.build_zip(work_dir)
    return Path(zip_path), sha256


@dataclass(frozen=True)
class RegionArtifacts:
    """Where one region's code and template live once uploaded."""

    region: str
    bucket: str
    code_key: str
    template_key: str
    template_url: str


def region_artifacts(cfg: PipelineConfig, aws: Aws, template: RenderedTemplate, code_sha256: str) -> RegionArtifacts:
    bucket = artifacts.bucket_name(cfg, template.region, aws.account, aws.partition)
    template_key = naming.template_object_key(template.sha256)
    return RegionArtifacts(region=template.region, bucket=bucket, code_key=naming.code_object_key(code_sha256),
                           template_key=template_key,
                           template_url=artifacts.object_url(bucket, template.region, template_key, aws.partition))


def readers(aws: Aws, chosen: Targets) -> artifacts.Readers:
    """Who may read the code besides this account. Organizations' API lives in us-east-1."""
    if chosen.service_managed:
        org = aws.client("organizations", "us-east-1").describe_organization()["Organization"]["Id"]
        return artifacts.Readers(organization_id=org, organizational_units=chosen.organizational_units)
    return artifacts.Readers(accounts=tuple(a for a in chosen.accounts if a != aws.account))


def upload_artifacts(aws: Aws, where: RegionArtifacts, template: RenderedTemplate, code: bytes,
                     who: artifacts.Readers) -> list[str]:
    """Ensure the region's bucket and put the zip and template there; return what happened, for the log."""
    s3 = aws.client("s3", where.region)
    created = artifacts.ensure_bucket(s3, where.bucket, where.region, aws.partition, who)
    code_new = artifacts.upload(s3, where.bucket, where.code_key, code, "application/zip")
    template_new = artifacts.upload(s3, where.bucket, where.template_key, template.body, "application/json")
    return [f"bucket {where.bucket} {'created' if created else 'ready'}",
            f"{where.code_key} {'uploaded' if code_new else 'already there'}",
            f"{where.template_key} {'uploaded' if template_new else 'already there'}"]


# --- reading what is deployed and planning ---------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    account: str
    region: str
    status: str
    detailed_status: str
    reason: str
    overrides: dict[str, str]
    stack_id: str | None
    organizational_unit: str | None = None

    @property
    def current(self) -> bool:
        return self.status == "CURRENT"


@dataclass(frozen=True)
class Deployed:
    template_body: str
    parameters: dict[str, str]
    administration_role_arn: str | None
    execution_role_name: str | None
    instances: tuple[Instance, ...]


def _parameters(items: Sequence[dict[str, Any]]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in items or [] if "ParameterValue" in p}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def read_instances(aws: Aws, stack_set: str, region: str) -> tuple[Instance, ...]:
    """Every instance with its overrides (only DescribeStackInstance returns those)."""
    cf = aws.client("cloudformation", region)
    found = []
    for page in cf.get_paginator("list_stack_instances").paginate(StackSetName=stack_set):
        for summary in page["Summaries"]:
            detail = cf.describe_stack_instance(StackSetName=stack_set, StackInstanceAccount=summary["Account"],
                                                StackInstanceRegion=summary["Region"])["StackInstance"]
            found.append(Instance(
                account=summary["Account"], region=summary["Region"], status=detail.get("Status", "UNKNOWN"),
                detailed_status=detail.get("StackInstanceStatus", {}).get("DetailedStatus", ""),
                reason=detail.get("StatusReason", ""), overrides=_parameters(detail.get("ParameterOverrides", [])),
                stack_id=detail.get("StackId"), organizational_unit=detail.get("OrganizationalUnitId")))
    return tuple(found)


def read_deployed(aws: Aws, stack_set: str, region: str) -> Deployed | None:
    try:
        found = aws.client("cloudformation", region).describe_stack_set(StackSetName=stack_set)["StackSet"]
    except ClientError as exc:
        if _code(exc) in ("StackSetNotFoundException", "StackSetNotFound"):
            return None
        raise
    if found.get("Status") == "DELETED":
        return None
    return Deployed(template_body=found.get("TemplateBody", ""), parameters=_parameters(found.get("Parameters", [])),
                    administration_role_arn=found.get("AdministrationRoleARN"),
                    execution_role_name=found.get("ExecutionRoleName"),
                    instances=read_instances(aws, stack_set, region))


@dataclass(frozen=True)
class StackSetPlan:
    """What one StackSet needs: created, updated (and why), new instances, instances to retry."""

    name: str
    region: str
    role: str
    template: RenderedTemplate
    where: RegionArtifacts
    parameters: dict[str, str]
    targets: Targets
    deployed: Deployed | None
    changes: tuple[str, ...]
    new_accounts: tuple[str, ...] = ()
    new_organizational_units: tuple[str, ...] = ()
    retry_accounts: tuple[str, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return not (self.changes or self.new_accounts or self.new_organizational_units or self.retry_accounts)

    def describe(self) -> list[str]:
        """One line per intended action, in the order they run."""
        if self.up_to_date:
            return [f"{self.name} ({self.region}): up to date, {len(self.deployed.instances)} instance(s) current"]
        lines = []
        if self.deployed is None:
            lines.append(f"{self.name} ({self.region}): create StackSet")
        elif self.changes:
            lines.append(f"{self.name} ({self.region}): update StackSet and its "
                         f"{len(self.deployed.instances)} instance(s): {', '.join(self.changes)}")
        if self.new_accounts:
            lines.append(f"{self.name} ({self.region}): create instance(s) in {', '.join(self.new_accounts)}")
        if self.new_organizational_units:
            lines.append(f"{self.name} ({self.region}): create instances in OU(s) "
                         f"{', '.join(self.new_organizational_units)}")
        if self.retry_accounts and not self.changes:
            lines.append(f"{self.name} ({self.region}): retry instance(s) not current in "
                         f"{', '.join(self.retry_accounts)}")
        untargeted = [i.account for i in self.deployed.instances if i.account not in self.targets.accounts] \
            if self.deployed and not self.targets.service_managed else []
        if untargeted and self.changes:
            lines.append(f"{self.name} ({self.region}): the update also reaches the instance(s) of "
                         f"{', '.join(untargeted)}, not targeted now (destroy removes them)")
        for instance in self.deployed.instances if self.deployed else ():
            if instance.overrides:
                kept = ", ".join(f"{k}={v}" for k, v in sorted(instance.overrides.items()))
                lines.append(f"{self.name} ({self.region}): keeps the overrides of {instance.account}: {kept}")
        return lines

    def template_diff(self) -> str:
        """Unified diff of the deployed template against the one to deploy (both normalized JSON); a new
        StackSet's whole template would only bury the plan, so it is summarized."""
        if self.deployed is None:
            return (f"new StackSet {self.name}: all of {self.template.file} ({len(self.template.body)} bytes, "
                    f"sha256 {self.template.sha256[:12]})\n")
        new = self.template.body.decode().splitlines(keepends=True)
        old = _normalized(self.deployed.template_body).splitlines(keepends=True)
        return "".join(difflib.unified_diff(old, new, f"deployed/{self.name}", f"rendered/{self.template.file}"))

    def parameter_diff(self) -> list[str]:
        old = self.deployed.parameters if self.deployed else {}
        return [f"  {key}: {old.get(key, '(none)')} -> {self.parameters.get(key, '(none)')}"
                for key in sorted(set(old) | set(self.parameters)) if old.get(key) != self.parameters.get(key)]


def _normalized(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    except ValueError:
        return body


def desired_parameters(entry: dict[str, Any], where: RegionArtifacts) -> dict[str, str]:
    """Every template parameter with a value at StackSet level: instances can only override those."""
    provided = {"CodeBucket": where.bucket, "CodeKey": where.code_key}
    return {name: provided[name] if name in provided else str(spec.get("Default", ""))
            for name, spec in entry["parameters"].items()}


def changes(cfg: PipelineConfig, aws: Aws, template: RenderedTemplate, parameters: dict[str, str],
            deployed: Deployed | None, chosen: Targets) -> tuple[str, ...]:
    if deployed is None:
        return ("new",)
    found = []
    body = deployed.template_body
    if artifacts.sha256_of(body.encode()) != template.sha256 and _normalized(body) != template.body.decode():
        found.append("template")
    found += [f"parameter {k}" for k in sorted(set(parameters) | set(deployed.parameters))
              if parameters.get(k) != deployed.parameters.get(k)]
    if not chosen.service_managed and (
            deployed.administration_role_arn != administration_role_arn(cfg, aws)
            or deployed.execution_role_name != naming.stackset_execution_role(cfg)):
        found.append("StackSet roles")
    return tuple(found)


def plan(cfg: PipelineConfig, aws: Aws, rendering: Rendering, code_sha256: str, chosen: Targets) -> list[StackSetPlan]:
    """Read-only: compare each region's StackSet with what this deploy would make of it."""
    by_file = {t.file: t for t in rendering.templates}
    plans = []
    for entry in manifest_entries(rendering):
        template = by_file[entry["file"]]
        where = region_artifacts(cfg, aws, template, code_sha256)
        parameters = desired_parameters(entry, where)
        deployed = read_deployed(aws, entry["stack_set_name"], entry["region"])
        instances = deployed.instances if deployed else ()
        have = {i.account for i in instances}
        plans.append(StackSetPlan(
            name=entry["stack_set_name"], region=entry["region"], role=entry["role"], template=template, where=where,
            parameters=parameters, targets=chosen, deployed=deployed,
            changes=changes(cfg, aws, template, parameters, deployed, chosen),
            new_accounts=tuple(a for a in chosen.accounts if a not in have),
            new_organizational_units=tuple(ou for ou in chosen.organizational_units
                                           if ou not in {i.organizational_unit for i in instances}),
            retry_accounts=tuple(i.account for i in instances if not i.current),
        ))
    return plans


def check_roles(cfg: PipelineConfig, aws: Aws, chosen: Targets) -> None:
    """Self-managed StackSets fail late and obscurely without their roles; say so up front instead."""
    if chosen.service_managed:
        return
    iam = aws.client("iam", cfg.primary_region)
    wanted = [naming.stackset_administration_role(cfg)]
    if aws.account in chosen.accounts:
        wanted.append(naming.stackset_execution_role(cfg))
    for role in wanted:
        try:
            iam.get_role(RoleName=role)
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            raise ConfigError(
                f"StackSet role {role} not found in account {aws.account}: deploy build/{cfg.environment}/"
                f"stackset-roles.json first (python scripts/deploy.py roles --env {cfg.environment})") from None


# --- applying and waiting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    stack_set: str
    action: str
    status: str
    elapsed: float

    @property
    def done(self) -> bool:
        return self.status in DONE


ProgressCallback = Callable[[Progress], None]


def _capabilities(template: RenderedTemplate) -> list[str]:
    """CAPABILITY_IAM for unnamed IAM resources, CAPABILITY_NAMED_IAM once any IAM resource has a name."""
    resources = json.loads(template.body).get("Resources", {}).values()
    named = any(r["Type"].startswith("AWS::IAM::") and "RoleName" in r.get("Properties", {}) for r in resources)
    return ["CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM"]


def wait(aws: Aws, stack_set: str, region: str, operation_id: str, action: str, on_progress: ProgressCallback,
         poll_seconds: float = 5.0, timeout_seconds: float = 7200.0) -> None:
    """Poll the operation until it ends; raise ``OperationFailed`` with each failed instance's reason."""
    cf = aws.client("cloudformation", region)
    started = time.monotonic()
    while True:
        operation = cf.describe_stack_set_operation(StackSetName=stack_set, OperationId=operation_id)
        status = operation["StackSetOperation"]["Status"]
        on_progress(Progress(stack_set, action, status, time.monotonic() - started))
        if status in DONE:
            break
        if time.monotonic() - started > timeout_seconds:
            raise OperationFailed(stack_set, action, f"still {status} after {timeout_seconds:.0f} s",
                                  [f"operation {operation_id} continues in AWS; check the CloudFormation console"])
        time.sleep(poll_seconds)
    if status == "SUCCEEDED":
        return
    failures = []
    for page in cf.get_paginator("list_stack_set_operation_results").paginate(StackSetName=stack_set,
                                                                              OperationId=operation_id):
        for result in page["Summaries"]:
            if result["Status"] in FAILED_INSTANCE:
                failures.append(f"{result['Account']} {result['Region']} {result['Status']}: "
                                f"{result.get('StatusReason', 'no reason given')}")
    reason = operation["StackSetOperation"].get("StatusReason")
    raise OperationFailed(stack_set, action, status, failures or [reason or "no instance reported a reason"])


def _stack_set_arguments(cfg: PipelineConfig, aws: Aws, p: StackSetPlan) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "TemplateURL": p.where.template_url, "Capabilities": _capabilities(p.template),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(p.parameters.items())],
    }
    if not p.targets.service_managed:
        arguments |= {"AdministrationRoleARN": administration_role_arn(cfg, aws),
                      "ExecutionRoleName": naming.stackset_execution_role(cfg)}
    return arguments


def apply(cfg: PipelineConfig, aws: Aws, p: StackSetPlan, on_progress: ProgressCallback,
          poll_seconds: float = 5.0) -> list[str]:
    """Create or update the StackSet, then its missing instances; wait for each operation. Returns the actions
    that ran, each also reported to ``on_progress`` as it ends."""
    cf = aws.client("cloudformation", p.region)
    preferences = operation_preferences(cfg, p.region)
    done = []

    def run(action: str, call: Callable[..., dict[str, Any]], **arguments: Any) -> None:
        token = str(uuid.uuid4())  # idempotency token: a retried call cannot start a second operation
        operation_id = call(StackSetName=p.name, OperationId=token, OperationPreferences=preferences,
                            **arguments)["OperationId"]
        wait(aws, p.name, p.region, operation_id, action, on_progress, poll_seconds)
        done.append(action)

    if p.deployed is None:
        extra = ({"PermissionModel": "SERVICE_MANAGED",
                  "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": True}}
                 if p.targets.service_managed else {"PermissionModel": "SELF_MANAGED"})
        cf.create_stack_set(StackSetName=p.name,
                            Description=f"tap-pipeline {cfg.environment}: {p.role} region {p.region}",
                            **_stack_set_arguments(cfg, aws, p), **extra)
        on_progress(Progress(p.name, "create StackSet", "SUCCEEDED", 0.0))
        done.append("create StackSet")
    elif p.changes:
        run("update", cf.update_stack_set, **_stack_set_arguments(cfg, aws, p))
    if p.new_accounts or p.new_organizational_units:
        run("create instances", cf.create_stack_instances, Regions=[p.region],
            **p.targets.instance_targets(p.new_accounts))
    if p.retry_accounts and not p.changes:
        # No ParameterOverrides: AWS keeps every instance's overrides as they are.
        run("retry instances", cf.update_stack_instances, Regions=[p.region], Accounts=list(p.retry_accounts))
    return done


def set_overrides(cfg: PipelineConfig, aws: Aws, region: str, accounts: Sequence[str], overrides: dict[str, str],
                  on_progress: ProgressCallback, poll_seconds: float = 5.0) -> None:
    """Change some parameters of some instances and keep their other overrides (the failover tool's entry).

    ``UpdateStackInstances`` replaces an instance's whole override list, so each account's current overrides
    are read first and sent back merged; accounts whose merged lists differ get separate operations."""
    stack_set = naming.stack_set(cfg, region)
    current = {i.account: i.overrides for i in read_instances(aws, stack_set, region)}
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for account in accounts:
        if account not in current:
            raise ConfigError(f"{stack_set} has no instance in account {account}")
        merged = tuple(sorted({**current[account], **overrides}.items()))
        groups.setdefault(merged, []).append(account)
    cf = aws.client("cloudformation", region)
    for merged, group in groups.items():
        operation_id = cf.update_stack_instances(
            StackSetName=stack_set, Regions=[region], Accounts=group, OperationId=str(uuid.uuid4()),
            OperationPreferences=operation_preferences(cfg, region),
            ParameterOverrides=[{"ParameterKey": k, "ParameterValue": v} for k, v in merged])["OperationId"]
        wait(aws, stack_set, region, operation_id, "update overrides", on_progress, poll_seconds)


# --- summary ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    stack_set: str
    region: str
    account: str
    status: str
    detailed_status: str
    reason: str
    outputs: dict[str, str]


def summary(cfg: PipelineConfig, aws: Aws) -> list[SummaryRow]:
    """Every StackSet instance with its status and, where the stack is in this account, its outputs."""
    rows = []
    for region in regions.deploy_order(cfg):
        name = naming.stack_set(cfg, region)
        deployed = read_deployed(aws, name, region)
        for instance in deployed.instances if deployed else ():
            outputs: dict[str, str] = {}
            if instance.account == aws.account and instance.stack_id:
                try:
                    stack = aws.client("cloudformation", instance.region).describe_stacks(
                        StackName=instance.stack_id)["Stacks"][0]
                    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
                except ClientError:
                    outputs = {}
            rows.append(SummaryRow(name, instance.region, instance.account, instance.status,
                                   instance.detailed_status, instance.reason, outputs))
    return rows


# --- the roles template and destroy ------------------------------------------------------------------------


def deploy_roles(cfg: PipelineConfig, aws: Aws, rendering: Rendering, administrator_account: str = "",
                 poll_seconds: float = 2.0, timeout_seconds: float = 1800.0) -> str:
    """Create or update the roles stack in this account (IAM is global; the stack lives in the primary region).
    Returns the stack's final status, or "up to date"."""
    if administrator_account:
        check_account_id(administrator_account)
    cf = aws.client("cloudformation", cfg.primary_region)
    name = naming.stackset_roles_stack(cfg)
    arguments = {"StackName": name, "TemplateBody": rendering.roles.decode(), "Capabilities": ["CAPABILITY_NAMED_IAM"],
                 "Parameters": [{"ParameterKey": "AdministratorAccountId", "ParameterValue": administrator_account}],
                 "Tags": [{"Key": k, "Value": v} for k, v in sorted(cfg.tags.items())]}
    try:
        existing = cf.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" not in str(exc):
            raise
        existing = None
    if existing is None or existing["StackStatus"] == "DELETE_COMPLETE":
        cf.create_stack(**arguments)
    else:
        body = cf.get_template(StackName=name)["TemplateBody"]
        body = body if isinstance(body, str) else json.dumps(body)
        same_params = _parameters(existing.get("Parameters", [])).get("AdministratorAccountId", "") \
            == administrator_account
        if _normalized(body) == rendering.roles.decode() and same_params:
            return "up to date"
        cf.update_stack(**arguments)
    started = time.monotonic()
    while True:
        status = cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if STACK_DONE.search(status):
            break
        if time.monotonic() - started > timeout_seconds:
            break
        time.sleep(poll_seconds)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise OperationFailed(name, "deploy roles", status, ["see the stack's events in the CloudFormation console"])
    return status


@dataclass(frozen=True)
class Retained:
    """A resource that survives destroy (DeletionPolicy Retain), and the ID to find it by afterwards."""

    region: str
    account: str
    resource_type: str
    name: str


def retained_resources(aws: Aws, deployed: Deployed, region: str) -> list[Retained]:
    """Read before deleting: the template says what is retained, the instance's stack says its physical ID
    (a retained key loses its alias with the stack, so the alias cannot find it afterwards)."""
    template = json.loads(deployed.template_body).get("Resources", {})
    kept = {k: r["Type"] for k, r in template.items() if r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")}
    found = []
    for instance in deployed.instances:
        physical: dict[str, str] = {}
        if instance.account == aws.account and instance.stack_id:
            cf = aws.client("cloudformation", region)
            for page in cf.get_paginator("list_stack_resources").paginate(StackName=instance.stack_id):
                physical |= {r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
                             for r in page["StackResourceSummaries"]}
        found += [Retained(region, instance.account, kind, physical.get(logical) or logical)
                  for logical, kind in sorted(kept.items(), key=lambda item: (item[1], item[0]))]
    return found


def destroy(cfg: PipelineConfig, aws: Aws, on_progress: ProgressCallback,
            poll_seconds: float = 5.0) -> tuple[list[str], list[Retained]]:
    """Delete every instance, then each StackSet, primary first (the reverse of the deploy order: the primary
    replicates into the secondaries). Returns what was removed and what stays behind (DeletionPolicy Retain)."""
    removed, kept = [], []
    for region in reversed(regions.deploy_order(cfg)):
        name = naming.stack_set(cfg, region)
        deployed = read_deployed(aws, name, region)
        if deployed is None:
            removed.append(f"{name}: not deployed")
            continue
        kept += retained_resources(aws, deployed, region)
        cf = aws.client("cloudformation", region)
        if deployed.instances:
            targets_found = ({"DeploymentTargets": {"OrganizationalUnitIds": sorted(
                {i.organizational_unit for i in deployed.instances if i.organizational_unit})}}
                if any(i.organizational_unit for i in deployed.instances)
                else {"Accounts": sorted({i.account for i in deployed.instances})})
            operation_id = cf.delete_stack_instances(
                StackSetName=name, Regions=[region], RetainStacks=False, OperationId=str(uuid.uuid4()),
                OperationPreferences=operation_preferences(cfg, region), **targets_found)["OperationId"]
            wait(aws, name, region, operation_id, "delete instances", on_progress, poll_seconds)
        cf.delete_stack_set(StackSetName=name)
        removed.append(f"{name}: deleted {len(deployed.instances)} instance(s) and the StackSet")
    return removed, kept


def stack_set_names(cfg: PipelineConfig) -> list[str]:
    return [naming.stack_set(cfg, r) for r in regions.deploy_order(cfg)]

