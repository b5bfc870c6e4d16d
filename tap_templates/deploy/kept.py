"""What an earlier destroy kept, found again before a deploy, and deleted on purpose by ``deploy purge``.

``destroy`` removes every stack instance and StackSet but keeps what holds data (``DeletionPolicy`` Retain or
RetainExceptOnCreate): the ingestion, access-log and audit buckets, the global table, the pseudonymization
secret and the KMS keys that encrypt them. The buckets, the table and the secret keep their fixed names, so a
deploy that creates the stacks again would fail deep inside a StackSet operation (``BucketAlreadyExists``).
The deploy therefore looks for them first (``blocking``) and refuses in one line naming each one and the
command that frees the names; ``purge`` deletes them, their data with them, after a typed confirmation.

Why the deploy does not take them over instead: CloudFormation adopts an existing resource only by a resource
import into a stack, an ``IMPORT`` change set that may contain nothing but the imported resources
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html); automatic import at
stack creation needs names written literally in the template, and ours contain the account ID through
``Fn::Sub`` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources-automatically.html).
StackSets cannot import resources at all, only whole stacks (``ImportStacksToStackSet``,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-import.html). Taking the data back
means: an import stack per region holding only the retained resources, then updating it to the full template,
then importing it into a new StackSet; the README's "Coming back after destroy" describes that by hand. The
emulator supports neither ``IMPORT`` change sets nor ``ImportStacksToStackSet``, so none of it could be tested.

What is kept is read from the rendered templates (the resources with a Retain policy and their names), so a
new retained resource is covered without a change here; KMS keys have no name and are found by the
description the template gives them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tap_templates import naming, regions
from tap_templates.config import PipelineConfig
from tap_templates.deploy.artifacts import bucket_name
from tap_templates.deploy.aws import Aws, error_code
from tap_templates.deploy.plan import StackSetPlan, read_deployed
from tap_templates.errors import ConfigError
from tap_templates.render import Rendering

BUCKET = "AWS::S3::Bucket"
TABLE = "AWS::DynamoDB::GlobalTable"
SECRET = "AWS::SecretsManager::Secret"
KEY = "AWS::KMS::Key"
RETAINED = ("Retain", "RetainExceptOnCreate")
LABELS = {BUCKET: "S3 bucket", TABLE: "DynamoDB table", SECRET: "secret", KEY: "KMS key"}
# Deletion order: the secret and the table before the buckets; access logs after the buckets they log; keys last,
# once nothing they encrypt is left.
ORDER = {SECRET: 0, TABLE: 1, BUCKET: 2, KEY: 4}
KEY_PENDING_DAYS = 7  # the shortest waiting period KMS allows
GONE = ("404", "NoSuchBucket", "NotFound", "ResourceNotFoundException")


@dataclass(frozen=True)
class Kept:
    """One retained resource that exists, in this account and region."""

    region: str
    kind: str
    name: str  # bucket, table or secret name; a key's ID
    detail: str = ""
    foreign: bool = False  # the name is taken, but these credentials cannot read it (another account's)

    @property
    def holds_name(self) -> bool:
        """Keys have no name; everything else blocks a deploy that creates it again."""
        return self.kind != KEY

    def describe(self) -> str:
        detail = f", {self.detail}" if self.detail else ""
        return f"{LABELS.get(self.kind, self.kind)} {self.name} ({self.region}{detail})"


@dataclass(frozen=True)
class Wanted:
    """A retained resource a template declares: where, what, and the name (or a key's description)."""

    region: str
    kind: str
    name: str
    access_log: bool = False


def _literal(value: Any, account: str, partition: str) -> str | None:
    """A name as CloudFormation resolves it for this account: a string, or a ``Fn::Sub`` of pseudo parameters."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        return naming.resolve(value["Fn::Sub"], account, partition)
    return None


def wanted(template: dict[str, Any], region: str, account: str, partition: str = "aws") -> list[Wanted]:
    """The retained resources of one region's template, with their concrete names."""
    found = []
    for resource in template.get("Resources", {}).values():
        if resource.get("DeletionPolicy") not in RETAINED:
            continue
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == BUCKET and (name := _literal(props.get("BucketName"), account, partition)):
            found.append(Wanted(region, kind, name, access_log="-access-logs-" in name))
        elif kind == TABLE and (name := _literal(props.get("TableName"), account, partition)):
            found += [Wanted(r.get("Region", region), kind, name) for r in props.get("Replicas", [])]
        elif kind == SECRET and (name := _literal(props.get("Name"), account, partition)):
            found += [Wanted(r, kind, name) for r in [region, *(x["Region"] for x in props.get("ReplicaRegions", []))]]
        elif kind == KEY and (description := _literal(props.get("Description"), account, partition)):
            found.append(Wanted(region, kind, description))
    return found


def _exists(aws: Aws, w: Wanted) -> list[Kept]:
    """The resource as it is now (none, one, or for keys every key with the description)."""
    try:
        if w.kind == BUCKET:
            try:
                aws.client("s3", w.region).head_bucket(Bucket=w.name)
            except ClientError as exc:
                if error_code(exc) in ("403", "AccessDenied", "Forbidden"):
                    return [Kept(w.region, w.kind, w.name, "taken, not readable with these credentials", True)]
                raise
            return [Kept(w.region, w.kind, w.name)]
        if w.kind == TABLE:
            table = aws.client("dynamodb", w.region).describe_table(TableName=w.name)["Table"]
            return [Kept(w.region, w.kind, w.name, f"about {table.get('ItemCount', 0)} items")]
        if w.kind == SECRET:
            secret = aws.client("secretsmanager", w.region).describe_secret(SecretId=w.name)
            pending = secret.get("DeletedDate")
            return [Kept(w.region, w.kind, w.name, f"scheduled for deletion on {pending:%Y-%m-%d}" if pending else "")]
        return _keys(aws, w)
    except ClientError as exc:
        if error_code(exc) in GONE:
            return []
        raise


def _keys(aws: Aws, w: Wanted) -> list[Kept]:
    kms, found = aws.client("kms", w.region), []
    for page in kms.get_paginator("list_keys").paginate():
        for key in page["Keys"]:
            try:
                meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            except ClientError as exc:
                # The deployer policy reads only keys with the environment's tags (deploy/deployer.py), and a key
                # whose policy does not trust the account is readable by nobody else: neither is the project's.
                if error_code(exc) != "AccessDeniedException":
                    raise
                continue
            if (meta.get("Description") == w.name and meta.get("KeyManager") == "CUSTOMER"
                    and meta.get("KeyState") in ("Enabled", "Disabled")):
                found.append(Kept(w.region, KEY, meta["KeyId"], w.name))
    return found


def find(rendering: Rendering, aws: Aws, only: Iterable[str] | None = None, keys: bool = True) -> list[Kept]:
    """Every retained resource of the environment's templates that exists in this account (in the regions
    ``only`` names, else all), in deletion order."""
    regions_wanted = set(only) if only is not None else None
    primary = next((t.region for t in rendering.templates if t.role == "primary"), "")
    found: dict[tuple[str, str, str], Kept] = {}
    order: dict[tuple[str, str, str], tuple[int, bool]] = {}
    for t in rendering.templates:
        for w in wanted(json.loads(t.body), t.region, aws.account, aws.partition):
            if (regions_wanted is not None and w.region not in regions_wanted) or (w.kind == KEY and not keys):
                continue
            for k in _exists(aws, w):
                found[k.region, k.kind, k.name] = k
                # a secret's and a table's replicas are removed through the primary's copy: it goes first
                order[k.region, k.kind, k.name] = (ORDER[k.kind] + w.access_log, k.region != primary)
    return sorted(found.values(), key=lambda k: (*order[k.region, k.kind, k.name], k.region, k.name))


def blocking(rendering: Rendering, aws: Aws, plans: Sequence[StackSetPlan]) -> list[Kept]:
    """What holds a name that this deploy's new (or failed, retried) stack instances in this account create:
    the retained resources that exist and that no stack of this environment owns (a retried instance's stack
    may still hold its own)."""
    creating = [p for p in plans if not p.targets.service_managed
                and (p.deployed is None or aws.account in (*p.new_accounts, *p.retry_accounts))]
    if not creating:
        return []
    owned = {physical for p in creating for physical in _owned(aws, p)}
    found = find(rendering, aws, [p.region for p in creating], keys=False)
    return [k for k in found if k.holds_name and not any(_names(physical, k) for physical in owned)]


def _owned(aws: Aws, p: StackSetPlan) -> set[str]:
    """The physical IDs of this account's instance stack in the plan's region, if it has one."""
    instance = next((i for i in p.deployed.instances if i.account == aws.account), None) if p.deployed else None
    if instance is None or not instance.stack_id:
        return set()
    try:
        pages = aws.client("cloudformation", p.region).get_paginator("list_stack_resources").paginate(
            StackName=instance.stack_id)
        return {r.get("PhysicalResourceId", "") for page in pages for r in page["StackResourceSummaries"]}
    except ClientError as exc:
        if "does not exist" in str(exc):
            return set()
        raise


def _names(physical: str, k: Kept) -> bool:
    """Whether a stack's physical ID is this resource (a secret's is its ARN, which ends in its name and six
    random characters)."""
    return physical == k.name or (k.kind == SECRET and f":secret:{k.name}-" in physical)


def refusal(cfg: PipelineConfig, found: Sequence[Kept], purge_command: str) -> ConfigError:
    """One line: what is in the way, and the command that frees the names (or why none can)."""
    names = "; ".join(k.describe() for k in found)
    foreign = [k for k in found if k.foreign]
    if foreign:
        return ConfigError(f"the deploy needs names that are taken: {names}; purge cannot free "
                           f"{foreign[0].name} (another account's, or unreadable): pick another project or "
                           f"environment name")
    return ConfigError(f"the deploy of {naming.prefix(cfg)} needs names that resources kept by an earlier destroy "
                       f"still hold: {names}; delete them and their data with `{purge_command}` (it asks you to type "
                       f"'purge {cfg.environment}'), or see the README, 'Coming back after destroy', to keep the data")


def still_deployed(cfg: PipelineConfig, aws: Aws) -> list[str]:
    """The environment's StackSets that exist (purge refuses while any does)."""
    return [naming.stack_set(cfg, r) for r in regions.deploy_order(cfg)
            if read_deployed(aws, naming.stack_set(cfg, r), r) is not None]


def artifacts_buckets(cfg: PipelineConfig, aws: Aws) -> list[Kept]:
    """The deploy's own buckets (code and templates), which destroy keeps and a later deploy reuses."""
    found = []
    for region in cfg.regions:
        w = Wanted(region, BUCKET, bucket_name(cfg, region, aws.account, aws.partition))
        found += [Kept(k.region, k.kind, k.name, "artifacts", k.foreign) for k in _exists(aws, w)]
    return found


# --- purge -----------------------------------------------------------------------------------------------------


def purge(aws: Aws, found: Sequence[Kept], on_line: Callable[[str], None], poll_seconds: float = 5.0,
          timeout_seconds: float = 1800.0) -> None:
    """Delete every resource in ``found`` with its data, in order: secrets, tables, buckets, then keys."""
    tables_done: set[str] = set()
    for k in found:
        if k.foreign:
            raise ConfigError(f"{k.describe()}: not readable with these credentials, so purge cannot delete it")
        if k.kind == SECRET:
            on_line(_delete_secret(aws, k))
        elif k.kind == TABLE and k.name not in tables_done:
            on_line(_delete_table(aws, k, [x.region for x in found if x.kind == TABLE and x.name == k.name],
                                  poll_seconds, timeout_seconds))
            tables_done.add(k.name)
        elif k.kind == BUCKET:
            on_line(_delete_bucket(aws, k, poll_seconds))
        elif k.kind == KEY:
            aws.client("kms", k.region).schedule_key_deletion(KeyId=k.name, PendingWindowInDays=KEY_PENDING_DAYS)
            on_line(f"scheduled {k.describe()} for deletion in {KEY_PENDING_DAYS} days (until then: aws kms "
                    f"cancel-key-deletion --key-id {k.name} --region {k.region})")


def _delete_secret(aws: Aws, k: Kept) -> str:
    """A secret with replicas cannot be deleted (Secrets Manager's DeleteSecret), so its replicas go first;
    without a recovery window, so that the name is free at once."""
    client = aws.client("secretsmanager", k.region)
    try:
        secret = client.describe_secret(SecretId=k.name)
        replicas = [r["Region"] for r in secret.get("ReplicationStatus", [])] if "DeletedDate" not in secret else []
        if replicas:
            client.remove_regions_from_replication(SecretId=k.name, RemoveReplicaRegions=replicas)
        client.delete_secret(SecretId=k.name, ForceDeleteWithoutRecovery=True)
    except ClientError as exc:
        if error_code(exc) not in GONE:
            raise
        return f"deleted {k.describe()}: already gone with its primary"
    return f"deleted {k.describe()}" + (f" and its replicas in {', '.join(replicas)}" if replicas else "")


def _wait(done: Callable[[], bool], what: str, poll_seconds: float, timeout_seconds: float) -> None:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout_seconds:
            raise ConfigError(f"{what} did not finish in {timeout_seconds:.0f} s; run purge again to continue")
        time.sleep(poll_seconds)


def _table(aws: Aws, region: str, name: str) -> dict[str, Any] | None:
    try:
        return aws.client("dynamodb", region).describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if error_code(exc) in GONE:
            return None
        raise


def _delete_table(aws: Aws, k: Kept, where: list[str], poll_seconds: float, timeout_seconds: float) -> str:
    """Deletion protection is set per replica, so it is turned off in each region; a global table's other
    replicas are removed through the first one (``ReplicaUpdates`` Delete runs DeleteTableReplica there,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ReplicationGroupUpdate.html), then
    the table itself; any region's table still left (not linked as a replica) is deleted on its own."""
    for region in where:
        table = _table(aws, region, k.name)
        if table and table.get("DeletionProtectionEnabled"):
            aws.client("dynamodb", region).update_table(TableName=k.name, DeletionProtectionEnabled=False)
            _wait(lambda r=region: (_table(aws, r, k.name) or {}).get("TableStatus", "ACTIVE") == "ACTIVE",
                  f"turning off deletion protection of {k.name} in {region}", poll_seconds, timeout_seconds)
    first = where[0]
    replicas = [r["RegionName"] for r in (_table(aws, first, k.name) or {}).get("Replicas", [])
                if r["RegionName"] != first]
    if replicas:
        aws.client("dynamodb", first).update_table(
            TableName=k.name, ReplicaUpdates=[{"Delete": {"RegionName": r}} for r in replicas])
        _wait(lambda: not [r for r in (_table(aws, first, k.name) or {}).get("Replicas", [])
                           if r["RegionName"] != first],
              f"deleting the replicas of {k.name}", poll_seconds, timeout_seconds)
    for region in where:
        if _table(aws, region, k.name) is not None:
            aws.client("dynamodb", region).delete_table(TableName=k.name)
    return f"deleted DynamoDB table {k.name} in {', '.join(dict.fromkeys([*where, *replicas]))} with its items"


def _empty(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker (a versioned bucket must hold none to be deleted)."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(batch), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch[start:start + 1000], "Quiet": True})
        deleted += len(batch)
    return deleted


def _delete_bucket(aws: Aws, k: Kept, poll_seconds: float, attempts: int = 3) -> str:
    """Empty, then delete; an access-log bucket may receive late log objects in between, so the pair is
    retried a few times."""
    s3 = aws.client("s3", k.region)
    deleted = 0
    for attempt in range(attempts):
        deleted += _empty(s3, k.name)
        try:
            s3.delete_bucket(Bucket=k.name)
            break
        except ClientError as exc:
            if error_code(exc) in GONE:
                break
            if error_code(exc) != "BucketNotEmpty" or attempt == attempts - 1:
                raise
            time.sleep(poll_seconds)
    return f"deleted {k.describe()} and its {deleted} object version(s)"
