"""What the authorizer reads from AWS: the allowed app client ids (SSM, cached) and a caller's
roles (DynamoDB). Every call is bounded (2 s connect, 2 s read, one retry) so a slow service
costs a 401 within seconds, never the function's timeout. boto3 reads ``AWS_ENDPOINT_URL``
itself (a moto server locally).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .reasons import Reason, RejectedError

CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"}
)
CLIENT_IDS_TTL_SECONDS = 300.0

_client_ids: dict[str, tuple[float, frozenset[str]]] = {}
"""SSM parameter name -> (when it was read, monotonic; its client ids)."""


@functools.cache
def _client(service: str) -> Any:
    """One client per service for the execution environment (Lambda reuses it warm)."""
    return boto3.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


def reset() -> None:
    """Forget clients and cached client ids (a new environment: tests, a moto server)."""
    _client.cache_clear()
    _client_ids.clear()


def parse_client_ids(text: str) -> frozenset[str]:
    """``"a, b,"`` -> ``{"a", "b"}``."""
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def client_ids_from_parameter(
    name: str, *, clock: Callable[[], float] = time.monotonic
) -> frozenset[str]:
    """The comma-separated ids in the SSM String parameter ``name``, read at most once per
    ``CLIENT_IDS_TTL_SECONDS``; a read that fails is not cached (the next request retries)."""
    cached = _client_ids.get(name)
    if cached is not None and clock() - cached[0] < CLIENT_IDS_TTL_SECONDS:
        return cached[1]
    try:
        value = _client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except (ClientError, BotoCoreError):
        raise RejectedError(Reason.CLIENT_IDS_UNAVAILABLE) from None
    ids = parse_client_ids(value)
    _client_ids[name] = (clock(), ids)
    return ids


@dataclass(frozen=True)
class RoleRecord:
    """A caller's row of the role table (none: no roles)."""

    roles: frozenset[str]
    username: str


def role_record(table: str, sub: str) -> RoleRecord:
    """The roles (string set) and username of ``sub`` in ``table`` (partition key
    ``subject``); RejectedError when the table cannot be read."""
    try:
        item = (
            _client("dynamodb")
            .get_item(
                TableName=table,
                Key={"subject": {"S": sub}},
                ProjectionExpression="#roles, #username",
                ExpressionAttributeNames={"#roles": "roles", "#username": "username"},
            )
            .get("Item", {})
        )
    except (ClientError, BotoCoreError):
        raise RejectedError(Reason.ROLE_TABLE_UNAVAILABLE, sub=sub) from None
    roles = item.get("roles", {}).get("SS", [])
    username = item.get("username", {}).get("S", "")
    return RoleRecord(frozenset(r for r in roles if isinstance(r, str)), str(username))
