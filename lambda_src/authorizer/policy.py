"""The authorizer's answer: an IAM policy over the stage's execute-api ARNs.

API Gateway caches the answer per token for the authorizer's TTL and applies it to every route
the token calls, so an Allow lists every route the caller's roles permit, never only the one
asked; a caller with none gets an explicit Deny of the whole stage (403 ACCESS_DENIED).
Output shape and ARN format:
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
Resource wildcards (``*`` matches across ``/``):
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .routes import RouteRule

INVOKE = "execute-api:Invoke"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True)
class MethodArn:
    """``arn:aws:execute-api:eu-west-1:123456789012:abcdef123/api/GET/items/42``, parsed."""

    partition: str
    region: str
    account: str
    api_id: str
    stage: str
    method: str
    path: str
    """Without its leading slash: ``items/42`` (empty for the root)."""

    @classmethod
    def parse(cls, arn: object) -> MethodArn:
        """The parts of a method ARN, or ValueError when it is not one."""
        parts = arn.split(":", 5) if isinstance(arn, str) else []
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
            raise ValueError("not an execute-api method ARN")
        _, partition, _, region, account, resource = parts
        api_id, _, rest = resource.partition("/")
        stage, _, rest = rest.partition("/")
        method, _, path = rest.partition("/")
        if not all((partition, region, account, api_id, stage, method)):
            raise ValueError("not an execute-api method ARN")
        return cls(partition, region, account, api_id, stage, method, path)

    def resource(self, method: str, path: str) -> str:
        """The ARN of ``method`` (or ``*``) on ``path`` of this ARN's API and stage."""
        return (
            f"arn:{self.partition}:execute-api:{self.region}:{self.account}:"
            f"{self.api_id}/{self.stage}/{method}/{path}"
        )

    @property
    def whole_stage(self) -> str:
        return self.resource("*", "*")


def allowed_resources(
    rules: Iterable[RouteRule], roles: Iterable[str], arn: MethodArn
) -> list[str]:
    """The ARNs of every route ``roles`` permit: each rule's path and everything below it."""
    held = frozenset(roles)
    resources: set[str] = set()
    for rule in rules:
        if rule.allows(held):
            method = rule.method.value
            resources |= {
                arn.resource(method, rule.prefix),
                arn.resource(method, f"{rule.prefix}/*"),
            }
    return sorted(resources)


def policy(
    principal: str, effect: Effect, resources: list[str], context: Mapping[str, str]
) -> dict[str, Any]:
    """The authorizer output; ``context`` values are strings (API Gateway allows no objects)."""
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": INVOKE, "Effect": effect.value, "Resource": resources}],
        },
        "context": dict(context),
    }
