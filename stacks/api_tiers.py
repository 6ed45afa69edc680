"""The one place that maps ``ApiKind`` (config's ``api.kind``) to the stack that builds it.

Adding a kind: write its stack (a ``PlatformStack`` of ``Tier.API`` satisfying ``ApiTier``, with
this constructor), add its row below and its tests. The stage and the later tiers never name a
kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from aws_cdk import aws_kms as kms

from cdk_constructs.data_engine.interface import DataEngine
from cdk_constructs.network import Network
from cdk_constructs.options import ApiKind
from stacks.api_stack import ApiStack
from stacks.api_tier import ApiTier
from stacks.services_api_stack import ServicesApiStack

if TYPE_CHECKING:
    from stacks.platform_stage import PlatformStage


class ApiTierStack(Protocol):
    """A stack class that builds an API tier from the tiers before it."""

    def __call__(
        self, stage: PlatformStage, *, network: Network, database: DataEngine, key: kms.IKey
    ) -> ApiTier: ...


API_TIERS: Mapping[ApiKind, ApiTierStack] = MappingProxyType(
    {
        ApiKind.PRIVATE_LAMBDA: ApiStack,
        ApiKind.PUBLIC_SERVICES: ServicesApiStack,
    }
)
"""Every ``ApiKind`` and the stack that builds it."""


def build_api_tier(
    stage: PlatformStage, *, network: Network, database: DataEngine, key: kms.IKey
) -> ApiTier:
    """The API stack ``api.kind`` names; ``key`` is the environment's key."""
    build = API_TIERS[stage.env_config.api.kind]
    return build(stage, network=network, database=database, key=key)
