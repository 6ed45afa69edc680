"""The base of every stack of the platform."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Stack
from constructs import Construct


class PlatformStack(Stack):
    """A stack whose availability zones come from config, so synth never looks them up.

    ``Stack.availability_zones`` of an environment-specific stack is a context lookup that needs
    AWS credentials; the explicit list keeps synth offline and deterministic.
    """

    def __init__(
        self, scope: Construct, id_: str, *, availability_zones: Sequence[str], **kwargs: Any
    ) -> None:
        self._configured_zones = list(availability_zones)
        super().__init__(scope, id_, **kwargs)

    @property
    def availability_zones(self) -> list[str]:
        return list(self._configured_zones)
