"""One set of AWS credentials and its clients, checked before the first call that changes anything.

The deploy and the operations tools share it, so a missing profile or rejected credentials read the same
everywhere: one line, exit 2. Nothing here knows about the emulator: with an endpoint URL the same calls go
to moto.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from tap_templates.errors import ConfigError


def error_code(exc: ClientError) -> str:
    """The AWS error code of a refused call (``NoSuchEntity``, ``StackSetNotFoundException``, ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


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

