"""The pseudonymization key: a random secret the processor uses as the HMAC key for personal-data fields.

Created once, in the primary, and replicated by Secrets Manager to every secondary under the same name and
encrypted there with that region's key, so a promoted secondary produces the same HMACs and records from
either region still join. It is never rotated automatically: a new key would break those joins.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Output, Ref, Sub, secretsmanager

from tap_templates import naming, retention
from tap_templates.components.kms import DataKey
from tap_templates.config import PipelineConfig

KEY_LENGTH = 64


@dataclass(frozen=True)
class PseudonymizationSecret:
    secret: secretsmanager.Secret

    def resources(self) -> list:
        return [self.secret]

    def outputs(self) -> list[Output]:
        return [Output("PseudonymizationSecretArn", Value=Ref(self.secret))]


def build(cfg: PipelineConfig, key: DataKey) -> PseudonymizationSecret:
    secret = secretsmanager.Secret(
        "PseudonymizationSecret",
        Name=naming.pseudonymization_secret(cfg),
        Description="HMAC key for personal-data fields; rotating it breaks joins of pseudonymized records",
        KmsKeyId=key.arn,
        GenerateSecretString=secretsmanager.GenerateSecretString(
            PasswordLength=KEY_LENGTH, ExcludePunctuation=True, IncludeSpace=False),
        ReplicaRegions=[
            secretsmanager.ReplicaRegion(Region=region, KmsKeyId=Sub(naming.key_alias_arn(cfg, region)))
            for region in cfg.secondary_regions
        ],
        **retention.KEEP_DATA,
    )
    return PseudonymizationSecret(secret=secret)
