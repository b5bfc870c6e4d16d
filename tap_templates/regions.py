"""Which regions exist, what role each plays in an environment, and the order they are deployed in.

Region logic lives only here so that the renderer, the deploy script and the failover tools agree on
which region is primary and why the secondaries go first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tap_templates.config import PipelineConfig

Role = Literal["primary", "secondary"]

# Commercial-partition regions that offer every service the pipeline uses (Lambda arm64, DynamoDB global
# tables, S3 replication, CloudWatch). Opt-in regions work once the account has enabled them.
KNOWN_REGIONS: tuple[str, ...] = (
    "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ca-central-1",
    "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1", "us-east-1", "us-east-2",
    "us-west-1", "us-west-2",
)

# The only values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)


def role(cfg: PipelineConfig, region: str) -> Role:
    if region == cfg.primary_region:
        return "primary"
    if region in cfg.secondary_regions:
        return "secondary"
    raise ValueError(f"region {region} is not part of environment {cfg.environment}")


def deploy_order(cfg: PipelineConfig) -> tuple[str, ...]:
    """Secondaries first: the primary's replication rules and global-table replicas point at the
    secondaries' buckets and KMS aliases, which must exist before the primary stack creates them."""
    return (*cfg.secondary_regions, cfg.primary_region)


def other_regions(cfg: PipelineConfig, region: str) -> tuple[str, ...]:
    return tuple(r for r in cfg.regions if r != region)
