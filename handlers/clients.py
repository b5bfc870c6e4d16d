"""boto3 clients, created once per container at first use and shared by every invocation and thread.

Client creation costs tens of milliseconds, so it happens lazily (a cold start that fails before touching
a service does not pay for it) and once (warm invocations reuse the clients and their connection pools).
The SDK retries transient errors itself (``standard`` mode: throttling, 5xx, timeouts, connection errors,
with jittered exponential backoff); timeouts are short because every call here is small, and a hung call
must not eat the function's deadline. Parameter validation is off for DynamoDB: the processor builds its
requests itself and the validation walk costs more CPU than the rest of the write path.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.client import BaseClient

_lock = threading.Lock()


USER_AGENT = "tap-processor/1"


def _config(service: str, max_pool_connections: int = 10) -> Any:
    from botocore.config import Config

    hot = service == "dynamodb"
    return Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=3,
        read_timeout=10 if service != "s3" else 30,
        max_pool_connections=max_pool_connections,
        parameter_validation=not hot,
        # A fixed user agent: botocore otherwise rebuilds its detailed one twice per request, which is a
        # quarter of a BatchWriteItem's CPU. (botocore still appends its own version.)
        user_agent=USER_AGENT if hot else None,
        tcp_keepalive=True,
    )


@functools.cache
def _client(service: str, region: str) -> BaseClient:
    import boto3

    with _lock:  # boto3's default session is not thread-safe while it creates clients
        return boto3.session.Session().client(service, region_name=region, config=_config(service, 32))


def s3(region: str) -> BaseClient:
    return _client("s3", region)


def dynamodb(region: str) -> BaseClient:
    return _client("dynamodb", region)


def sqs(region: str) -> BaseClient:
    return _client("sqs", region)


def secretsmanager(region: str) -> BaseClient:
    """Only for the pseudonymization key (``pseudonymize``), so only created when that is configured."""
    return _client("secretsmanager", region)


def reset() -> None:
    """Forget every client, so the next call creates new ones (tests start each case from scratch)."""
    _client.cache_clear()
