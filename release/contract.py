"""What the web and API stacks tell the release tooling about how they release, as the
``Release`` output of each stack: one JSON object of literal values (names, minutes, percents),
written at synth by the stacks and read after a deploy (or a failed one) by ``release``.

The stacks import this module to write the output, ``release`` to read it: one definition of
the contract. Values that are CloudFormation tokens (the service ARN, the function's name and
version) are separate outputs (``SERVICE_ID_OUTPUT``, ``FUNCTION_NAME_OUTPUT``,
``FUNCTION_VERSION_OUTPUT``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

RELEASE_OUTPUT = "Release"
"""The output (of the web stack and of the API stack) holding the JSON below."""
SERVICE_ID_OUTPUT = "ServiceId"
"""The web stack's output: the service's ARN (ECS service or App Runner service)."""
FUNCTION_NAME_OUTPUT = "ApiFunctionName"
"""The API stack's output: the API function's name."""
FUNCTION_VERSION_OUTPUT = "ApiFunctionVersion"
"""The API stack's output: the version the alias is deployed to by this template."""


@dataclass(frozen=True, kw_only=True)
class WebRelease:
    """How the web tier's runtime releases (``web.release`` as the runtime applies it)."""

    runtime: str
    """``WebRuntime`` value (fargate, app_runner, ...)."""
    strategy: str
    """``WebReleaseStrategy`` value."""
    step_percent: float
    """canary: first share; linear: each step; 0 for rolling and blue_green."""
    step_bake_minutes: int
    """canary and linear: bake after each step; 0 otherwise."""
    bake_minutes: int
    """After all traffic moved, with the old release standing by; 0 for rolling."""
    alarms: tuple[str, ...]
    """Names of the CloudWatch alarms that roll a release back (empty when the runtime has
    none)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WebRelease:
        data = json.loads(text)
        return cls(**{**data, "alarms": tuple(data["alarms"])})


@dataclass(frozen=True, kw_only=True)
class ApiRelease:
    """How the API function releases: its alias moved by a CodeDeploy deployment group."""

    strategy: str
    """``ApiReleaseStrategy`` value."""
    percent: int
    """canary: first share; linear: each step; 0 for all_at_once."""
    interval_minutes: int
    """canary: bake of the first share; linear: between steps; 0 for all_at_once."""
    alarms: tuple[str, ...]
    """Names of the CloudWatch alarms that roll a release back."""
    application: str
    """The CodeDeploy application's name."""
    deployment_group: str
    """The CodeDeploy deployment group's name."""
    alias: str
    """The function's alias that API Gateway invokes."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ApiRelease:
        data = json.loads(text)
        return cls(**{**data, "alarms": tuple(data["alarms"])})


def watches_ecs(runtime: str) -> bool:
    """Whether a web runtime (``WebRelease.runtime``, ``web.runtime``) releases through ECS
    service deployments, which verify watches and the deploy role may read; App Runner's own
    workflow step rolls it out instead, the EC2 runtime's stack update (an instance refresh) and
    a static site has no service at all."""
    return runtime not in (APP_RUNNER, EC2, STATIC_SITE)


APP_RUNNER = "app_runner"
EC2 = "ec2"
STATIC_SITE = "static_site"
"""``WebRuntime`` values (this module imports no CDK-side code)."""
