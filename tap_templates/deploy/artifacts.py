"""The artifacts bucket of each region, and the content-addressed objects the StackSets deploy from.

Lambda reads its code only from a bucket in its own region, and a StackSet template over 51,200 bytes can only
be passed by URL, so every target region gets a bucket in the deploying account holding the handler zip and
the region's template. Keys are the objects' sha256 (``naming.code_object_key``): an upload never replaces an
object a running stack points at, and a re-run that changed nothing uploads nothing.

The bucket uses SSE-S3 rather than the pipeline's KMS key: stack instances in other accounts read the zip
through the bucket policy alone, with no key policy to keep in step, and the objects are code, not data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awacs import aws, s3
from botocore.exceptions import ClientError

from tap_templates import naming
from tap_templates.components import policies
from tap_templates.config import PipelineConfig
from tap_templates.deploy import packaging
from tap_templates.deploy.aws import Aws
from tap_templates.deploy.targets import Targets
from tap_templates.errors import ConfigError
from tap_templates.render import RenderedTemplate

S3_DOMAIN = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
NOT_FOUND = ("404", "NoSuchBucket", "NotFound", "NoSuchKey")


@dataclass(frozen=True)
class Readers:
    """Who besides the deploying account reads the code: target accounts, or a whole organization's OUs."""

    accounts: tuple[str, ...] = ()
    organization_id: str = ""
    organizational_units: tuple[str, ...] = ()


def bucket_name(cfg: Any, region: str, account: str, partition: str = "aws") -> str:
    return naming.resolve(naming.artifacts_bucket(cfg, region), account, partition)


def object_url(bucket: str, region: str, key: str, partition: str = "aws") -> str:
    """The virtual-hosted URL CloudFormation reads a template from (``TemplateURL``)."""
    return f"https://{bucket}.s3.{region}.{S3_DOMAIN.get(partition, 'amazonaws.com')}/{key}"


def bucket_policy(bucket: str, partition: str, readers: Readers) -> str:
    """TLS only; other accounts may read the code objects and nothing else."""
    arn = f"arn:{partition}:s3:::{bucket}"
    statements = [policies.deny_insecure_transport("s3", [arn, f"{arn}/*"])]
    code = [f"{arn}/{naming.code_object_key('*')}"]
    if readers.accounts:
        principals = [f"arn:{partition}:iam::{account}:root" for account in readers.accounts]
        statements.append(aws.Statement(Sid="TargetAccountsReadCode", Effect=aws.Allow,
                                        Principal=aws.Principal("AWS", principals), Action=[s3.GetObject],
                                        Resource=code))
    if readers.organization_id and readers.organizational_units:
        paths = [f"{readers.organization_id}/*/{ou}/*" for ou in readers.organizational_units]
        statements.append(aws.Statement(Sid="OrganizationalUnitsReadCode", Effect=aws.Allow,
                                        Principal=aws.Principal("*"), Action=[s3.GetObject], Resource=code,
                                        Condition=aws.Condition(aws.ForAnyValueStringLike("aws:PrincipalOrgPaths",
                                                                                          paths))))
    return policies.document(statements).to_json(indent=None, sort_keys=True)


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in NOT_FOUND


def ensure_bucket(s3_client: Any, bucket: str, region: str, partition: str, readers: Readers) -> bool:
    """Create the bucket if missing, and (re)apply its protections every time so drift is corrected.
    Returns whether the bucket was created."""
    try:
        s3_client.head_bucket(Bucket=bucket)
        created = False
    except ClientError as exc:
        if not _missing(exc):
            raise
        location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3_client.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerEnforced", **location)
        created = True
    s3_client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3_client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3_client.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, partition, readers))
    return created


def sha256_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def upload(s3_client: Any, bucket: str, key: str, body: bytes, content_type: str) -> bool:
    """Put ``body`` at ``key`` unless an object with the same sha256 is there; returns whether it uploaded.
    S3 verifies the checksum on receipt, so a corrupted upload fails instead of deploying."""
    digest = hashlib.sha256(body)
    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
        if head.get("Metadata", {}).get("sha256") == digest.hexdigest():
            return False
    except ClientError as exc:
        if not _missing(exc):
            raise
    s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type,
                         Metadata={"sha256": digest.hexdigest()},
                         ChecksumSHA256=base64.b64encode(digest.digest()).decode())
    return True


def read_policy(s3_client: Any, bucket: str) -> dict[str, Any]:
    return json.loads(s3_client.get_bucket_policy(Bucket=bucket)["Policy"])


def load_code_zip(path: Path | None, work_dir: Path) -> tuple[Path, str]:
    """The handler zip to deploy: ``path`` as given, or built now by ``tap_templates.deploy.packaging``."""
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"--code-zip {path} does not exist")
        if not zipfile.is_zipfile(path):
            raise ConfigError(f"--code-zip {path} is not a zip file")
        return path, sha256_of(path.read_bytes())
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
    bucket = bucket_name(cfg, template.region, aws.account, aws.partition)
    template_key = naming.template_object_key(template.sha256)
    return RegionArtifacts(region=template.region, bucket=bucket, code_key=naming.code_object_key(code_sha256),
                           template_key=template_key,
                           template_url=object_url(bucket, template.region, template_key, aws.partition))


def readers(aws: Aws, chosen: Targets) -> Readers:
    """Who may read the code besides this account. Organizations' API lives in us-east-1."""
    if chosen.service_managed:
        org = aws.client("organizations", "us-east-1").describe_organization()["Organization"]["Id"]
        return Readers(organization_id=org, organizational_units=chosen.organizational_units)
    return Readers(accounts=tuple(a for a in chosen.accounts if a != aws.account))


def upload_artifacts(aws: Aws, where: RegionArtifacts, template: RenderedTemplate, code: bytes,
                     who: Readers) -> list[str]:
    """Ensure the region's bucket and put the zip and template there; return what happened, for the log."""
    s3 = aws.client("s3", where.region)
    created = ensure_bucket(s3, where.bucket, where.region, aws.partition, who)
    code_new = upload(s3, where.bucket, where.code_key, code, "application/zip")
    template_new = upload(s3, where.bucket, where.template_key, template.body, "application/json")
    return [f"bucket {where.bucket} {'created' if created else 'ready'}",
            f"{where.code_key} {'uploaded' if code_new else 'already there'}",
            f"{where.template_key} {'uploaded' if template_new else 'already there'}"]


def upload_templates(aws: Aws, where: RegionArtifacts, templates: Sequence[RenderedTemplate]) -> list[str]:
    """Put more templates of the region (the steps of an index rollout) next to its own, by their sha256."""
    s3 = aws.client("s3", where.region)
    done = []
    for template in templates:
        key = naming.template_object_key(template.sha256)
        uploaded = upload(s3, where.bucket, key, template.body, "application/json")
        done.append(f"{key} ({template.file}) {'uploaded' if uploaded else 'already there'}")
    return done
